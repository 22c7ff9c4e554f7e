"""Progressive fetches (`FicheFetchJob`): which of a job's days are done, failed or to come, and the
`fiches.progressive_fetch.*` events that say so.

A day is done once fetched (search and every fiche's details settled) since the job started, or
already fetched before it for a job that does not refresh; failed when its search failed (or it was
not searched) since the job started, or when the job's run for it failed (recorded on the job, since
a run that dies leaves the day's coverage as it was). The API's job report and the pipeline's runs
classify days with the same rule, so a poll and an event never disagree.

The first of them to see every day settled concludes the job and queues its webhook
(`fiches.progressive_fetch.complete|failed`) in the outbox, in the transaction that concludes it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from domain.events import Event
from domain.models.fiches import DayCoverageStatus, Fiche, FicheFetchStatus, SalesDayCoverage
from domain.models.jobs import FicheFetchJob, FicheFetchJobStatus
from domain.outbox.queue import enqueue

UNSETTLED = (FicheFetchStatus.SUMMARY.value, FicheFetchStatus.FAILED.value)
RUNS_FAILED = "days_run_failed"


@dataclass(frozen=True)
class DayState:
    fetched: bool  # searched, and every fiche listed has details or a terminal outcome
    searched: bool
    error: str | None
    updated_at: dt.datetime | None


@dataclass(frozen=True)
class DayOutcomes:
    done: list[dt.date]
    failed: list[dt.date]
    remaining: list[dt.date]


def classify_days(
    days: Sequence[dt.date],
    states: Mapping[dt.date, DayState],
    *,
    since: dt.datetime,
    refresh: bool,
    runs_failed: Collection[dt.date] = (),
) -> DayOutcomes:
    done, failed = [], []
    for day in days:
        state = states.get(day)
        if state is None:
            if day in runs_failed:
                failed.append(day)
            continue
        recent = state.updated_at is not None and state.updated_at > since
        if state.fetched and (not refresh or recent) and not (recent and state.error):
            done.append(day)
        elif (recent and (state.error or not state.searched)) or day in runs_failed:
            failed.append(day)  # details still to come are not a failure, unless their run died
    return DayOutcomes(done, failed, [d for d in days if d not in done and d not in failed])


def day_states(session: Session, days: Sequence[dt.date]) -> dict[dt.date, DayState]:
    unsettled = dict(
        session.execute(
            select(Fiche.sales_date, func.count())
            .where(Fiche.sales_date.in_(list(days)), Fiche.fetch_status.in_(UNSETTLED))
            .group_by(Fiche.sales_date)
        ).all()
    )
    rows = session.scalars(select(SalesDayCoverage).where(SalesDayCoverage.sales_date.in_(list(days))))
    states = {}
    for row in rows:
        searched = row.status == DayCoverageStatus.FETCHED
        fetched = searched and not unsettled.get(row.sales_date, 0)
        states[row.sales_date] = DayState(fetched, searched, row.error, row.updated_at)
    return states


def job_days(job: FicheFetchJob) -> list[dt.date]:
    return [dt.date.fromisoformat(d) for d in job.days]


def runs_failed(job: FicheFetchJob) -> set[dt.date]:
    """The days whose run failed while the job was going (`result` holds them until it concludes)."""
    return {dt.date.fromisoformat(d) for d in (job.result or {}).get(RUNS_FAILED, [])}


def fiches_in_range(job: FicheFetchJob) -> Any:
    """`totalFiches`: the fiches cached for the job's date range so far (the days it fetches and those
    already cached), every group's, recounted at each event as the reference does; the fiches
    themselves (`partialData`) are sent only as far as the receiver's scope reaches."""
    return select(func.count()).where(Fiche.sales_date.between(job.start_date, job.end_date))


def fetch_payload(
    job: FicheFetchJob, outcomes: DayOutcomes, *, total_fiches: int, run_id: str | None
) -> dict[str, Any]:
    """The reference's payload (camelCase, §11.4) of every `fiches.progressive_fetch.*` event."""
    total = len(job.days)
    settled = len(outcomes.done) + len(outcomes.failed)
    return {
        "run_id": run_id,
        "jobId": job.id,
        "status": job.status,
        "startDate": job.start_date.isoformat(),
        "endDate": job.end_date.isoformat(),
        "progress": round(100 * settled / total) if total else 100,
        "completedDays": len(outcomes.done),
        "totalDays": total,
        "totalFiches": total_fiches,
        "datesCompleted": [d.isoformat() for d in outcomes.done],
        "datesRemaining": [d.isoformat() for d in outcomes.remaining],
        "datesFailed": [d.isoformat() for d in outcomes.failed],
    }


def data_url(base_url: str, job: FicheFetchJob) -> str:
    """Where the whole range is listed once the job is complete (the reference's `dataUrl`)."""
    query = urlencode({"start_date": job.start_date.isoformat(), "end_date": job.end_date.isoformat()})
    return f"{base_url.rstrip('/')}/api/fiches/status/by-date-range?{query}"


def announce_outcome(
    session: Session | AsyncSession,
    job: FicheFetchJob,
    outcomes: DayOutcomes,
    *,
    total_fiches: int,
    run_id: str | None,
    base_url: str | None,
) -> dict[str, Any]:
    """Queue the job's webhook event (`fiches.progressive_fetch.complete|failed`) in the caller's
    transaction, the one that concludes the job; returns its payload (also the realtime event's)."""
    complete = job.status == FicheFetchJobStatus.COMPLETE
    payload = fetch_payload(job, outcomes, total_fiches=total_fiches, run_id=run_id)
    payload |= {"status": "complete" if complete else "failed", "progress": 100, "error": job.error}
    if complete and base_url:
        payload["dataUrl"] = data_url(base_url, job)
    event = Event.PROGRESSIVE_FETCH_COMPLETE if complete else Event.PROGRESSIVE_FETCH_FAILED
    enqueue(session, event.value, payload, job_id=job.id, actor_user_id=job.requested_by_id)
    return payload


def day_fetched(
    session: Session,
    job_id: str,
    day: dt.date,
    *,
    run_id: str | None,
    base_url: str | None,
    run_failed: bool = False,
) -> tuple[Event, dict[str, Any]] | None:
    """The event to publish after a run fetched `day` for the job (or failed to: `run_failed`):
    progress, or, once every day is settled, the job concluded here (once: the first run to see it
    settled) as complete or failed, its webhook queued in the caller's transaction."""
    job = session.get(FicheFetchJob, job_id, with_for_update=True)  # runs of one job conclude it in turn
    if job is None or job.status != FicheFetchJobStatus.LAUNCHED:
        return None
    failed_runs = runs_failed(job)
    if run_failed and day not in failed_runs:
        failed_runs.add(day)
        job.result = {**(job.result or {}), RUNS_FAILED: sorted(d.isoformat() for d in failed_runs)}
    days = job_days(job)
    outcomes = classify_days(
        days, day_states(session, days), since=job.created_at, refresh=job.refresh, runs_failed=failed_runs
    )
    total_fiches = session.scalar(fiches_in_range(job)) or 0
    if outcomes.remaining:
        payload = fetch_payload(job, outcomes, total_fiches=total_fiches, run_id=run_id)
        return Event.PROGRESSIVE_FETCH_PROGRESS, {**payload, "latestDate": day.isoformat(), "status": "processing"}
    conclude(job, outcomes)
    session.flush()
    payload = announce_outcome(session, job, outcomes, total_fiches=total_fiches, run_id=run_id, base_url=base_url)
    event = (
        Event.PROGRESSIVE_FETCH_COMPLETE
        if job.status == FicheFetchJobStatus.COMPLETE
        else Event.PROGRESSIVE_FETCH_FAILED
    )
    return event, payload


def conclude(job: FicheFetchJob, outcomes: DayOutcomes) -> None:
    """Every day settled: the job is complete, or failed when any day failed."""
    job.status = (FicheFetchJobStatus.FAILED if outcomes.failed else FicheFetchJobStatus.COMPLETE).value
    job.result = {
        "days_done": len(outcomes.done),
        "days_failed": len(outcomes.failed),
        "dates_failed": [str(d) for d in outcomes.failed],
    }
    job.error = f"{len(outcomes.failed)} day(s) failed" if outcomes.failed else None
