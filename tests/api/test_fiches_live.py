"""Fiche routes against the demo CRM simulator in a thread, with real commits (tables truncated after).

Live fetches write through `FicheSync`'s own transactions, so these tests cannot use the rolled-back
harness; they authenticate with a static API token (scope ALL) and clean up with `clean_tables`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import Engine, func, select, text

from api.runs import get_run_launcher
from callaudit.demo_crm.config import SimulatorConfig
from callaudit.demo_crm.fiches import fiche_id_for
from callaudit.demo_crm.server import run_in_thread
from domain.models import FicheFetchJob
from tests.api.conftest import build_app, client_for, make_settings
from tests.fixtures.fakes import RecordingLauncher

TOKEN = "static-live-test-token-0123456789"
HEADERS = {"Authorization": f"Bearer {TOKEN}"}
DAY = dt.date(2025, 3, 3)

pytestmark = pytest.mark.usefixtures("clean_tables")


@asynccontextmanager
async def live_client(
    database_url: str, redis_url: str, home: Path, crm_url: str, launcher: RecordingLauncher | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    settings = make_settings(database_url, redis_url, home, fiche_api_base_url=crm_url, api_auth_token=TOKEN)
    application = build_app(settings)
    recording = launcher or RecordingLauncher()
    application.dependency_overrides[get_run_launcher] = lambda: recording
    async with application.router.lifespan_context(application), client_for(application) as client:
        yield client


Simulate = Callable[[], AbstractContextManager[str]]


def simulator() -> AbstractContextManager[str]:
    return run_in_thread(SimulatorConfig(seed=7, fiches_per_day=4))


async def test_details_round_trip_then_stale_when_the_crm_is_down(
    database_url: str, redis_url: str, api_home: Path, redis_client: redis.Redis, sync_engine: Engine
) -> None:
    fiche_id = fiche_id_for(DAY, 1)
    with simulator() as url:
        async with httpx.AsyncClient() as plain:
            expected: dict[str, Any] = (await plain.get(f"{url}/api/fiches/by-id/{fiche_id}", timeout=5)).json()
        async with live_client(database_url, redis_url, api_home, url) as client:
            first = await client.get(f"/api/fiches/{fiche_id}", headers=HEADERS)
            assert first.status_code == 200, first.text
            body = first.json()
            assert body["meta"]["source"] == "crm"
            assert body["meta"]["stale"] is False
            served = body["data"]
            assert served["information"]["fiche_id"] == expected["information"]["fiche_id"] == fiche_id
            assert served["information"]["groupe"] == expected["information"]["groupe"]
            assert served["prospect"]["nom"] == expected["prospect"]["nom"]
            assert served["prospect"]["prenom"] == expected["prospect"]["prenom"]
            assert served["elements_souscription"] == expected["elements_souscription"]
            assert sorted(r["call_id"] for r in served["recordings"]) == sorted(
                r["call_id"] for r in expected["recordings"]
            )
            second = (await client.get(f"/api/fiches/{fiche_id}", headers=HEADERS)).json()
            assert second["meta"]["source"] == "cache"
            missing = await client.get(f"/api/fiches/{fiche_id_for(DAY, 99_000)}", headers=HEADERS)
            assert missing.status_code == 404
            assert missing.json()["code"] == "NOT_FOUND"
    # the simulator is gone; the cached details expire
    with sync_engine.begin() as conn:
        conn.execute(
            text("UPDATE fiches SET expires_at = now() - interval '1 day' WHERE fiche_id = :f"), {"f": fiche_id}
        )
    async with live_client(database_url, redis_url, api_home, url) as client:
        stale = await client.get(f"/api/fiches/{fiche_id}", headers=HEADERS)
        assert stale.status_code == 200, stale.text
        assert stale.json()["meta"]["stale"] is True
        assert stale.json()["data"]["information"]["fiche_id"] == fiche_id
        assert url not in str(stale.json()["meta"])  # recording URLs hold the host; the error must not
        nothing = await client.get(f"/api/fiches/{fiche_id_for(DAY, 2)}", headers=HEADERS)
        assert nothing.status_code == 502
        assert nothing.json()["code"] == "EXTERNAL_API_ERROR"
        assert url not in nothing.text


async def test_concurrent_identical_range_requests_share_one_job(
    database_url: str, redis_url: str, api_home: Path, redis_client: redis.Redis, sync_engine: Engine
) -> None:
    launcher = RecordingLauncher()
    launcher.delay = 0.2
    params = {"start_date": "2025-03-01", "end_date": "2025-03-05"}
    async with live_client(database_url, redis_url, api_home, "http://127.0.0.1:9", launcher) as client:
        first, second = await asyncio.gather(
            client.get("/api/fiches/status/by-date-range", params=params, headers=HEADERS),
            client.get("/api/fiches/status/by-date-range", params=params, headers=HEADERS),
        )
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    metas = [first.json()["meta"], second.json()["meta"]]
    assert metas[0]["job_id"] == metas[1]["job_id"]
    assert sorted(m["job_reused"] for m in metas) == [False, True]
    with sync_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(FicheFetchJob)).scalar_one() == 1


async def test_search_marks_the_day_covered(
    database_url: str, redis_url: str, api_home: Path, redis_client: redis.Redis
) -> None:
    with simulator() as url:
        async with live_client(database_url, redis_url, api_home, url) as client:
            response = await client.get("/api/fiches/search", params={"date": DAY.isoformat()}, headers=HEADERS)
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["pagination"]["total"] == 4
            # searched, but the details of its fiches are not fetched yet: not a fetched day (drill 4)
            assert body["meta"]["coverage"]["status"] == "partial"
            by_date = (
                await client.get("/api/fiches/status/by-date", params={"date": DAY.isoformat()}, headers=HEADERS)
            ).json()
            assert by_date["pagination"]["total"] == 4
