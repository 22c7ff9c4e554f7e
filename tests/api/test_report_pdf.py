"""`?format=pdf` of a report: the paper version as a PDF, laid out in-process without the network."""

from __future__ import annotations

import io
import socket
from typing import Any

import httpx
import pytest
from pypdf import PdfReader

from api.reports.pdf import render_pdf
from tests.fixtures.factories.reports import add_reported_audit
from tests.fixtures.world import World

POINTS = ("Nom du conseiller", "Nom de la société", "Besoins")


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


async def test_the_report_as_pdf_holds_every_step_and_control_point_with_times(
    client: httpx.AsyncClient, world: World
) -> None:
    audit_id, _ = await add_reported_audit(world, "own")
    await world.commit()
    response = await client.get(
        f"/reports/audits/{audit_id}", params={"format": "pdf"}, headers=world.headers("viewer")
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'inline; filename="rapport-audit-{audit_id}.pdf"'
    assert response.headers["cache-control"] == "private, no-store"
    assert response.content.startswith(b"%PDF")
    text = _text(response.content)
    for expected in ("Étape 1 : Présentation (critique)", "Étape 2 : Devoir de conseil", *POINTS, "Jeanne Martin"):
        assert expected in text, expected
    assert "0:00-0:01" in text  # the cited times in place of players
    assert "Écouter" not in text
    assert "le CRM ne le fournit plus" not in text


async def test_pdf_follows_the_report_scope_and_share_links(client: httpx.AsyncClient, world: World) -> None:
    own, _ = await add_reported_audit(world, "own")
    other, _ = await add_reported_audit(world, "other")
    await world.commit()
    hidden = await client.get(f"/reports/audits/{other}", params={"format": "pdf"}, headers=world.headers("viewer"))
    assert hidden.status_code == 404
    created = await client.post(f"/api/reports/audits/{own}/share-links", json={}, headers=world.headers("operator"))
    path = created.json()["data"]["url"].removeprefix(world.settings.api_base_url.rstrip("/"))
    shared = await client.get(path, params={"format": "pdf"})
    assert shared.status_code == 200
    assert "Lien de partage en lecture seule." in _text(shared.content)


async def test_an_unknown_format_is_a_400_naming_the_field(client: httpx.AsyncClient, world: World) -> None:
    audit_id, _ = await add_reported_audit(world, "own")
    await world.commit()
    response = await client.get(
        f"/reports/audits/{audit_id}", params={"format": "docx"}, headers=world.headers("viewer")
    )
    assert response.status_code == 400
    assert response.json()["field"] == "query.format"


def test_the_renderer_reaches_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(str(args[:2]))
        raise OSError("no network in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    html = (
        '<html><head><link rel="stylesheet" href="https://example.com/style.css"></head>'
        '<body><h1>Rapport</h1><img src="https://example.com/pixel.png"><p><img src="/etc/hostname"></p></body></html>'
    )
    pdf = render_pdf(html)
    assert pdf.startswith(b"%PDF")
    assert attempts == []
