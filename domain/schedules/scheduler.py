"""One tick of the scheduler sensor, on the database: reconcile, then create the runs that are due.

The sensor turns the returned `DueRun`s into Dagster run requests keyed `sched:{id}:{due_at}`; a
run row is unique per (schedule, due time), so two ticks, a restart or two daemons make one run.
A schedule with `maxConcurrentRuns` runs still pending or running is not planned until one ends (its
due time, if still within the window, runs then; later, it is recorded as missed); Dagster's run queue
holds the cap too, for manual triggers (`runs.contract.schedule_limit_tag`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from domain.models.automation import AutomationRun, LogLevel, RunStatus
from domain.schedules.launch import run_key
from domain.schedules.runner import reconcile_stale
from domain.schedules.store import (
    active_due_schedules,
    active_runs,
    add_log,
    create_run,
    last_due,
    requestable_runs,
    stale_runs,
    timing_of,
)
from domain.schedules.timing import TimingError, plan_tick

#: Dagster run statuses after which nothing will finish the automation run.
ENDED = ("FAILURE", "CANCELED", "SUCCESS")


#: How many times a run whose Dagster run died (a killed daemon or worker) is asked for again.
MAX_RESUMES = 2


@dataclass(frozen=True)
class DueRun:
    run_id: int
    schedule_id: int
    schedule_name: str
    due_at: dt.datetime | None
    priority: str
    resumes: int = 0
    max_concurrent_runs: int = 1

    @property
    def key(self) -> str:
        return run_key(self.schedule_id, self.due_at, run_id=self.run_id, resumes=self.resumes)


@dataclass(frozen=True)
class TickSettings:
    window: dt.timedelta
    stale_after: dt.timedelta  # threshold + grace


def reconcile(
    session: Session, *, now: dt.datetime, stale_after: dt.timedelta, dagster_status: Callable[[str], str | None]
) -> list[int]:
    """Resume runs whose Dagster run ended without finishing them (at most `MAX_RESUMES` times, then fail
    them), and fail runs older than the stale limit."""
    ended = [
        run
        for run in stale_runs(session, started_before=now)
        # pending too: a triggered run's Dagster run can die before its op starts
        if run.dagster_run_id and dagster_status(run.dagster_run_id) in ENDED
    ]
    done = []
    for run in ended:
        if run.resumes < MAX_RESUMES:
            message = f"Its Dagster run {run.dagster_run_id} ended before the run finished: resumed"
            run.status, run.dagster_run_id, run.resumes = RunStatus.PENDING, None, run.resumes + 1
            add_log(session, run.id, LogLevel.WARNING, message, {"resume": run.resumes})
            done.append(run.id)
    done += reconcile_stale(
        session,
        [run for run in ended if run.id not in done],
        now=now,
        why=lambda r: f"Its Dagster run {r.dagster_run_id} ended before the run finished ({MAX_RESUMES} resumes)",
    )
    old = [run for run in stale_runs(session, started_before=now - stale_after) if run.id not in done]
    minutes = int(stale_after.total_seconds() // 60)
    done += reconcile_stale(session, old, now=now, why=lambda r: f"Marked stale by the scheduler after {minutes} min")
    return done


def tick(
    session: Session, *, now: dt.datetime, settings: TickSettings, dagster_status: Callable[[str], str | None]
) -> list[DueRun]:
    reconcile(session, now=now, stale_after=settings.stale_after, dagster_status=dagster_status)
    due: dict[int, DueRun] = {}
    for schedule in active_due_schedules(session):
        if active_runs(session, schedule.id) >= schedule.max_concurrent_runs:
            continue
        # An edit restarts the count: due times of the timing it replaced are not missed ones.
        since = max(last_due(session, schedule.id) or schedule.created_at, schedule.updated_at)
        try:
            plan = plan_tick(
                timing_of(schedule), ZoneInfo(schedule.timezone), since=since, now=now, window=settings.window
            )
        except (TimingError, ValueError):
            continue  # validated on write; a schedule broken since is left alone, not retried every tick
        if plan.missed:
            missed = create_run(
                session,
                schedule,
                trigger="schedule",
                due_at=plan.missed[-1],
                status=RunStatus.MISSED,
                extra={"missedDueTimes": [d.isoformat() for d in plan.missed], "missedCount": len(plan.missed)},
            )
            add_log(
                session,
                missed,
                LogLevel.WARNING,
                f"{len(plan.missed)} due time(s) missed: the scheduler did not run within the catch-up window",
                {"first": plan.missed[0].isoformat(), "last": plan.missed[-1].isoformat()},
            )
        if plan.run_at is not None:
            run_id = create_run(session, schedule, trigger="schedule", due_at=plan.run_at)
            add_log(
                session, run_id, LogLevel.INFO, "Due: requested by the scheduler", {"due_at": plan.run_at.isoformat()}
            )
            due[run_id] = DueRun(
                run_id,
                schedule.id,
                schedule.name,
                plan.run_at,
                schedule.transcription_priority,
                max_concurrent_runs=schedule.max_concurrent_runs,
            )
    # Runs a previous tick created but Dagster may not have recorded, and resumed runs (same run key: once).
    for run in requestable_runs(session):
        if run.id not in due:
            due[run.id] = _due(run)
    return list(due.values())


def _due(run: AutomationRun) -> DueRun:
    snapshot = run.config_snapshot
    return DueRun(
        run.id,
        run.schedule_id,
        str(snapshot.get("scheduleName", "")),
        run.due_at,
        str(snapshot.get("transcriptionPriority", "normal")),
        run.resumes,
        int(snapshot.get("maxConcurrentRuns") or 1),
    )
