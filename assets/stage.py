"""How an asset or op runs a stage service: one helper for the three stages, and what a day run
drains (`services.drain`)."""

import contextlib
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import TypeVar

import dagster as dg
from redis.asyncio import Redis as AsyncRedis
from sqlalchemy import Select

from callaudit.settings import Settings
from resources.database import DatabaseResource
from resources.redis.resource import RedisResource
from services.drain import Feed

#: Runs that may still be working: a queued one will.
IN_PROGRESS = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]

T = TypeVar("T")


def run_stage(
    redis: RedisResource,
    work: Callable[[AsyncRedis], Awaitable[T]],
    *,
    fatal: tuple[type[Exception], ...] = (),
) -> T:
    """Run `work` in a fresh event loop with its own Redis client (assets and ops are synchronous,
    their I/O is not). What no fiche could survive (`fatal`: credentials refused, the global caps
    unavailable) fails the step with its message alone, as a `dg.Failure`; one fiche's failure is
    the service's to record and never reaches here."""
    try:
        return redis.run(work)
    except fatal as exc:
        raise dg.Failure(description=str(exc)) from None


def runs_in_progress(instance: dg.DagsterInstance, tags: dict[str, str], *, job_name: str | None = None) -> list[str]:
    """Ids of the runs with these tags (a partition's) not yet ended."""
    runs = instance.get_runs(filters=dg.RunsFilter(job_name=job_name, statuses=IN_PROGRESS, tags=tags))
    return [run.run_id for run in runs]


#: Run tag of the day-stage jobs: the assets their runs materialize (comma-separated). A run of a
#: whole asset job carries no `asset_selection` (only a subset, e.g. a backfill, does), so the jobs
#: say it in a tag (`orchestration/jobs.py`) and assets need not know job names.
MATERIALIZES_TAG = "callaudit/materializes"


def works_on(run: dg.DagsterRun, upstream: set[dg.AssetKey]) -> bool:
    """Whether the run materializes an asset of `upstream`."""
    if run.asset_selection:
        return bool(run.asset_selection & upstream)
    named = {dg.AssetKey(name) for name in run.tags.get(MATERIALIZES_TAG, "").split(",") if name}
    return bool(named & upstream)


def days_being_worked(
    instance: dg.DagsterInstance, upstream: set[dg.AssetKey], *, first_day: dt.date, last_day: dt.date
) -> dict[dt.date, str]:
    """Sales days (partitions) a run materializing an asset of `upstream` has not finished: day -> run id."""
    days: dict[dt.date, str] = {}
    for run in instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS)):
        key = run.tags.get("dagster/partition", "")
        if not works_on(run, upstream) or len(key) != len("2026-01-01"):
            continue
        with contextlib.suppress(ValueError):
            day = dt.date.fromisoformat(key)
            if first_day <= day <= last_day:
                days.setdefault(day, run.run_id)
    return days


def day_feed(
    context: dg.AssetExecutionContext,
    database: DatabaseResource,
    settings: Settings,
    ready: Select[str],
    upstream: set[dg.AssetKey],
) -> Feed:
    """What the day run of `context`'s partition takes: the fiches `ready` selects, while a run of the
    same sales day materializing an asset of `upstream` has not ended."""
    key = context.partition_key
    day = key.keys_by_dimension["sales_day"] if isinstance(key, dg.MultiPartitionKey) else key

    def ready_now() -> list[str]:
        with database.session() as session:
            return list(session.scalars(ready))

    def upstream_active() -> bool:
        runs = context.instance.get_runs(filters=dg.RunsFilter(statuses=IN_PROGRESS, tags={"dagster/partition": day}))
        return any(works_on(run, upstream) for run in runs)

    def run_active(run_id: str) -> bool:
        run = context.instance.get_run_by_id(run_id)
        return run is not None and run.status in IN_PROGRESS

    return Feed(ready_now, upstream_active, settings.day_run_poll_seconds, settings.day_run_linger_seconds, run_active)
