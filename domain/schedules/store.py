"""Schedules and runs in Postgres: scope, timing, run rows, logs, results, statistics (sync sessions;
the API calls these through `run_sync`, the sensor and the run directly)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, false, func, select, true, update
from sqlalchemy.dialects.postgresql import array, insert
from sqlalchemy.orm import Session

from callaudit.logging import redact
from domain.models.auth import Team
from domain.models.automation import (
    ACTIVE_RUN_STATUSES,
    AutomationLog,
    AutomationRun,
    AutomationRunFicheResult,
    AutomationSchedule,
    LogLevel,
    RunStatus,
    ScheduleType,
)
from domain.models.fiches import Fiche
from domain.rbac import Scope
from domain.schedules.results import FicheOutcome, Tally
from domain.schedules.selection import DateRange, FicheSelection, SelectionMode
from domain.schedules.timing import Timing
from domain.scoping import ScopeSubject


def schedule_scope_clause(subject: ScopeSubject) -> ColumnElement[bool]:
    """ALL: every schedule. GROUP: schedules whose groups all belong to the caller's teams (a schedule
    with no group acts on every fiche: ALL only). SELF: none (a schedule acts on groups, not one person's fiches)."""
    if subject.scope is Scope.ALL:
        return true()
    if subject.scope is Scope.GROUP and subject.crm_group_ids:
        groups = AutomationSchedule.scope_group_ids
        return and_(func.cardinality(groups) > 0, groups.contained_by(array(sorted(subject.crm_group_ids))))
    return false()


def resolve_group_ids(session: Session, groupes: Collection[str]) -> list[str]:
    """The CRM group ids `groupes` name: a team's CRM group id or name, or a groupe seen on fiches."""
    if not groupes:
        return []
    wanted = list(groupes)
    ids: set[str] = set()
    for group_id, name in session.execute(select(Team.crm_group_id, Team.name).where(Team.crm_group_id.is_not(None))):
        if group_id in wanted or name in wanted:
            ids.add(str(group_id))
    ids.update(
        g
        for g in session.scalars(
            select(Fiche.crm_group_id).where(Fiche.groupe.in_(wanted), Fiche.crm_group_id.is_not(None)).distinct()
        )
        if g
    )
    return sorted(ids)


def timing_of(schedule: AutomationSchedule) -> Timing:
    return Timing(
        ScheduleType(schedule.schedule_type),
        cron_expression=schedule.cron_expression,
        time_of_day=schedule.time_of_day,
        day_of_week=schedule.day_of_week,
        day_of_month=schedule.day_of_month,
    )


def selection_of(schedule: AutomationSchedule) -> FicheSelection:
    return FicheSelection(
        mode=SelectionMode(schedule.fiche_selection_mode),
        date_range=DateRange(schedule.fiche_selection_date_range) if schedule.fiche_selection_date_range else None,
        custom_start_date=schedule.fiche_selection_custom_start_date,
        custom_end_date=schedule.fiche_selection_custom_end_date,
        groupes=tuple(schedule.fiche_selection_groupes),
        only_with_recordings=schedule.fiche_selection_only_with_recordings,
        only_unaudited=schedule.fiche_selection_only_unaudited,
        use_rlm=schedule.fiche_selection_use_rlm,
        max_fiches=schedule.fiche_selection_max_fiches,
        max_recordings_per_fiche=schedule.fiche_selection_max_recordings_per_fiche,
        fiche_ids=tuple(schedule.fiche_selection_fiche_ids),
    )


#: The `FicheSelection` field behind each `fiche_selection_*` column.
SELECTION_COLUMNS = {
    "mode": "fiche_selection_mode",
    "date_range": "fiche_selection_date_range",
    "custom_start_date": "fiche_selection_custom_start_date",
    "custom_end_date": "fiche_selection_custom_end_date",
    "groupes": "fiche_selection_groupes",
    "only_with_recordings": "fiche_selection_only_with_recordings",
    "only_unaudited": "fiche_selection_only_unaudited",
    "use_rlm": "fiche_selection_use_rlm",
    "max_fiches": "fiche_selection_max_fiches",
    "max_recordings_per_fiche": "fiche_selection_max_recordings_per_fiche",
    "fiche_ids": "fiche_selection_fiche_ids",
}


def selection_as_json(selection: FicheSelection) -> dict[str, Any]:
    """The selection as stored in a run's config snapshot (the API's camelCase)."""
    return {
        "mode": selection.mode.value,
        "dateRange": selection.date_range.value if selection.date_range else None,
        "customStartDate": selection.custom_start_date.isoformat() if selection.custom_start_date else None,
        "customEndDate": selection.custom_end_date.isoformat() if selection.custom_end_date else None,
        "groupes": list(selection.groupes),
        "onlyWithRecordings": selection.only_with_recordings,
        "onlyUnaudited": selection.only_unaudited,
        "useRlm": selection.use_rlm,
        "maxFiches": selection.max_fiches,
        "maxRecordingsPerFiche": selection.max_recordings_per_fiche,
        "ficheIds": list(selection.fiche_ids),
    }


def selection_from_json(data: Mapping[str, Any]) -> FicheSelection:
    def day(value: Any) -> dt.date | None:
        return dt.date.fromisoformat(value) if value else None

    return FicheSelection(
        mode=SelectionMode(data.get("mode") or "date_range"),
        date_range=DateRange(data["dateRange"]) if data.get("dateRange") else None,
        custom_start_date=day(data.get("customStartDate")),
        custom_end_date=day(data.get("customEndDate")),
        groupes=tuple(data.get("groupes") or ()),
        only_with_recordings=bool(data.get("onlyWithRecordings")),
        only_unaudited=bool(data.get("onlyUnaudited")),
        use_rlm=bool(data.get("useRlm")),
        max_fiches=data.get("maxFiches"),
        max_recordings_per_fiche=data.get("maxRecordingsPerFiche"),
        fiche_ids=tuple(data.get("ficheIds") or ()),
    )


def snapshot(
    schedule: AutomationSchedule, *, override: FicheSelection | None, due_at: dt.datetime | None
) -> dict[str, Any]:
    """What the run executes, frozen at creation: an edit of the schedule never changes a run in flight."""
    return {
        "scheduleName": schedule.name,
        "scheduleType": schedule.schedule_type,
        "timezone": schedule.timezone,
        "dueAt": due_at.isoformat() if due_at else None,
        "overrideFicheSelection": override is not None,
        "ficheSelection": selection_as_json(override or selection_of(schedule)),
        "scopeGroupIds": list(schedule.scope_group_ids),
        "runTranscription": schedule.run_transcription,
        "skipIfTranscribed": schedule.skip_if_transcribed,
        "transcriptionPriority": schedule.transcription_priority,
        "runAudits": schedule.run_audits,
        "useAutomaticAudits": schedule.use_automatic_audits,
        "specificAuditConfigs": list(schedule.specific_audit_configs),
        "continueOnError": schedule.continue_on_error,
        "retryFailed": schedule.retry_failed,
        "maxRetries": schedule.max_retries,
        "maxConcurrentRuns": schedule.max_concurrent_runs,
        "notifyOnComplete": schedule.notify_on_complete,
        "notifyOnError": schedule.notify_on_error,
        "webhookUrl": schedule.webhook_url,
        "notifyEmails": list(schedule.notify_emails),
    }


def create_run(
    session: Session,
    schedule: AutomationSchedule,
    *,
    trigger: str,
    due_at: dt.datetime | None = None,
    user_id: int | None = None,
    override: FicheSelection | None = None,
    status: RunStatus = RunStatus.PENDING,
    extra: Mapping[str, Any] | None = None,
) -> int:
    """The run's row (its id); for a due time, the existing row when a previous tick made it."""
    values = {
        "schedule_id": schedule.id,
        "status": status,
        "trigger": trigger,
        "triggered_by_id": user_id,
        "due_at": due_at,
        "config_snapshot": {**snapshot(schedule, override=override, due_at=due_at), **(extra or {})},
    }
    if due_at is None:
        run = AutomationRun(**values)
        session.add(run)
        session.flush()
        return run.id
    session.execute(
        insert(AutomationRun).values(**values).on_conflict_do_nothing(index_elements=["schedule_id", "due_at"])
    )
    run_id = session.scalar(
        select(AutomationRun.id).where(AutomationRun.schedule_id == schedule.id, AutomationRun.due_at == due_at)
    )
    assert run_id is not None
    return run_id


def last_due(session: Session, schedule_id: int) -> dt.datetime | None:
    return session.scalar(select(func.max(AutomationRun.due_at)).where(AutomationRun.schedule_id == schedule_id))


def active_runs(session: Session, schedule_id: int) -> int:
    """How many of the schedule's runs are pending or running."""
    return (
        session.scalar(
            select(func.count())
            .select_from(AutomationRun)
            .where(AutomationRun.schedule_id == schedule_id, AutomationRun.status.in_(ACTIVE_RUN_STATUSES))
        )
        or 0
    )


def add_log(
    session: Session, run_id: int, level: LogLevel, message: str, metadata: Mapping[str, Any] | None = None
) -> None:
    """A run log line; metadata goes through the log scrubber (no secret in the table)."""
    clean = {k: redact(v) if isinstance(v, str) else v for k, v in (metadata or {}).items()}
    session.add(AutomationLog(run_id=run_id, level=level, message=redact(message), metadata_=clean))


def save_results(session: Session, run_id: int, outcomes: Iterable[FicheOutcome]) -> None:
    """Replace the run's per-fiche rows (a retried run writes its final outcomes once)."""
    session.execute(delete(AutomationRunFicheResult).where(AutomationRunFicheResult.run_id == run_id))
    session.add_all(
        AutomationRunFicheResult(
            run_id=run_id,
            fiche_id=o.fiche_id,
            status=o.status,
            error=o.error,
            ignore_reason=o.ignore_reason,
            recordings_count=o.recordings,
            transcribed=o.transcribed,
            audit_ids=list(o.audit_ids),
            attempts=o.attempts,
        )
        for o in outcomes
    )


def finish_run(
    session: Session,
    run: AutomationRun,
    tally: Tally,
    *,
    now: dt.datetime,
    status: RunStatus | None = None,
    error: str | None = None,
    details: dict[str, Any] | None = None,
) -> RunStatus:
    """Counters, status, timings, and the schedule's statistics (once per run)."""
    final = status or tally.status()
    first_finish = run.completed_at is None
    run.status = final
    run.total_fiches = tally.total
    run.successful_fiches = tally.successful
    run.failed_fiches = tally.failed
    run.ignored_fiches = tally.ignored
    run.transcriptions_run = tally.transcriptions
    run.audits_run = tally.audits
    run.error_message = error
    run.error_details = details
    run.completed_at = now
    run.duration_ms = int((now - (run.started_at or run.created_at)).total_seconds() * 1000)
    if first_finish:
        record_stats(session, run.schedule_id, final, now)
    return final


def record_stats(session: Session, schedule_id: int, status: RunStatus, now: dt.datetime) -> None:
    last = {RunStatus.COMPLETED: "success", RunStatus.PARTIAL: "partial"}.get(status, "failed")
    session.execute(
        update(AutomationSchedule)
        .where(AutomationSchedule.id == schedule_id)
        .values(
            total_runs=AutomationSchedule.total_runs + 1,
            successful_runs=AutomationSchedule.successful_runs + (1 if status is RunStatus.COMPLETED else 0),
            failed_runs=AutomationSchedule.failed_runs + (1 if status is RunStatus.FAILED else 0),
            last_run_at=now,
            last_run_status=last,
        )
    )


def stale_runs(session: Session, *, started_before: dt.datetime) -> Sequence[AutomationRun]:
    """Runs still pending or running that started (or were created) before the stale limit."""
    started = func.coalesce(AutomationRun.started_at, AutomationRun.created_at)
    return session.scalars(
        select(AutomationRun).where(AutomationRun.status.in_(ACTIVE_RUN_STATUSES), started <= started_before)
    ).all()


def active_due_schedules(session: Session) -> Sequence[AutomationSchedule]:
    return session.scalars(
        select(AutomationSchedule)
        .where(AutomationSchedule.is_active, AutomationSchedule.schedule_type != ScheduleType.MANUAL)
        .order_by(AutomationSchedule.id)
    ).all()


def requestable_runs(session: Session) -> Sequence[AutomationRun]:
    """Runs the sensor asks Dagster for (again): scheduled ones not started yet, and resumed ones; under
    the same run key each time, so Dagster starts each at most once."""
    return session.scalars(
        select(AutomationRun).where(
            AutomationRun.status == RunStatus.PENDING,
            AutomationRun.dagster_run_id.is_(None),
            (AutomationRun.trigger == "schedule") | (AutomationRun.resumes > 0),
        )
    ).all()
