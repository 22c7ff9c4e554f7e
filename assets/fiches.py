"""CRM ingestion assets: the sales listed on a day, then every listed fiche's details and calls.

Both are partitioned by sales day and incremental: a re-run writes nothing twice (upserts) and
fetches only fiches whose cache says so (missing, summary only, expired, failed, integrity issue).
"""

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import dagster as dg
from redis.asyncio import Redis as AsyncRedis

from assets.metadata import failures_table
from assets.partitions import DECLARED_SALES_DAYS
from assets.stage import run_stage
from callaudit.pools import CRM_FICHE_FETCH, CRM_SEARCH
from callaudit.settings import Settings
from domain import stages
from domain.crm.cache import CachePolicy
from domain.crm.fetch_jobs import day_fetched
from domain.models.fiches import FicheFetchStatus
from domain.partitions import fetch_status_counts
from resources.crm.client import CrmClient
from resources.crm.errors import CrmError
from resources.crm.resource import CrmResource
from resources.database import DatabaseResource, sync_session_factory
from resources.redis import RedisUnavailable
from resources.redis.resource import RedisResource
from services.ingestion import BatchReport, FicheSync, metadata_of

T = TypeVar("T")
log = logging.getLogger(__name__)


def run_with_crm(
    crm: CrmResource,
    redis: RedisResource,
    database: DatabaseResource,
    concurrency: int,
    work: Callable[[FicheSync], Awaitable[T]],
    *,
    settings: Settings,
    fatal: tuple[type[Exception], ...] = (),
) -> tuple[T, dict[str, Any]]:
    """Run `work` with a CRM client and `FicheSync` (`run_stage`); return it and the CRM metrics."""

    async def main(client_redis: AsyncRedis) -> tuple[T, dict[str, Any]]:
        async with crm.client(client_redis) as client:
            sync = FicheSync(
                client,
                sync_session_factory(database.engine),
                policy=CachePolicy.from_settings(settings),
                tz=ZoneInfo(settings.sales_timezone),
                concurrency=concurrency,
            )
            return await work(sync), _metrics(client)

    return run_stage(redis, main, fatal=fatal)


def _metrics(client: CrmClient) -> dict[str, Any]:
    return dict(client.metrics.as_metadata())


class BatchResult:
    """A `BatchReport` with the CRM metrics of its run, as Dagster metadata."""

    def __init__(self, report: BatchReport, crm_metrics: dict[str, Any], groups_linked: int) -> None:
        self.report = report
        self.crm_metrics = crm_metrics
        self.groups_linked = groups_linked

    @property
    def failures(self) -> dict[str, str]:
        return self.report.failures

    def metadata(self) -> dict[str, Any]:
        return {
            "fiches": len(self.report.results),
            **metadata_of(self.report),
            "recordings": sum(r.recordings for r in self.report.results),
            "groups_linked": self.groups_linked,
            "failures": failures_table(self.report.failures, "fiche"),
            "seconds": round(self.report.seconds, 3),
            **self.crm_metrics,
        }

    def as_result(self) -> dg.MaterializeResult:  # type: ignore[type-arg]
        return dg.MaterializeResult(metadata=self.metadata())


@dg.asset(
    partitions_def=DECLARED_SALES_DAYS,
    group_name="crm",
    kinds={"python", "postgres"},
    code_version="1",
    pool=CRM_SEARCH,
    description="Sales (CRM status 53) listed for the day: fiche summaries and their calls; the day is "
    "recorded as fetched even with zero sales.",
)
def sales_fiches(
    context: dg.AssetExecutionContext,
    crm: CrmResource,
    redis: RedisResource,
    database: DatabaseResource,
    settings: dg.ResourceParam[Settings],
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    day = dt.date.fromisoformat(context.partition_key)
    include = settings.fiche_sales_include_recordings

    async def work(sync: FicheSync) -> tuple[Any, int]:
        result = await sync.sync_sales_day(day, include_recordings=include)
        return result, await sync.link_groups()

    (result, linked), crm_metrics = run_with_crm(crm, redis, database, 1, work, settings=settings)
    return dg.MaterializeResult(
        metadata={
            "fiches": result.fiches,
            "new_fiches": result.created,
            "recordings_listed": result.recordings,
            "groups_linked": linked,
            **crm_metrics,
        }
    )


@dg.asset(
    partitions_def=DECLARED_SALES_DAYS,
    deps=[sales_fiches],
    group_name="crm",
    kinds={"python", "postgres"},
    code_version="1",
    pool=CRM_FICHE_FETCH,
    description="Full details of every fiche of the day (cache-first, 10-day freshness), with its calls "
    "and normalised sections; one fiche's failure is recorded on it and the others still finish.",
)
def fiche_details(
    context: dg.AssetExecutionContext,
    crm: CrmResource,
    redis: RedisResource,
    database: DatabaseResource,
    settings: dg.ResourceParam[Settings],
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    day = dt.date.fromisoformat(context.partition_key)
    with database.session() as session:
        fiche_ids = stages.fiche_ids(session, stages.listed_on(day))
    report = sync_fiche_batch(crm, redis, database, fiche_ids, force=False, settings=settings)
    if report.failures:
        context.log.warning("%d fiche(s) failed; first: %s", len(report.failures), next(iter(report.failures.items())))
    if job_id := context.run.tags.get("app/job_id"):  # a day of a progressive fetch (API backfill)
        announce_fetch_progress(database, redis, job_id, day, context.run.run_id, base_url=settings.api_base_url)
    return report.as_result()


def announce_fetch_progress(
    database: DatabaseResource,
    redis: RedisResource,
    job_id: str,
    day: dt.date,
    run_id: str,
    *,
    base_url: str,
    run_failed: bool = False,
) -> None:
    """`fiches.progressive_fetch.progress` on the job's topic (or `.complete` / `.failed` for the job's
    last day, and a `notification` on its requester's topic); best-effort, like every event: the job
    row, and the outbox event queued with its conclusion, stay the record. `run_failed`: the day's
    run failed (see `publish_run_failures`)."""
    with database.session() as session:
        found = day_fetched(session, job_id, day, run_id=run_id, base_url=base_url, run_failed=run_failed)
    if not found:
        return
    client = redis.sync_client()
    try:
        publisher = redis.publisher(client)
        for topic, event, payload in found:
            publisher.publish(topic, event, payload)
    except RedisUnavailable as exc:
        log.warning("progress of job %s not published: %s", job_id, exc)
    finally:
        client.close()


def sync_fiche_batch(
    crm: CrmResource,
    redis: RedisResource,
    database: DatabaseResource,
    fiche_ids: list[str],
    *,
    force: bool,
    settings: Settings,
) -> BatchResult:
    """Fetch the given fiches cache-first; raises only what no fiche could survive (see `FicheSync`)."""

    async def work(sync: FicheSync) -> tuple[BatchReport, int]:
        report = await sync.sync_fiches(fiche_ids, force=force)
        linked = await sync.link_groups() if report.counts.get("fetched") else 0
        return report, linked

    (report, linked), crm_metrics = run_with_crm(
        crm, redis, database, crm.fetch_concurrency, work, settings=settings, fatal=(CrmError,)
    )
    return BatchResult(report, crm_metrics, linked)


@dg.asset_check(asset=fiche_details, description="Every fiche of the day has details or a terminal outcome.")
def fiche_details_settled(context: dg.AssetCheckExecutionContext, database: DatabaseResource) -> dg.AssetCheckResult:
    partition = context.run.tags.get("dagster/partition")
    day = dt.date.fromisoformat(partition) if partition else None
    with database.session() as session:
        counts = fetch_status_counts(session, day)
    unsettled = counts.get(FicheFetchStatus.SUMMARY, 0) + counts.get(FicheFetchStatus.FAILED, 0)
    return dg.AssetCheckResult(
        passed=unsettled == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"unsettled": unsettled, **counts},
    )
