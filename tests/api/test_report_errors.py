"""Errors of the report routes: a French HTML page for a browser, the JSON envelope otherwise."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from api.reports.session import get_page_principal
from tests.fixtures.factories.reports import add_reported_audit
from tests.fixtures.reports_html import html_problems
from tests.fixtures.world import World

BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def _is_page(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("text/html"), response.text
    assert html_problems(response.text) == []
    assert '<html lang="fr">' in response.text
    assert response.headers["cache-control"] == "no-store"
    return response.text


async def test_a_browser_gets_french_pages_for_report_errors(client: httpx.AsyncClient, world: World) -> None:
    other, _ = await add_reported_audit(world, "other")
    await world.commit()
    anonymous = await client.get(f"/reports/audits/{other}", headers=BROWSER)
    assert anonymous.status_code == 401
    assert "Connexion requise" in _is_page(anonymous)
    assert anonymous.headers["www-authenticate"].startswith("Bearer")

    out_of_scope = await client.get(f"/reports/audits/{other}", headers=BROWSER | world.headers("viewer"))
    assert out_of_scope.status_code == 404
    assert "Page introuvable" in _is_page(out_of_scope)

    bad_day = await client.get("/reports/days/2025-13-40", headers=BROWSER | world.headers("viewer"))
    assert bad_day.status_code == 400
    assert "Le paramètre « path.day » est invalide." in _is_page(bad_day)

    no_route = await client.get("/reports/nowhere", headers=BROWSER)
    assert no_route.status_code == 404
    assert "Page introuvable" in _is_page(no_route)


async def test_json_clients_and_api_routes_keep_the_envelope(client: httpx.AsyncClient, world: World) -> None:
    other, _ = await add_reported_audit(world, "other")
    await world.commit()
    as_json = await client.get(f"/reports/audits/{other}", headers=world.headers("viewer"))
    assert as_json.status_code == 404
    assert as_json.json() == {"success": False, "error": "Audit not found", "code": "NOT_FOUND"}
    api = await client.get(f"/api/audits/{other}", headers=BROWSER | world.headers("viewer"))
    assert api.status_code == 404
    assert api.json()["code"] == "NOT_FOUND"


async def test_an_unexpected_error_page_shows_no_trace_nor_secret(app: FastAPI, world: World) -> None:
    secret = "postgresql://callaudit:hunter2@db/callaudit"

    def broken() -> None:
        raise RuntimeError(f"cannot reach {secret}")

    app.dependency_overrides[get_page_principal] = broken
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as raw:
        page = await raw.get("/reports/days/2025-03-03", headers=BROWSER)
        api = await raw.get("/reports/days/2025-03-03")
    assert page.status_code == 500
    text = _is_page(page)
    assert "Service indisponible" in text
    for leak in (secret, "hunter2", "RuntimeError", "Traceback"):
        assert leak not in text
    assert api.json() == {"success": False, "error": "Internal server error", "code": "INTERNAL_ERROR"}
