"""Progressive fetches (`FicheFetchJob`): which of a job's days are done, failed or to come, and the
`fiches.progressive_fetch.*` events that say so.

A day is done once fetched (search and every fiche's details settled) since the job started, or
already fetched before it for a job that does not refresh; failed when its search failed (or it was
not searched) since the job started. The API's job report and the pipeline's runs classify days
with the same rule, so a poll and an event never disagree.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from domain.events import Event
from domain.models.fiches import DayCoverageStatus, Fiche, FicheFetchStatus, SalesDayCoverage
from domain.models.jobs import FicheFetchJob, FicheFetchJobStatus

UNSETTLED = (FicheFetchStatus.SUMMARY.value, FicheFetchStatus.FAILED.value)


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
    days: Sequence[dt.date], states: Mapping[dt.date, DayState], *, since: dt.datetime, refresh: bool
) -> DayOutcomes:
    done, failed = [], []
    for day in days:
        state = states.get(day)
        if state is None:
            continue
        recent = state.updated_at is not None and state.updated_at > since
        if state.fetched and (not refresh or recent) and not (recent and state.error):
            done.append(day)
        elif recent and (state.error or not state.searched):  # details still to come are not a failure
            failed.append(day)
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


def day_fetched(
    session: Session, job_id: str, day: dt.date, *, run_id: str | None
) -> tuple[Event, dict[str, Any]] | None:
    """The event to publish after a run fetched `day` for the job: progress, or, once every day is
    settled, the job concluded here (once: the first run to see it settled) as complete or failed."""
    job = session.get(FicheFetchJob, job_id)
    if job is None or job.status != FicheFetchJobStatus.LAUNCHED:
        return None
    days = job_days(job)
    outcomes = classify_days(days, day_states(session, days), since=job.created_at, refresh=job.refresh)
    total_fiches = session.scalar(select(func.count()).where(Fiche.sales_date.in_(days))) or 0
    if outcomes.remaining:
        payload = fetch_payload(job, outcomes, total_fiches=total_fiches, run_id=run_id)
        return Event.PROGRESSIVE_FETCH_PROGRESS, {**payload, "latestDate": day.isoformat(), "status": "processing"}
    status = FicheFetchJobStatus.FAILED if outcomes.failed else FicheFetchJobStatus.COMPLETE
    concluded = session.execute(
        update(FicheFetchJob)
        .where(FicheFetchJob.id == job_id, FicheFetchJob.status == FicheFetchJobStatus.LAUNCHED)
        .values(
            status=status.value,
            result={
                "days_done": len(outcomes.done),
                "days_failed": len(outcomes.failed),
                "dates_failed": [str(d) for d in outcomes.failed],
            },
            error=f"{len(outcomes.failed)} day(s) failed" if outcomes.failed else None,
        )
    )
    if not concluded.rowcount:  # type: ignore[attr-defined]
        return None
    session.refresh(job)
    event = Event.PROGRESSIVE_FETCH_FAILED if outcomes.failed else Event.PROGRESSIVE_FETCH_COMPLETE
    return event, fetch_payload(job, outcomes, total_fiches=total_fiches, run_id=run_id)
