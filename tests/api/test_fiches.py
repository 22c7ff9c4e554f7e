"""`/api/fiches` and `/api/recordings` on the test harness (rolled back; in-process simulator CRM)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select, update

from api.fiches.deps import api_crm_config, get_crm_client
from callaudit.demo_crm.app import create_app as create_simulator
from callaudit.demo_crm.config import SimulatorConfig
from domain.models import Fiche, FicheFetchJob, FicheFetchStatus, SalesDayCoverage
from resources.crm import CrmClient
from runs.launcher import GraphQLLauncher, LaunchFailed, LaunchRequest
from tests.fixtures.factories.aio import add_day_fiches
from tests.fixtures.fakes import RecordingLauncher
from tests.fixtures.world import World


async def test_by_date_is_scoped_in_sql_with_right_totals(client: httpx.AsyncClient, world: World) -> None:
    day = dt.date(2025, 4, 1)
    await add_day_fiches(world.session, day, "G-OWN", 7, "own")
    await add_day_fiches(world.session, day, "G-OTHER", 5, "oth")
    world.session.add(SalesDayCoverage(sales_date=day, status="fetched", fiche_count=12))
    await world.commit()

    response = await client.get(
        "/api/fiches/status/by-date",
        params={"date": "2025-04-01", "limit": 3, "page": 3},
        headers=world.headers("viewer"),
    )
    body = response.json()
    assert response.status_code == 200, body
    assert body["pagination"] == {"page": 3, "limit": 3, "total": 7, "total_pages": 3}
    assert [f["fiche_id"] for f in body["data"]] == ["own006"]
    assert body["meta"]["coverage"]["status"] == "fetched"

    admin = await client.get(
        "/api/fiches/status/by-date", params={"date": "2025-04-01"}, headers=world.headers("admin")
    )
    assert admin.json()["pagination"]["total"] == 12

    self_user = await client.get(
        "/api/fiches/status/by-date", params={"date": "2025-04-01"}, headers=world.headers("self_user")
    )
    assert self_user.json()["pagination"]["total"] == 0  # none attributed to crm-self


async def test_plain_list_is_scoped_filtered_and_paginated(client: httpx.AsyncClient, world: World) -> None:
    viewer = await client.get("/api/fiches", headers=world.headers("viewer"))
    assert viewer.status_code == 200, viewer.text
    assert [f["fiche_id"] for f in viewer.json()["data"]] == ["F-OWN"]  # GROUP scope: not F-OTHER
    assert viewer.json()["pagination"] == {"page": 1, "limit": 50, "total": 1, "total_pages": 1}
    admin = (await client.get("/api/fiches", params={"limit": 1}, headers=world.headers("admin"))).json()
    assert admin["pagination"]["total"] == 2
    assert len(admin["data"]) == 1
    grouped = await client.get("/api/fiches", params={"groupe": "groupe G-OTHER"}, headers=world.headers("admin"))
    assert [f["fiche_id"] for f in grouped.json()["data"]] == ["F-OTHER"]
    backwards = await client.get(
        "/api/fiches",
        params={"sales_date_from": "2025-03-04", "sales_date_to": "2025-03-03"},
        headers=world.headers("admin"),
    )
    assert (backwards.status_code, backwards.json()["field"]) == (400, "sales_date_from")


async def test_status_batch_gives_defaults_out_of_scope(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        "/api/fiches/status/batch", json={"fiche_ids": ["F-OWN", "F-OTHER", "F-OWN"]}, headers=world.headers("viewer")
    )
    data = response.json()["data"]
    assert set(data) == {"F-OWN", "F-OTHER"}
    assert data["F-OWN"]["fetch_status"] == "summary"
    assert data["F-OTHER"] == {**data["F-OTHER"], "fetch_status": None, "has_data": False}
    too_many = await client.post(
        "/api/fiches/status/batch", json={"fiche_ids": [str(i) for i in range(501)]}, headers=world.headers("viewer")
    )
    assert too_many.status_code == 400
    assert too_many.json()["field"].startswith("body.fiche_ids")


async def test_fiche_ids_may_be_sent_as_numbers(client: httpx.AsyncClient, world: World) -> None:
    # Ids are strings in every response; the CRM's ids are digits, so a client sending numbers is understood.
    response = await client.post(
        "/api/fiches/status/batch", json={"fiche_ids": [1983200000, "F-OWN"]}, headers=world.headers("viewer")
    )
    assert response.status_code == 200, response.text
    assert set(response.json()["data"]) == {"1983200000", "F-OWN"}
    refused = await client.post("/api/fiches/status/batch", json={"fiche_ids": [True]}, headers=world.headers("viewer"))
    assert refused.status_code == 400


async def test_details_recordings_need_the_recordings_grant(client: httpx.AsyncClient, world: World) -> None:
    await world.store_details("own")
    await world.commit()
    viewer = (await client.get("/api/fiches/F-OWN", headers=world.headers("viewer"))).json()
    assert viewer["meta"]["recordings_included"] is True
    assert viewer["data"]["recordings"]
    assert viewer["data"]["information"]["fiche_id"] == "F-OWN"
    agent = (await client.get("/api/fiches/F-OWN", headers=world.headers("self_user"))).json()
    assert agent["meta"]["recordings_included"] is False
    assert "recordings" not in agent["data"]
    assert agent["data"]["prospect"] == viewer["data"]["prospect"]
    listing = (await client.get("/api/recordings/F-OWN", headers=world.headers("viewer"))).json()
    assert listing["count"] == len(viewer["data"]["recordings"])
    starts = [r["start_time"] for r in listing["data"]]
    assert starts == sorted(starts)
    assert (await client.get("/api/recordings/F-OWN", headers=world.headers("self_user"))).status_code == 403


async def test_refresh_needs_fiches_fetch(client: httpx.AsyncClient, world: World) -> None:
    await world.store_details("own")
    await world.commit()
    response = await client.get("/api/fiches/F-OWN", params={"refresh": "true"}, headers=world.headers("viewer"))
    assert response.status_code == 403
    assert "fiches.fetch" in response.json()["error"]
    # operator may; details fetched moments ago: the refresh cooldown serves the cache
    response = await client.get("/api/fiches/F-OWN", params={"refresh": "true"}, headers=world.headers("operator"))
    assert response.status_code == 200, response.text
    assert response.json()["meta"]["stale"] is False
    other = await client.get("/api/fiches/F-OTHER", params={"refresh": "true"}, headers=world.headers("operator"))
    assert other.status_code == 404
    posted = await client.post("/api/fiches/F-OWN/refresh", headers=world.headers("operator"))
    assert (posted.status_code, posted.json()["meta"]["fiche_id"]) == (200, "F-OWN")
    assert (await client.post("/api/fiches/F-OWN/refresh", headers=world.headers("viewer"))).status_code == 403
    ranged = await client.get(
        "/api/fiches/status/by-date-range",
        params={"start_date": "2025-03-01", "end_date": "2025-03-02", "refresh": "true"},
        headers=world.headers("viewer"),
    )
    assert ranged.status_code == 403


async def test_not_found_marker_is_a_clean_404(client: httpx.AsyncClient, world: World) -> None:
    await world.session.execute(
        update(Fiche)
        .where(Fiche.fiche_id == "F-OWN")
        .values(
            fetch_status=FicheFetchStatus.NOT_FOUND.value,
            raw_data={},
            expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5),
        )
    )
    await world.commit()
    for principal in ("viewer", "admin"):
        response = await client.get("/api/fiches/F-OWN", headers=world.headers(principal))
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "NOT_FOUND"


async def test_cache_and_status_of_a_fiche(client: httpx.AsyncClient, world: World) -> None:
    cache = (await client.get("/api/fiches/F-OWN/cache", headers=world.headers("viewer"))).json()["data"]
    assert cache["fiche_id"] == "F-OWN"
    assert cache["fetch_status"] == "summary"
    status = (await client.get("/api/fiches/F-OWN/status", headers=world.headers("viewer"))).json()["data"]
    assert status["has_data"] is False
    assert status["audit"]["total"] == 0


async def test_range_coverage_launches_one_job_for_missing_days(
    client: httpx.AsyncClient, world: World, launcher: RecordingLauncher
) -> None:
    # 2025-05-02 had zero sales but was searched: covered. 2025-05-03 failed: missing.
    world.session.add_all(
        [
            SalesDayCoverage(sales_date=dt.date(2025, 5, 1), status="fetched", fiche_count=3),
            SalesDayCoverage(sales_date=dt.date(2025, 5, 2), status="fetched", fiche_count=0),
            SalesDayCoverage(sales_date=dt.date(2025, 5, 3), status="failed", fiche_count=0, error="boom"),
        ]
    )
    await add_day_fiches(world.session, dt.date(2025, 5, 1), "G-OWN", 2, "may")
    await add_day_fiches(world.session, dt.date(2025, 5, 1), "G-OTHER", 1, "mayo")
    await world.commit()
    params = {"start_date": "2025-05-01", "end_date": "2025-05-04"}
    first = (
        await client.get("/api/fiches/status/by-date-range", params=params, headers=world.headers("operator"))
    ).json()
    meta = first["meta"]
    assert first["pagination"]["total"] == 2  # scoped
    assert (meta["total_days"], meta["days_fetched"], meta["days_missing"]) == (4, 2, 2)
    assert meta["dates_missing"] == ["2025-05-03", "2025-05-04"]
    assert meta["complete"] is False
    assert meta["job_id"]
    assert meta["job_status"] == "launched"
    assert meta["job_reused"] is False
    assert len(launcher.requests) == 1
    launched = launcher.requests[0]
    assert [d.isoformat() for d in launched.days] == ["2025-05-03", "2025-05-04"]
    assert launched.tags["app/source"] == "api"
    assert "app/request_id" in launched.tags

    again = (await client.get("/api/fiches/status/by-date-range", params=params, headers=world.headers("admin"))).json()
    assert again["meta"]["job_id"] == meta["job_id"]
    assert again["meta"]["job_reused"] is True
    assert len(launcher.requests) == 1

    job = (await client.get(f"/api/fiches/jobs/{meta['job_id']}", headers=world.headers("operator"))).json()["data"]
    assert job["status"] == "launched"
    assert job["requested_by_me"] is True
    assert job["progress"]["days_remaining"] == 2
    # the day the backfill covers
    world.session.add(SalesDayCoverage(sales_date=dt.date(2025, 5, 4), status="fetched", fiche_count=0))
    await world.session.execute(
        update(SalesDayCoverage)
        .where(SalesDayCoverage.sales_date == dt.date(2025, 5, 3))
        .values(status="fetched", error=None, updated_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1))
    )
    await world.commit()
    job = (await client.get(f"/api/fiches/jobs/{meta['job_id']}", headers=world.headers("viewer"))).json()["data"]
    assert job["progress"]["days_done"] == 2
    # Every day covered, but Dagster has not finished the backfill: the job is not complete yet.
    assert (job["status"], job["dagster_status"]) == ("launched", "REQUESTED")
    launcher.backfill = "COMPLETED_SUCCESS"
    job = (await client.get(f"/api/fiches/jobs/{meta['job_id']}", headers=world.headers("viewer"))).json()["data"]
    assert job["status"] == "complete"
    done = (await client.get("/api/fiches/status/by-date-range", params=params, headers=world.headers("viewer"))).json()
    assert done["meta"]["complete"] is True
    assert done["meta"]["job_id"] is None


async def test_range_validation_and_future_clamp(client: httpx.AsyncClient, world: World) -> None:
    headers = world.headers("viewer")
    bad = await client.get(
        "/api/fiches/status/by-date-range",
        params={"start_date": "2025-05-04", "end_date": "2025-05-01"},
        headers=headers,
    )
    assert bad.status_code == 400
    assert bad.json()["field"] == "start_date"
    long = await client.get(
        "/api/fiches/status/by-date-range",
        params={"start_date": "2024-01-01", "end_date": "2025-05-01"},
        headers=headers,
    )
    assert long.status_code == 400
    assert long.json()["field"] == "end_date"
    missing = await client.get("/api/fiches/status/by-date-range", params={"start_date": "x"}, headers=headers)
    assert missing.status_code == 400
    future = (
        await client.get(
            "/api/fiches/status/by-date-range",
            params={"start_date": "2099-01-01", "end_date": "2099-02-01"},
            headers=headers,
        )
    ).json()["meta"]
    assert (future["total_days"], future["complete"], future["job_id"]) == (0, True, None)


async def test_launch_failure_is_recorded_and_never_a_5xx(
    client: httpx.AsyncClient, world: World, launcher: RecordingLauncher
) -> None:
    launcher.fail = True
    params = {"start_date": "2025-06-01", "end_date": "2025-06-02"}
    response = await client.get("/api/fiches/status/by-date-range", params=params, headers=world.headers("operator"))
    assert response.status_code == 200
    meta = response.json()["meta"]
    assert meta["job_status"] == "failed_to_launch"
    status = await world.session.scalar(select(FicheFetchJob.status).where(FicheFetchJob.id == meta["job_id"]))
    assert status == "failed_to_launch"
    # the dedup lock was released: the next request tries again (no stalled job, §13.2 #3)
    launcher.fail = False
    retry = (
        await client.get("/api/fiches/status/by-date-range", params=params, headers=world.headers("operator"))
    ).json()
    assert retry["meta"]["job_id"] != meta["job_id"]
    assert retry["meta"]["job_status"] == "launched"


async def test_graphql_launcher_against_an_unreachable_webserver() -> None:
    async with httpx.AsyncClient() as http:
        launcher = GraphQLLauncher(http, "http://127.0.0.1:9", timeout=1.0)
        with pytest.raises(LaunchFailed, match="unreachable") as raised:
            await launcher.launch_days(LaunchRequest(job_id="j", days=[dt.date(2025, 1, 2)]))
        assert "127.0.0.1" not in str(raised.value)
        assert await launcher.backfill_status("x") is None


async def test_search_stores_the_day_and_lists_it_scoped(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get("/api/fiches/search", params={"date": "2025-03-03"}, headers=world.headers("admin"))
    body = response.json()
    assert response.status_code == 200, body
    assert body["meta"]["listed_by_crm"] == 4
    operator = (
        await client.get("/api/fiches/search", params={"date": "2025-03-03"}, headers=world.headers("operator"))
    ).json()
    assert operator["meta"]["listed_by_crm"] is None
    assert operator["pagination"]["total"] == 0  # summaries carry no group until details are fetched


class CountingTransport(httpx.AsyncBaseTransport):
    """The in-process simulator, counting the requests the API sends it."""

    def __init__(self) -> None:
        self.inner = httpx.ASGITransport(app=create_simulator(SimulatorConfig(seed=7, fiches_per_day=4)))
        self.calls = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        return await self.inner.handle_async_request(request)


@pytest.fixture
async def counted_crm(app: FastAPI) -> AsyncIterator[CountingTransport]:
    transport = CountingTransport()
    state = app.state.callaudit
    crm = CrmClient("http://demo-crm.test", state.redis, config=api_crm_config(3, 1), transport=transport)
    app.dependency_overrides[get_crm_client] = lambda: crm
    yield transport
    await crm.aclose()


async def test_readers_never_call_the_crm_nor_write(
    client: httpx.AsyncClient,
    world: World,
    counted_crm: CountingTransport,
    sync_engine: Engine,
    launcher: RecordingLauncher,
) -> None:
    """Drill 7: a viewer (no `fiches.fetch`) made the server search the CRM and store any day or fiche."""
    viewer = world.headers("viewer")
    search = await client.get("/api/fiches/search", params={"date": "2025-03-04"}, headers=viewer)
    assert search.status_code == 403, search.text
    assert "fiches.fetch" in search.json()["error"]
    unknown = await client.get("/api/fiches/9876543", headers=viewer)
    assert (unknown.status_code, unknown.json()["error"]) == (404, "Fiche not found")
    summary_only = await client.get("/api/fiches/F-OWN", headers=viewer)  # visible, details never fetched
    assert summary_only.status_code == 403
    assert "fiches.fetch" in summary_only.json()["error"]
    ranged = await client.get(
        "/api/fiches/status/by-date-range",
        params={"start_date": "2025-07-01", "end_date": "2025-07-02"},
        headers=viewer,
    )
    assert ranged.status_code == 200
    assert ranged.json()["meta"]["job_id"] is None
    assert "fiches.fetch" in ranged.json()["meta"]["job_error"]
    assert counted_crm.calls == 0
    assert launcher.requests == []
    assert await world.session.scalar(select(func.count()).select_from(FicheFetchJob)) == 0
    with sync_engine.connect() as conn:  # FicheSync writes through its own connection
        assert conn.scalar(select(func.count()).select_from(SalesDayCoverage)) == 0
        assert conn.scalar(select(func.count()).where(Fiche.fiche_id == "9876543")) == 0
    # the operator, who may fetch, does reach the CRM
    assert (await client.get("/api/fiches/9876543", headers=world.headers("operator"))).status_code == 404
    assert counted_crm.calls > 0


async def test_one_not_found_message_whether_the_fiche_exists_or_not(
    client: httpx.AsyncClient, world: World, counted_crm: CountingTransport
) -> None:
    await world.store_details("other")
    await world.commit()
    operator = world.headers("operator")
    out_of_scope = await client.get("/api/fiches/F-OTHER", headers=operator)
    absent_from_crm = await client.get("/api/fiches/9876543", headers=operator)  # the simulator does not know it
    assert out_of_scope.status_code == absent_from_crm.status_code == 404
    assert out_of_scope.json()["error"] == absent_from_crm.json()["error"] == "Fiche not found"
    cached_marker = await client.get("/api/fiches/9876543", headers=operator)  # now the NOT_FOUND marker
    assert cached_marker.json()["error"] == "Fiche not found"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date": "0"}, "date"),
        ({"date": "1700000000"}, "date"),
        ({"date": "2999-12-31"}, "date"),
        ({"date": "0001-01-01"}, "date"),
        ({"date": "2025-03-03T00:00:00"}, "date"),
    ],
)
async def test_sales_days_are_iso_dates_in_a_sane_window(
    client: httpx.AsyncClient, world: World, params: dict[str, str], field: str
) -> None:
    for path in ("/api/fiches/search", "/api/fiches/status/by-date"):
        response = await client.get(path, params=params, headers=world.headers("operator"))
        assert response.status_code == 400, response.text
        assert response.json()["field"] == f"query.{field}"
    ranged = await client.get(
        "/api/fiches/status/by-date-range",
        params={"start_date": params["date"], "end_date": "2025-01-01"},
        headers=world.headers("operator"),
    )
    assert ranged.status_code == 400


async def test_search_refuses_a_day_after_today(client: httpx.AsyncClient, world: World) -> None:
    tomorrow = dt.date.today() + dt.timedelta(days=2)
    response = await client.get(
        "/api/fiches/search", params={"date": tomorrow.isoformat()}, headers=world.headers("operator")
    )
    assert response.status_code == 400
    assert response.json()["field"] == "date"


async def test_admin_crm_directory_and_team_sync(client: httpx.AsyncClient, world: World) -> None:
    headers = world.headers("admin")
    users = (await client.get("/api/admin/crm/users", headers=headers)).json()["data"]
    assert users
    assert all("app_user" in u for u in users)
    groups = (await client.get("/api/admin/crm/teams", params={"include_users": "true"}, headers=headers)).json()[
        "data"
    ]
    assert groups
    assert groups[0]["user_ids"] is not None
    member = next(u for g in groups for u in g["user_ids"])
    await world.add_user("linked@example.test", crm_user_id=member)
    await world.commit()
    synced = (
        await client.post("/api/admin/teams/sync-from-crm", params={"sync_members": "true"}, headers=headers)
    ).json()
    assert synced["data"]["teams_upserted"] == len(groups)
    assert synced["data"]["members_added"] == 1
    again = (
        await client.post("/api/admin/teams/sync-from-crm", params={"sync_members": "true"}, headers=headers)
    ).json()
    assert again["data"]["members_added"] == 0
    in_groups = {i for g in groups for i in g["user_ids"]}
    fresh = next(u for u in users if u["id"] != member and u["email"] and u["id"] in in_groups)
    created = await client.post("/api/admin/users/from-crm", json={"crm_user_id": fresh["id"]}, headers=headers)
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data["user"]["status"] == "INVITED"
    assert data["user"]["crm_user_id"] == fresh["id"]
    assert data["team"] is not None
    assert data["groupe"] == data["team"]["name"]
    assert data["invite_token"]
    unknown = await client.post("/api/admin/users/from-crm", json={"crm_user_id": "nope"}, headers=headers)
    assert unknown.status_code == 400


async def test_a_day_is_fetched_only_when_its_fiches_have_details(
    client: httpx.AsyncClient, world: World, launcher: RecordingLauncher
) -> None:
    """Drill 4: the search succeeded, the details step failed (Redis down); the day stayed `fetched`
    with most fiches holding only a summary, and re-running the range reported it complete."""
    day = dt.date(2025, 8, 5)
    world.session.add(SalesDayCoverage(sales_date=day, status="fetched", fiche_count=3))
    await add_day_fiches(world.session, day, "G-OWN", 3, "aug")
    await world.session.execute(
        update(Fiche).where(Fiche.fiche_id != "aug000", Fiche.sales_date == day).values(fetch_status="summary")
    )
    await world.commit()
    operator = world.headers("operator")
    params = {"start_date": "2025-08-05", "end_date": "2025-08-05"}
    meta = (await client.get("/api/fiches/status/by-date-range", params=params, headers=operator)).json()["meta"]
    assert (meta["complete"], meta["dates_missing"]) == (False, ["2025-08-05"])
    assert meta["job_status"] == "launched"  # the re-run fetches them
    assert [d.isoformat() for d in launcher.requests[0].days] == ["2025-08-05"]
    by_date = (await client.get("/api/fiches/status/by-date", params={"date": "2025-08-05"}, headers=operator)).json()
    assert by_date["meta"]["coverage"]["status"] == "partial"
    assert "2 fiche(s)" in by_date["meta"]["coverage"]["error"]
    # the details arrive: the day is fetched
    await world.session.execute(update(Fiche).where(Fiche.sales_date == day).values(fetch_status="details"))
    await world.commit()
    done = (await client.get("/api/fiches/status/by-date-range", params=params, headers=operator)).json()["meta"]
    assert done["complete"] is True
