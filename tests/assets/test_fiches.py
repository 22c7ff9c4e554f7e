"""A sales day ingested through the real assets, against the demo CRM simulator, faults included."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import httpx
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from assets.fiches import fiche_details, sales_fiches
from callaudit.demo_crm.config import Faults
from callaudit.embedded import EmbeddedRedis
from callaudit.settings import load_settings
from domain.crm.cache import CachePolicy
from domain.crm.store import reconstruct_payload
from domain.models import Fiche, Recording, SalesDayCoverage
from domain.models.crm import FicheComment, FicheTag
from resources.crm.client import CrmClient
from resources.database import create_sync_engine, sync_session_factory
from resources.redis import create_async_redis
from resources.redis.resource import RedisResource
from services.ingestion import FicheSync
from tests.fixtures.crm_simulator import Simulator, faulty

DAY = "2026-03-02"
ASSETS = [sales_fiches, fiche_details]


def _materialize(resources: dict[str, Any], partition: str = DAY, instance: dg.DagsterInstance | None = None):
    return dg.materialize(ASSETS, partition_key=partition, resources=resources, instance=instance, raise_on_error=False)


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    [event] = result.asset_materializations_for_node(asset)
    return {k: v.value for k, v in event.metadata.items()}


def _row_counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Fiche, Recording, FicheComment, FicheTag, SalesDayCoverage)
        }


def test_faulty_crm_day_ends_fetched_and_rerun_duplicates_nothing(
    simulator: Simulator, crm_resources: dict[str, Any], sync_engine: Engine
) -> None:
    listing = httpx.get(
        f"{simulator.base_url}/api/fiches/sales-with-calls", params={"start_date": DAY, "end_date": DAY}
    )
    day_ids = sorted(f["id"] for f in listing.json()["fiches"])
    gone = day_ids[3]
    simulator.configure(
        Faults(search=faulty(0.3), details=faulty(0.3), users=faulty(0.3), permanent_not_found=frozenset({gone}))
    )
    simulator.reset()
    # The missing fiche counts as not found after 5 of its answers are 404s; at a 30 % fault rate 10
    # attempts miss that about once in 20 runs (then it is, rightly, failed: "maybe deleted"), 20 attempts
    # fewer than once in 100,000.
    crm_resources = {**crm_resources, "crm": crm_resources["crm"].model_copy(update={"max_attempts": 20})}

    first = _materialize(crm_resources)
    assert first.success
    details = _metadata(first, "fiche_details")
    assert details["fiches"] == len(day_ids)
    assert details["fetched"] == len(day_ids) - 1
    assert details["not_found"] == 1
    assert details["failed"] == 0
    faults = simulator.stats()["families"]["details"]["faults"]
    assert sum(faults.values()) > 0, "the run met no fault: the test proves nothing"

    with Session(sync_engine) as session:
        statuses = dict(session.execute(select(Fiche.fiche_id, Fiche.fetch_status)).all())
        coverage = session.get(SalesDayCoverage, dt.date.fromisoformat(DAY))
        missing = session.scalars(select(Fiche.fetch_error).where(Fiche.fiche_id == gone)).one()
    assert statuses[gone] == "not_found"
    assert "404" in (missing or "") or "not found" in (missing or "").lower()
    assert {fid: s for fid, s in statuses.items() if fid != gone} == dict.fromkeys(set(day_ids) - {gone}, "details")
    assert coverage is not None
    assert (coverage.status, coverage.fiche_count) == ("fetched", len(day_ids))

    counts = _row_counts(sync_engine)
    second = _materialize(crm_resources)
    assert second.success
    assert _row_counts(sync_engine) == counts
    again = _metadata(second, "fiche_details")
    assert again["fetched"] == 0
    assert again["cached"] == len(day_ids) - 1
    assert again["not_found_cached"] == 1


def test_stored_fiche_round_trips_the_gateway_payload(
    simulator: Simulator, crm_resources: dict[str, Any], sync_engine: Engine
) -> None:
    assert _materialize(crm_resources).success
    with Session(sync_engine) as session:
        fiche_id = session.scalars(select(Fiche.fiche_id).where(Fiche.fetch_status == "details").limit(1)).one()
        stored = reconstruct_payload(session, fiche_id)
        group_ids = set(session.scalars(select(Fiche.crm_group_id)))
    original = simulator.details(fiche_id)
    for key in ("information", "prospect", "elements_souscription", "commentaires", "raw_sections"):
        assert stored[key] == original[key], key
    assert sorted(r["call_id"] for r in stored["recordings"]) == sorted(r["call_id"] for r in original["recordings"])
    assert None not in group_ids, "every fiche is linked to its CRM group id"


def test_caps_hold_across_runs_and_api_refreshes(
    simulator: Simulator, crm_resources: dict[str, Any], database_url: str, redis_url: str
) -> None:
    simulator.configure(Faults(search=faulty(0.0, latency_ms=150), details=faulty(0.0, latency_ms=150)))
    simulator.reset()
    results: list[bool] = []

    def run(day: str) -> None:
        results.append(_materialize(crm_resources, partition=day).success)

    def api_refreshes() -> None:
        """What the API does on `refresh=true` and `/search`: its own client, the same global caps."""
        settings = load_settings(fiche_api_base_url=simulator.base_url, database_url=database_url, redis_url=redis_url)

        async def refresh() -> bool:
            redis = create_async_redis(redis_url)
            try:
                async with CrmClient.from_settings(settings, redis) as client:
                    engine = create_sync_engine(database_url)
                    sync = FicheSync(
                        client,
                        sync_session_factory(engine),
                        policy=CachePolicy.from_settings(settings),
                        tz=ZoneInfo(settings.sales_timezone),
                        concurrency=settings.fiche_fetch_concurrency,
                    )
                    day = await sync.sync_sales_day(dt.date(2026, 3, 5), include_recordings=False)
                    report = await sync.sync_fiches(day.fiche_ids, force=True)
                    engine.dispose()
                    return not report.failures
            finally:
                await redis.aclose()

        results.append(asyncio.run(refresh()))

    threads = [threading.Thread(target=run, args=(day,)) for day in ("2026-03-03", "2026-03-04")]
    threads.append(threading.Thread(target=api_refreshes))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert results == [True, True, True]
    families = simulator.stats()["families"]
    assert families["search"]["peak_in_flight"] == 1
    assert families["details"]["peak_in_flight"] == 3  # the cap is reached, never exceeded


def test_redis_down_makes_no_crm_call_and_fails_clearly(
    simulator: Simulator, crm_resources: dict[str, Any], tmp_path: Path
) -> None:
    server = EmbeddedRedis(tmp_path)
    server.start()
    url = server.url()
    assert url is not None
    server.stop()
    simulator.reset()
    result = _materialize({**crm_resources, "redis": RedisResource(url=url)})
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    assert "Redis" in str(failure.step_failure_data.error)
    families = simulator.stats()["families"]
    assert families["search"]["requests"] == families["details"]["requests"] == 0


@pytest.mark.parametrize("asset", ASSETS)
def test_assets_carry_their_data_team_labels(asset: dg.AssetsDefinition) -> None:
    spec = next(iter(asset.specs))
    assert spec.group_name == "crm"
    assert spec.code_version
    assert spec.description
    assert spec.kinds
