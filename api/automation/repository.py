"""The SQL of the automation routes: schedules and runs in the caller's scope, their logs and results.

Sync functions over a `Session`, as the rules they sit beside (`domain.schedules.store`); the router
runs them with `run_sync`. Scope is `schedule_scope_clause`: a run is in reach when its schedule is.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Row, Select, func, select
from sqlalchemy.orm import Session

from domain.models.automation import (
    AutomationLog,
    AutomationRun,
    AutomationRunFicheResult,
    AutomationSchedule,
    LogLevel,
    RunStatus,
)
from domain.schedules.store import schedule_scope_clause
from domain.scoping import ScopeSubject


def _runs_in_scope(subject: ScopeSubject) -> Select[AutomationRun]:
    return (
        select(AutomationRun)
        .join(AutomationSchedule, AutomationSchedule.id == AutomationRun.schedule_id)
        .where(schedule_scope_clause(subject))
    )


def visible_schedule(session: Session, subject: ScopeSubject, schedule_id: int) -> AutomationSchedule | None:
    statement = select(AutomationSchedule).where(AutomationSchedule.id == schedule_id, schedule_scope_clause(subject))
    return session.scalar(statement)


def visible_run(session: Session, subject: ScopeSubject, run_id: int) -> AutomationRun | None:
    return session.scalar(_runs_in_scope(subject).where(AutomationRun.id == run_id))


def schedules(session: Session, subject: ScopeSubject, *, include_inactive: bool) -> list[AutomationSchedule]:
    """The schedules in scope, by id."""
    statement = select(AutomationSchedule).where(schedule_scope_clause(subject)).order_by(AutomationSchedule.id)
    if not include_inactive:
        statement = statement.where(AutomationSchedule.is_active)
    return list(session.scalars(statement))


def last_runs(session: Session, schedule_id: int, limit: int) -> list[AutomationRun]:
    statement = (
        select(AutomationRun)
        .where(AutomationRun.schedule_id == schedule_id)
        .order_by(AutomationRun.created_at.desc(), AutomationRun.id.desc())
        .limit(limit)
    )
    return list(session.scalars(statement))


def runs_page(
    session: Session, subject: ScopeSubject, schedule_id: int | None, *, limit: int, offset: int
) -> tuple[list[AutomationRun], int]:
    """Runs in scope (of one schedule, or all), newest first, and how many there are."""
    statement = _runs_in_scope(subject)
    if schedule_id is not None:
        statement = statement.where(AutomationRun.schedule_id == schedule_id)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = session.scalars(
        statement.order_by(AutomationRun.created_at.desc(), AutomationRun.id.desc()).limit(limit).offset(offset)
    )
    return list(rows), int(total)


def run_logs(
    session: Session, run_id: int, *, level: LogLevel | None = None, limit: int | None = None
) -> list[AutomationLog]:
    """The run's log lines, oldest first."""
    statement = select(AutomationLog).where(AutomationLog.run_id == run_id)
    if level is not None:
        statement = statement.where(AutomationLog.level == level)
    return list(session.scalars(statement.order_by(AutomationLog.id).limit(limit)))


def run_results(session: Session, run_id: int) -> list[AutomationRunFicheResult]:
    """One row per selected fiche, by fiche id."""
    statement = (
        select(AutomationRunFicheResult)
        .where(AutomationRunFicheResult.run_id == run_id)
        .order_by(AutomationRunFicheResult.fiche_id)
    )
    return list(session.scalars(statement))


def active_schedules_by_type(session: Session, subject: ScopeSubject) -> dict[str, int]:
    """Active schedules in scope, counted per schedule type."""
    statement = (
        select(AutomationSchedule.schedule_type, func.count())
        .where(schedule_scope_clause(subject), AutomationSchedule.is_active)
        .group_by(AutomationSchedule.schedule_type)
    )
    return {str(kind): int(count) for kind, count in session.execute(statement).all()}


def recent_runs(
    session: Session, subject: ScopeSubject, since: dt.datetime
) -> Sequence[Row[str, dt.datetime, dt.datetime | None]]:
    """(status, created_at, completed_at) of the runs in scope still pending or running, or created since `since`."""
    statement = (
        select(AutomationRun.status, AutomationRun.created_at, AutomationRun.completed_at)
        .join(AutomationSchedule, AutomationSchedule.id == AutomationRun.schedule_id)
        .where(schedule_scope_clause(subject))
        .where((AutomationRun.status.in_((RunStatus.PENDING, RunStatus.RUNNING))) | (AutomationRun.created_at >= since))
    )
    return session.execute(statement).all()


def mark_not_started(session: Session, run_id: int, reason: str, at: dt.datetime) -> None:
    """The run failed before Dagster took it."""
    run = session.get_one(AutomationRun, run_id)
    run.status = RunStatus.FAILED
    run.error_message = f"Could not be started: {reason}"
    run.completed_at = at


def attach_dagster_run(session: Session, run_id: int, dagster_run_id: str) -> None:
    """Link the run to its Dagster run, unless the run itself already did."""
    run = session.get_one(AutomationRun, run_id)
    run.dagster_run_id = run.dagster_run_id or dagster_run_id
