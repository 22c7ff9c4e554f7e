"""The audit report page, its recordings relayed with ranges, share links and the day overview."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.models import Fiche, Recording, ReportShareLink
from tests.api.conftest import client_for, in_process_simulator
from tests.fixtures.factories.aio import add_audit, add_scorecard
from tests.fixtures.factories.reports import add_reported_audit
from tests.fixtures.queries import counting
from tests.fixtures.reports_html import html_problems
from tests.fixtures.uvicorn_server import serving
from tests.fixtures.world import World

CRM_HOST = "demo-crm.test"


async def test_report_page_shows_every_step_point_and_citation(client: httpx.AsyncClient, world: World) -> None:
    audit_id, call_id = await add_reported_audit(world, "own")
    await world.commit()
    response = await client.get(f"/reports/audits/{audit_id}", headers=world.headers("viewer"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "private, no-store"
    html = response.text
    assert html_problems(html) == []
    for text in (
        "Étape 1 : Présentation (critique)",
        "Étape 2 : Devoir de conseil",
        "Nom du conseiller",
        "Nom de la société",
        "Besoins",
        "« je suis Paul de Mutuelle Plus »",
        "Jeanne Martin",
        "Vente santé (version 1)",
        "87,5 %",
    ):
        assert text in html, text
    assert html.count('class="point"') == 3
    # players fetch the API's relay, from the cited second to its end; the CRM's URL never appears
    assert f'src="/api/recordings/F-OWN/{call_id}/audio#t=0.0,1.0"' in html
    assert CRM_HOST not in html
    # the transcript of the call, the cited turn highlighted
    assert "<details>" in html
    assert f'id="passage-{call_id}-0">[0:00] speaker_0 (' in html
    assert "<mark>Bonjour madame</mark>" in html


async def test_report_reads_each_row_of_the_audit_and_transcript_once(
    client: httpx.AsyncClient, world: World, api_engine: AsyncEngine
) -> None:
    """Steps (every revision: the current rows and the rerun marks), points with their citations
    joined, and transcript turns in one query each (none per step or point, none read twice); the
    fiche not again for the players (the viewer's recordings scope is its audits scope)."""
    audit_id, _ = await add_reported_audit(world, "own")
    await world.commit()
    with counting(api_engine) as statements:
        response = await client.get(f"/reports/audits/{audit_id}", headers=world.headers("viewer"))
    assert response.status_code == 200
    reads = Counter(m.group(1) for s in statements if (m := re.search(r"\bFROM (\w+)", s)))
    tables = ("audits", "audit_steps", "audit_control_points", "audit_citations", "transcript_chunks", "fiches")
    assert {t: reads[t] for t in tables} == dict(zip(tables, (1, 1, 1, 0, 1, 0), strict=True))
    assert [s for s in statements if "JOIN audit_citations" in s] == [
        s for s in statements if "FROM audit_control_points" in s
    ]
    assert "<audio" in response.text


async def test_report_without_the_recordings_grant_shows_times_not_players(
    client: httpx.AsyncClient, world: World
) -> None:
    audit_id, _ = await add_reported_audit(world, "own")
    await world.commit()
    response = await client.get(f"/reports/audits/{audit_id}", headers=world.headers("self_user"))
    assert response.status_code == 200
    assert "<audio" not in response.text
    assert '<span class="time">0:00-0:01</span>' in response.text


async def test_report_out_of_scope_or_deleted_is_404(client: httpx.AsyncClient, world: World) -> None:
    other, _ = await add_reported_audit(world, "other")
    await world.commit()
    response = await client.get(f"/reports/audits/{other}", headers=world.headers("viewer"))
    assert response.status_code == 404
    deleted = await client.patch(f"/api/audits/{other}", json={"deleted": True}, headers=world.headers("admin"))
    assert deleted.status_code == 200
    assert (await client.get(f"/reports/audits/{other}", headers=world.headers("admin"))).status_code == 404


async def test_recording_audio_honours_ranges(client: httpx.AsyncClient, world: World) -> None:
    _, call_id = await add_reported_audit(world, "own")
    await world.commit()
    url = f"/api/recordings/F-OWN/{call_id}/audio"
    whole = await client.get(url, headers=world.headers("viewer"))
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "audio/wav"
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.content[:4] == b"RIFF"
    part = await client.get(url, headers=world.headers("viewer") | {"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    assert part.content == whole.content[100:200]
    assert all(CRM_HOST not in value for value in part.headers.values())


async def test_recording_the_crm_no_longer_serves_is_a_clear_404(client: httpx.AsyncClient, world: World) -> None:
    _, call_id = await add_reported_audit(world, "own")
    await world.session.execute(
        update(Recording)
        .where(Recording.fiche_id == "F-OWN", Recording.call_id == call_id)
        .values(recording_url=f"http://{CRM_HOST}/records/nobody/gone.wav")
    )
    await world.commit()
    response = await client.get(f"/api/recordings/F-OWN/{call_id}/audio", headers=world.headers("viewer"))
    assert response.status_code == 404
    assert response.json()["error"] == "Recording no longer served by the CRM"
    assert CRM_HOST not in response.text


async def test_recording_url_that_is_not_http_is_never_fetched(client: httpx.AsyncClient, world: World) -> None:
    _, call_id = await add_reported_audit(world, "own")
    await world.session.execute(
        update(Recording).where(Recording.fiche_id == "F-OWN").values(recording_url="file:///etc/passwd")
    )
    await world.commit()
    response = await client.get(f"/api/recordings/F-OWN/{call_id}/audio", headers=world.headers("admin"))
    assert response.status_code == 404


async def _share(client: httpx.AsyncClient, world: World, audit_id: int, hours: int = 24) -> tuple[str, str]:
    response = await client.post(
        f"/api/reports/audits/{audit_id}/share-links",
        json={"expires_in_hours": hours},
        headers=world.headers("operator"),
    )
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    return data["id"], data["url"].removeprefix(world.settings.api_base_url.rstrip("/"))


async def test_share_link_opens_one_report_and_its_recordings_without_an_account(
    client: httpx.AsyncClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    audit_id, call_id = await add_reported_audit(world, "own")
    await world.commit()
    caplog.set_level(logging.DEBUG)
    _, path = await _share(client, world, audit_id)
    token = path.rsplit("/", 1)[1]
    assert token.startswith("ca_shr_")
    page = await client.get(path)
    assert page.status_code == 200
    assert "Lien de partage en lecture seule." in page.text
    assert html_problems(page.text) == []
    audio = f"{path}/recordings/{call_id}"
    assert f'src="{audio}#t=0.0,1.0"' in page.text
    part = await client.get(audio, headers={"Range": "bytes=0-43"})
    assert part.status_code == 206
    assert part.content[:4] == b"RIFF"
    # stored hashed, never logged
    stored = await world.session.scalar(select(ReportShareLink.token_hash))
    assert stored != token
    assert len(stored or "") == 64
    assert token not in caplog.text
    assert all(token not in r.getMessage() for r in caplog.records)


async def test_share_link_cannot_read_another_audit_or_fiche(client: httpx.AsyncClient, world: World) -> None:
    audit_id, _ = await add_reported_audit(world, "own")
    _, other_call = await add_reported_audit(world, "other")
    await world.commit()
    _, path = await _share(client, world, audit_id)
    # the other fiche's call: not a recording of the shared audit's fiche
    assert (await client.get(f"{path}/recordings/{other_call}")).status_code == 404
    # a token is not a credential for the signed-in routes
    token = path.rsplit("/", 1)[1]
    as_bearer = await client.get(f"/reports/audits/{audit_id}", headers={"Authorization": f"Bearer {token}"})
    assert as_bearer.status_code == 401


async def test_revoked_or_expired_share_links_answer_404(client: httpx.AsyncClient, world: World) -> None:
    audit_id, call_id = await add_reported_audit(world, "own")
    await world.commit()
    link_id, path = await _share(client, world, audit_id)
    token = path.rsplit("/", 1)[1]
    listed = await client.get(f"/api/reports/audits/{audit_id}/share-links", headers=world.headers("operator"))
    assert [(x["id"], x["revoked_at"]) for x in listed.json()["data"]] == [(link_id, None)]
    assert token not in listed.text
    revoked = await client.delete(
        f"/api/reports/audits/{audit_id}/share-links/{link_id}", headers=world.headers("operator")
    )
    assert revoked.status_code == 200
    assert revoked.json()["data"]["revoked_at"]
    gone = await client.get(path)
    assert gone.status_code == 404
    assert gone.headers["content-type"].startswith("text/html")
    assert "Ce lien de partage n'ouvre aucun rapport" in gone.text
    assert html_problems(gone.text) == []
    assert (await client.get(f"{path}/recordings/{call_id}")).status_code == 404

    link_id, path = await _share(client, world, audit_id)
    assert (await client.get(path)).status_code == 200
    await world.session.execute(
        update(ReportShareLink)
        .where(ReportShareLink.id == int(link_id))
        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    )
    await world.commit()
    assert (await client.get(path)).status_code == 404
    assert (await client.get("/reports/shared/ca_shr_not-a-token")).status_code == 404


async def test_share_links_are_made_within_the_audits_write_scope(client: httpx.AsyncClient, world: World) -> None:
    other, _ = await add_reported_audit(world, "other")
    await world.commit()
    response = await client.post(f"/api/reports/audits/{other}/share-links", json={}, headers=world.headers("operator"))
    assert response.status_code == 404
    bad = await client.post(
        f"/api/reports/audits/{other}/share-links", json={"expires_in_hours": 0}, headers=world.headers("admin")
    )
    assert bad.status_code == 400
    assert bad.json()["field"] == "body.expires_in_hours"


async def test_day_overview_lists_the_days_audits_in_scope(client: httpx.AsyncClient, world: World) -> None:
    own, _ = await add_reported_audit(world, "own")
    other, _ = await add_reported_audit(world, "other")
    await world.session.execute(update(Fiche).values(sales_date=dt.date(2025, 3, 3)))
    await world.commit()
    response = await client.get("/reports/days/2025-03-03", headers=world.headers("viewer"))
    assert response.status_code == 200
    assert html_problems(response.text) == []
    assert f'href="/reports/audits/{own}"' in response.text
    assert f'href="/reports/audits/{other}"' not in response.text
    everything = await client.get("/reports/days/2025-03-03", headers=world.headers("admin"))
    assert f'href="/reports/audits/{other}"' in everything.text
    assert "Audits du 03/03/2025" in everything.text
    empty = await client.get("/reports/days/2025-03-04", headers=world.headers("admin"))
    assert "Aucun audit terminé pour ce jour." in empty.text
    bad = await client.get("/reports/days/2025-13-01", headers=world.headers("admin"))
    assert bad.status_code == 400


async def test_day_overview_filters_by_scorecard_with_score_level_and_critical_failures(
    client: httpx.AsyncClient, world: World
) -> None:
    sale, _ = await add_reported_audit(world, "own")
    quality = await add_scorecard(world.session, "Qualité appel")
    checked = await add_audit(
        world.session, "F-OWN", quality, score=40.0, niveau="REJET", critical_passed=1, critical_total=3
    )
    await world.session.execute(update(Fiche).values(sales_date=dt.date(2025, 3, 3)))
    await world.commit()
    both = await client.get("/reports/days/2025-03-03", headers=world.headers("viewer"))
    assert f'href="/reports/audits/{sale}"' in both.text
    assert f'href="/reports/audits/{checked}"' in both.text
    only = await client.get(
        "/reports/days/2025-03-03", params={"scorecard": quality.id}, headers=world.headers("viewer")
    )
    assert only.status_code == 200
    assert html_problems(only.text) == []
    assert "<h1>Audits du 03/03/2025 — Qualité appel</h1>" in only.text
    assert f'href="/reports/audits/{sale}"' not in only.text
    row = f'<a href="/reports/audits/{checked}">F-OWN</a></td><td>Jeanne Martin</td><td>Qualité appel</td>'
    assert row + "<td>40,0 %</td><td>REJET</td><td>2</td></tr>" in only.text


async def test_report_shows_human_overrides_over_the_ai_verdict(client: httpx.AsyncClient, world: World) -> None:
    audit_id, _ = await add_reported_audit(world, "own")
    await world.commit()
    before = (await client.get(f"/reports/audits/{audit_id}", headers=world.headers("viewer"))).text
    assert "Présent" in before.split('class="point"')[1]
    reviewed = await client.patch(
        f"/api/audits/{audit_id}/steps/1/control-points/1/review",
        json={"statut": "ABSENT", "reason": "Le nom n'est pas dit"},
        headers=world.headers("operator"),
    )
    assert reviewed.status_code == 200, reviewed.text
    html = (await client.get(f"/reports/audits/{audit_id}", headers=world.headers("viewer"))).text
    assert html_problems(html) == []
    assert "Le nom n&#39;est pas dit" in html
    assert "Étape 1, point 1 — statut : PRESENT → ABSENT" in html
    # the point shows the reviewer's status, not the AI's
    first_point = html.split('class="point"')[1]
    assert "Absent" in first_point
    assert "Présent" not in first_point


async def _point_recordings_at(world: World, origin: str) -> None:
    """The world's recording URLs, moved from the in-process CRM's host to `origin`."""
    await world.session.execute(
        update(Recording).values(recording_url=func.replace(Recording.recording_url, f"http://{CRM_HOST}", origin))
    )
    await world.commit()


async def test_the_relay_fetches_through_the_guarded_client_and_no_response_shows_the_crm_url(
    app_factory: Callable[..., Awaitable[FastAPI]], world: World
) -> None:
    audit_id, call_id = await add_reported_audit(world, "own")
    await world.commit()
    with serving(in_process_simulator()) as crm:
        await _point_recordings_at(world, crm)
        # the CRM's configured origin is the one private destination the relay may reach
        async with client_for(await app_factory(fiche_api_base_url=crm)) as client:
            listed = await client.get("/api/recordings/F-OWN", headers=world.headers("viewer"))
            page = await client.get(f"/reports/audits/{audit_id}", headers=world.headers("viewer"))
            url = f"/api/recordings/F-OWN/{call_id}/audio"
            part = await client.get(url, headers=world.headers("viewer") | {"Range": "bytes=0-43"})
    assert listed.status_code == 200
    row = next(r for r in listed.json()["data"] if r["call_id"] == call_id)
    assert row["audio_url"] == url
    assert "recording_url" not in row
    assert part.status_code == 206
    assert part.content[:4] == b"RIFF"
    for response in (listed, page, part):
        assert crm not in response.text
        assert "/records/" not in response.text
        assert all(crm not in value for value in response.headers.values())


async def test_the_relay_never_reaches_a_host_the_egress_policy_refuses(
    app_factory: Callable[..., Awaitable[FastAPI]], world: World
) -> None:
    _, call_id = await add_reported_audit(world, "own")
    await world.commit()
    hits: list[str] = []

    async def listener(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            hits.append(scope["path"])
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"audio/wav")]})
            await send({"type": "http.response.body", "body": b"RIFF"})

    url = f"/api/recordings/F-OWN/{call_id}/audio"
    with serving(listener) as loopback:
        async with client_for(await app_factory()) as client:  # the CRM is elsewhere; loopback not allowed
            for stored in (f"{loopback}/records/x.wav", "http://169.254.169.254/latest/meta-data", "http://10.1.2.3/a"):
                await world.session.execute(update(Recording).values(recording_url=stored))
                await world.commit()
                refused = await client.get(url, headers=world.headers("viewer"))
                assert refused.status_code == 502, stored
                assert refused.json()["error"] == "The CRM did not serve the recording"
                assert stored not in refused.text
    assert hits == []
