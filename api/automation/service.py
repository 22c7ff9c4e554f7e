"""Schedules as the API writes and reads them: validation of the merged configuration, scope, shapes.

Sync functions over a `Session` (the router runs them with `run_sync`), so the rules live beside
the domain store they write through.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.automation.schemas import (
    FailedFiche,
    FicheResultOut,
    FicheSelectionIn,
    FicheSelectionOut,
    IgnoredFiche,
    LogOut,
    ResultSummary,
    RunDetail,
    RunOut,
    ScheduleFields,
    ScheduleOut,
)
from api.errors import BadRequest
from api.security import Grant
from callaudit.secrets import Sealer
from domain.models.automation import (
    AutomationLog,
    AutomationRun,
    AutomationRunFicheResult,
    AutomationSchedule,
    FicheResultStatus,
    ScheduleType,
)
from domain.models.scorecards import Scorecard
from domain.outbox.secrets_box import SecretBox
from domain.rbac import Scope
from domain.schedules.selection import FicheSelection, SelectionMode, split_ids
from domain.schedules.store import SELECTION_COLUMNS, resolve_group_ids, selection_of, timing_of
from domain.schedules.timing import cron_of, next_due_times
from domain.schedules.webhook import set_schedule_webhook


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadRequest(f"Unknown time zone {name!r} (an IANA name such as Europe/Paris)", field="timezone") from None


def _check_selection(selection: FicheSelectionIn, field: str) -> FicheSelectionIn:
    if selection.mode is SelectionMode.MANUAL:
        ids = split_ids(selection.fiche_ids)
        if not ids:
            raise BadRequest("At least one fiche id is required in manual mode", field=f"{field}.ficheIds")
        return selection.model_copy(update={"fiche_ids": list(ids)})
    if selection.date_range is None:
        raise BadRequest("A date range is required (last_24h, yesterday, ...)", field=f"{field}.dateRange")
    if selection.date_range == "custom":
        if selection.custom_start_date is None:
            raise BadRequest("A custom range needs a start date", field=f"{field}.customStartDate")
        if selection.custom_end_date is not None and selection.custom_end_date < selection.custom_start_date:
            raise BadRequest("The end date is before the start date", field=f"{field}.customEndDate")
    return selection


def check_selection(selection: FicheSelectionIn, field: str = "ficheSelection") -> FicheSelection:
    checked = _check_selection(selection, field)
    return FicheSelection(
        mode=checked.mode,
        date_range=checked.date_range,
        custom_start_date=checked.custom_start_date,
        custom_end_date=checked.custom_end_date,
        groupes=tuple(dict.fromkeys(checked.groupes)),
        only_with_recordings=checked.only_with_recordings,
        only_unaudited=checked.only_unaudited,
        use_rlm=checked.use_rlm,
        max_fiches=checked.max_fiches,
        max_recordings_per_fiche=checked.max_recordings_per_fiche,
        fiche_ids=tuple(checked.fiche_ids),
    )


def scope_groups(session: Session, grant: Grant, groupes: tuple[str, ...], field: str) -> list[str]:
    """The CRM group ids of the schedule; a GROUP caller may only name groups of their teams."""
    ids = resolve_group_ids(session, groupes)
    if grant.scope is Scope.ALL:
        return ids
    if grant.scope is Scope.SELF:
        raise BadRequest("Schedules act on groups: your automation grant is limited to your own fiches", field=field)
    if not groupes:
        raise BadRequest("Choose the groups of your teams this schedule covers", field=f"{field}.groupes")
    outside = [g for g in groupes if not set(resolve_group_ids(session, (g,))) & grant.crm_group_ids]
    if outside or not set(ids) <= grant.crm_group_ids:
        raise BadRequest(
            f"Not among your teams' groups: {', '.join(outside) or 'some groups'}", field=f"{field}.groupes"
        )
    return ids


def _check_scorecards(session: Session, ids: list[int]) -> None:
    found = set(session.scalars(select(Scorecard.id).where(Scorecard.id.in_(ids))))
    missing = [str(i) for i in ids if i not in found]
    if missing:
        raise BadRequest(f"Unknown scorecard(s): {', '.join(missing)}", field="specificAuditConfigs")


_SIMPLE_FIELDS = (
    "name",
    "description",
    "is_active",
    "run_transcription",
    "skip_if_transcribed",
    "transcription_priority",
    "run_audits",
    "use_automatic_audits",
    "continue_on_error",
    "retry_failed",
    "max_retries",
    "max_concurrent_runs",
    "notify_on_complete",
    "notify_on_error",
)


def apply_fields(
    session: Session, schedule: AutomationSchedule, body: ScheduleFields, grant: Grant, sealer: Sealer
) -> None:
    """Write the fields sent onto `schedule`, then validate the result as a whole (create and PATCH alike)."""
    sent = body.model_fields_set
    if "external_api_key" in sent:
        schedule.external_api_key_sealed = sealer.seal(body.external_api_key) if body.external_api_key else None
    for name in _SIMPLE_FIELDS:
        if name in sent and getattr(body, name) is not None:
            setattr(schedule, name, getattr(body, name))
    for name in ("schedule_type", "timezone", "time_of_day", "day_of_week", "day_of_month", "cron_expression"):
        if name in sent:
            setattr(schedule, name, getattr(body, name))
    if "specific_audit_configs" in sent:
        schedule.specific_audit_configs = list(dict.fromkeys(body.specific_audit_configs or []))
    if "notify_emails" in sent:
        schedule.notify_emails = list(dict.fromkeys(body.notify_emails or []))
    if "webhook_url" in sent:  # checked against the SSRF rules by the router (async DNS) before this
        schedule.webhook_url = body.webhook_url or None
    if body.fiche_selection is not None:
        selection = check_selection(body.fiche_selection)
        for attr, column in SELECTION_COLUMNS.items():
            value = getattr(selection, attr)
            setattr(schedule, column, list(value) if isinstance(value, tuple) else value)
    elif schedule.fiche_selection_mode is None:
        raise BadRequest("ficheSelection is required", field="ficheSelection")
    validate(session, schedule, grant)


def save_webhook(
    session: Session, schedule: AutomationSchedule, body: ScheduleFields, grant: Grant, box: Callable[[], SecretBox]
) -> str | None:
    """After `apply_fields` and a flush: the schedule's signing subscription follows its `webhookUrl`; the secret
    when one was made."""
    if "webhook_url" not in body.model_fields_set:
        return None
    return set_schedule_webhook(
        session,
        schedule,
        schedule.webhook_url,
        box=box() if schedule.webhook_url else None,
        user_id=grant.principal.user_id,
    )


def validate(session: Session, schedule: AutomationSchedule, grant: Grant) -> None:
    if not schedule.name:
        raise BadRequest("A name is required", field="name")
    if not schedule.schedule_type:
        raise BadRequest("A schedule type is required (MANUAL, DAILY, WEEKLY, MONTHLY, CRON)", field="scheduleType")
    schedule.timezone = schedule.timezone or "UTC"
    _zone(schedule.timezone)
    schedule.cron_expression = cron_of(timing_of(schedule))  # a `TimingError` is an `invalid` domain error
    # Fields of other types are cleared, so a schedule reads as what it does.
    kind = ScheduleType(schedule.schedule_type)
    if kind in (ScheduleType.MANUAL, ScheduleType.CRON):
        schedule.time_of_day = schedule.day_of_week = schedule.day_of_month = None
    if kind is not ScheduleType.WEEKLY:
        schedule.day_of_week = None
    if kind is not ScheduleType.MONTHLY:
        schedule.day_of_month = None
    if schedule.specific_audit_configs:
        _check_scorecards(session, schedule.specific_audit_configs)
    schedule.scope_group_ids = scope_groups(
        session, grant, tuple(schedule.fiche_selection_groupes or ()), "ficheSelection"
    )


def selection_out(selection: FicheSelection) -> FicheSelectionOut:
    return FicheSelectionOut(
        mode=selection.mode,
        date_range=selection.date_range,
        custom_start_date=selection.custom_start_date,
        custom_end_date=selection.custom_end_date,
        groupes=list(selection.groupes),
        only_with_recordings=selection.only_with_recordings,
        only_unaudited=selection.only_unaudited,
        use_rlm=selection.use_rlm,
        max_fiches=selection.max_fiches,
        max_recordings_per_fiche=selection.max_recordings_per_fiche,
        fiche_ids=list(selection.fiche_ids),
    )


def schedule_out(schedule: AutomationSchedule, now: dt.datetime) -> ScheduleOut:
    upcoming = (
        next_due_times(timing_of(schedule), ZoneInfo(schedule.timezone), after=now)
        if schedule.is_active and schedule.schedule_type != ScheduleType.MANUAL
        else []
    )
    return ScheduleOut(
        id=schedule.id,
        name=schedule.name,
        description=schedule.description,
        is_active=schedule.is_active,
        created_by=schedule.created_by_id,
        schedule_type=ScheduleType(schedule.schedule_type),
        cron_expression=schedule.cron_expression,
        timezone=schedule.timezone,
        time_of_day=schedule.time_of_day,
        day_of_week=schedule.day_of_week,
        day_of_month=schedule.day_of_month,
        fiche_selection=selection_out(selection_of(schedule)),
        run_transcription=schedule.run_transcription,
        skip_if_transcribed=schedule.skip_if_transcribed,
        transcription_priority=schedule.transcription_priority,
        run_audits=schedule.run_audits,
        use_automatic_audits=schedule.use_automatic_audits,
        specific_audit_configs=list(schedule.specific_audit_configs),
        continue_on_error=schedule.continue_on_error,
        retry_failed=schedule.retry_failed,
        max_retries=schedule.max_retries,
        max_concurrent_runs=schedule.max_concurrent_runs,
        notify_on_complete=schedule.notify_on_complete,
        notify_on_error=schedule.notify_on_error,
        webhook_url=schedule.webhook_url,
        notify_emails=list(schedule.notify_emails),
        has_external_api_key=schedule.external_api_key_sealed is not None,
        last_run_at=schedule.last_run_at,
        last_run_status=schedule.last_run_status,
        total_runs=schedule.total_runs,
        successful_runs=schedule.successful_runs,
        failed_runs=schedule.failed_runs,
        next_runs=upcoming,
        created_at=schedule.created_at,
        updated_at=schedule.updated_at,
    )


def run_out(run: AutomationRun) -> RunOut:
    return RunOut.model_validate(run, from_attributes=True)


def run_detail(run: AutomationRun, logs: list[AutomationLog], results: list[AutomationRunFicheResult]) -> RunDetail:
    rows = [FicheResultOut.model_validate(r, from_attributes=True) for r in results]
    summary = ResultSummary(
        successful=[r.fiche_id for r in results if r.status == FicheResultStatus.SUCCESSFUL],
        failed=[
            FailedFiche(fiche_id=r.fiche_id, error=r.error) for r in results if r.status == FicheResultStatus.FAILED
        ],
        ignored=[
            IgnoredFiche(fiche_id=r.fiche_id, reason=r.ignore_reason, recordings_count=r.recordings_count)
            for r in results
            if r.status == FicheResultStatus.IGNORED
        ],
        transcriptions=run.transcriptions_run,
        audits=run.audits_run,
    )
    return RunDetail(
        **run_out(run).model_dump(by_alias=False),
        logs=[
            LogOut(id=log.id, level=log.level, message=log.message, metadata=log.metadata_, timestamp=log.timestamp)
            for log in logs
        ],
        fiche_results=rows,
        result_summary=summary,
    )
