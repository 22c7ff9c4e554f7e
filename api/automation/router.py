"""`/api/automation`: schedules, manual triggers, runs, logs (reference §4.10), scoped by the caller's grant.

A GROUP caller sees, edits and triggers only schedules whose groups all belong to their teams; any
other schedule answers 404 like a missing one (the original let a GROUP operator reach them all).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session

from api.automation import repository
from api.automation.schemas import (
    Diagnostic,
    LogOut,
    RunDetail,
    RunList,
    ScheduleDetail,
    ScheduleFields,
    ScheduleList,
    SchedulerSettings,
    ScheduleSaved,
    Triggered,
    TriggerIn,
)
from api.automation.service import (
    apply_fields,
    check_selection,
    run_detail,
    run_out,
    save_webhook,
    schedule_out,
    scope_groups,
)
from api.deps import SessionDep, SettingsDep
from api.errors import Conflict, NotFound
from api.runs import LauncherDep
from api.schemas import Envelope, ok
from api.security import EntityId, Grant, require
from api.webhooks.service import checked_url, secret_box
from callaudit.secrets import sealer_for
from callaudit.settings import Settings
from domain.models.automation import EXTERNAL_API_KEY_PURPOSE, AutomationRun, AutomationSchedule, LogLevel, RunStatus
from domain.schedules.store import add_log, create_run
from domain.schedules.timing import tick_seconds
from resources.outbox.runner import egress_policy
from runs.contract import USER_TAG, RunAutomation, automation_tags
from runs.launch import launch_automation
from runs.launcher import LaunchFailed

router = APIRouter(prefix="/automation", tags=["automation"])

ReadAutomation = Annotated[Grant, Depends(require("automation", "read"))]
WriteAutomation = Annotated[Grant, Depends(require("automation", "write"))]
Limit = Annotated[int, Query(ge=1, le=200)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _visible(session: Session, grant: Grant, schedule_id: int) -> AutomationSchedule:
    schedule = repository.visible_schedule(session, grant, schedule_id)
    if schedule is None:
        raise NotFound("Schedule not found")
    return schedule


def _visible_run(session: Session, grant: Grant, run_id: int) -> AutomationRun:
    run = repository.visible_run(session, grant, run_id)
    if run is None:
        raise NotFound("Run not found")
    return run


async def _checked(body: ScheduleFields, settings: Settings) -> ScheduleFields:
    """`webhookUrl` against the SSRF rules (its host resolved: public addresses only), a 400 naming it otherwise."""
    if not body.webhook_url:
        return body
    url = await checked_url(body.webhook_url, egress_policy(settings), "webhookUrl")
    return body.model_copy(update={"webhook_url": url})


def _saved(
    s: Session, schedule: AutomationSchedule, body: ScheduleFields, grant: Grant, settings: Settings
) -> ScheduleSaved:
    s.flush()
    secret = save_webhook(s, schedule, body, grant, lambda: secret_box(settings))
    s.flush()
    s.refresh(schedule)
    return ScheduleSaved(**schedule_out(schedule, _now()).model_dump(by_alias=False), webhook_secret=secret)


@router.post("/schedules", status_code=201, response_model=Envelope[ScheduleSaved], summary="Create a schedule")
async def create_schedule(
    body: ScheduleFields, grant: WriteAutomation, session: SessionDep, settings: SettingsDep
) -> Envelope[ScheduleSaved]:
    """Validated as a whole: DAILY needs `timeOfDay`, WEEKLY also `dayOfWeek`, MONTHLY `dayOfMonth` (29-31 run on
    the month's last day when it is shorter), CRON a valid `cronExpression`; `timezone` an IANA name. A GROUP caller
    must name groups of their teams in `ficheSelection.groupes`. 400 names the field at fault. With a `webhookUrl`,
    the answer carries `webhookSecret`, the secret its notices are signed with (shown this once)."""
    body = await _checked(body, settings)

    def create(s: Session) -> ScheduleSaved:
        schedule = AutomationSchedule(created_by_id=grant.principal.user_id, fiche_selection_mode=None)
        apply_fields(s, schedule, body, grant, sealer_for(settings, EXTERNAL_API_KEY_PURPOSE))
        s.add(schedule)
        return _saved(s, schedule, body, grant, settings)

    return ok(await session.run_sync(create))


@router.get("/schedules", response_model=ScheduleList, summary="List schedules")
async def list_schedules(
    grant: ReadAutomation, session: SessionDep, include_inactive: Annotated[bool, Query()] = False
) -> ScheduleList:
    """The active schedules in the caller's scope (inactive ones too with `include_inactive`), each with its next
    5 due times; `{data, count}` as the original."""

    def load(s: Session) -> ScheduleList:
        now = _now()
        rows = [
            schedule_out(schedule, now)
            for schedule in repository.schedules(s, grant, include_inactive=include_inactive)
        ]
        return ScheduleList(data=rows, count=len(rows))

    return await session.run_sync(load)


@router.get("/schedules/{schedule_id}", response_model=Envelope[ScheduleDetail], summary="A schedule and its last runs")
async def get_schedule(schedule_id: EntityId, grant: ReadAutomation, session: SessionDep) -> Envelope[ScheduleDetail]:
    """The schedule, its next 5 due times and its last 10 runs. 404 when missing or outside the caller's scope."""

    def load(s: Session) -> ScheduleDetail:
        schedule = _visible(s, grant, schedule_id)
        runs = repository.last_runs(s, schedule.id, 10)
        out = schedule_out(schedule, _now())
        return ScheduleDetail(**out.model_dump(by_alias=False), runs=[run_out(r) for r in runs])

    return ok(await session.run_sync(load))


@router.patch("/schedules/{schedule_id}", response_model=Envelope[ScheduleSaved], summary="Update a schedule")
async def update_schedule(
    schedule_id: EntityId, body: ScheduleFields, grant: WriteAutomation, session: SessionDep, settings: SettingsDep
) -> Envelope[ScheduleSaved]:
    """Partial update, validated on the merged configuration; the cron is regenerated from the timing fields. A
    `webhookUrl` set for the first time answers its `webhookSecret` (once); a changed one keeps its secret; `""`
    removes it."""
    body = await _checked(body, settings)

    def update(s: Session) -> ScheduleSaved:
        schedule = _visible(s, grant, schedule_id)
        apply_fields(s, schedule, body, grant, sealer_for(settings, EXTERNAL_API_KEY_PURPOSE))
        return _saved(s, schedule, body, grant, settings)

    return ok(await session.run_sync(update))


@router.delete("/schedules/{schedule_id}", response_model=Envelope[dict[str, bool]], summary="Delete a schedule")
async def delete_schedule(
    schedule_id: EntityId, grant: WriteAutomation, session: SessionDep
) -> Envelope[dict[str, bool]]:
    """Deletes the schedule with its runs, results and logs (audits it made stay, unlinked). 404 when missing or
    outside the caller's scope."""

    def delete(s: Session) -> None:
        s.delete(_visible(s, grant, schedule_id))

    await session.run_sync(delete)
    return ok({"deleted": True})


@router.post("/trigger", status_code=202, response_model=Envelope[Triggered], summary="Run a schedule now")
async def trigger(
    body: TriggerIn, grant: WriteAutomation, session: SessionDep, launcher: LauncherDep
) -> Envelope[Triggered]:
    """Creates the automation run and queues its Dagster run; answers at once with both ids (follow the run on the
    `job:<runId>` topic). `overrideFicheSelection` replaces the schedule's selection for this run only. An inactive
    schedule answers 409 with the reason; 503 when Dagster is unreachable (the run is recorded as failed)."""
    override = (
        check_selection(body.override_fiche_selection, "overrideFicheSelection")
        if body.override_fiche_selection
        else None
    )

    def create(s: Session) -> tuple[int, dict[str, str]]:
        schedule = _visible(s, grant, body.schedule_id)
        if not schedule.is_active:
            raise Conflict("The schedule is inactive: activate it (isActive) before triggering it", field="scheduleId")
        extra = None
        selection = override
        if selection is not None:
            # An override never widens the schedule's reach: without groupes it keeps the schedule's, and a
            # GROUP caller may only name groups of their teams.
            if not selection.groupes:
                selection = replace(selection, groupes=tuple(schedule.fiche_selection_groupes))
            extra = {"scopeGroupIds": scope_groups(s, grant, selection.groupes, "overrideFicheSelection")}
        run_id = create_run(
            s, schedule, trigger="manual", user_id=grant.principal.user_id, override=selection, extra=extra
        )
        add_log(s, run_id, LogLevel.INFO, "Run requested by hand", {"user_id": grant.principal.user_id})
        tags = automation_tags(
            run_id,
            schedule.id,
            schedule.name,
            source="automation",
            priority=schedule.transcription_priority,
            max_concurrent_runs=schedule.max_concurrent_runs,
        )
        if grant.principal.user_id is not None:
            tags[USER_TAG] = str(grant.principal.user_id)
        return run_id, tags

    run_id, tags = await session.run_sync(create)
    await session.commit()  # the run's row exists before Dagster can start it
    try:
        dagster_run_id = await launch_automation(launcher, RunAutomation(automation_run_id=run_id), tags)
    except LaunchFailed as exc:
        reason = str(exc)
        await session.run_sync(lambda s: repository.mark_not_started(s, run_id, reason, _now()))
        await session.commit()  # kept although the request fails
        raise  # an `unavailable` error: a 503 saying what could not be started

    await session.run_sync(lambda s: repository.attach_dagster_run(s, run_id, dagster_run_id))
    return ok(
        Triggered(
            message="Automation run queued", schedule_id=body.schedule_id, run_id=run_id, dagster_run_id=dagster_run_id
        )
    )


def _runs_page(s: Session, grant: Grant, schedule_id: int | None, limit: int, offset: int) -> RunList:
    rows, total = repository.runs_page(s, grant, schedule_id, limit=limit, offset=offset)
    return RunList(data=[run_out(r) for r in rows], count=total, limit=limit, offset=offset)


@router.get("/schedules/{schedule_id}/runs", response_model=RunList, summary="Runs of a schedule")
async def schedule_runs(
    schedule_id: EntityId, grant: ReadAutomation, session: SessionDep, limit: Limit = 20, offset: Offset = 0
) -> RunList:
    """The schedule's runs, newest first (`limit` 20, `offset` 0 by default), missed due times included."""

    def load(s: Session) -> RunList:
        _visible(s, grant, schedule_id)
        return _runs_page(s, grant, schedule_id, limit, offset)

    return await session.run_sync(load)


@router.get("/runs", response_model=RunList, summary="Runs of every visible schedule, newest first")
async def list_runs(grant: ReadAutomation, session: SessionDep, limit: Limit = 20, offset: Offset = 0) -> RunList:
    """Runs of every schedule in the caller's scope, newest first."""
    return await session.run_sync(lambda s: _runs_page(s, grant, None, limit, offset))


@router.get("/runs/{run_id}", response_model=Envelope[RunDetail], summary="A run with its logs and per-fiche results")
async def get_run(run_id: EntityId, grant: ReadAutomation, session: SessionDep) -> Envelope[RunDetail]:
    """The run, all its logs, one result per selected fiche (successful, failed, or ignored with the reason) and the
    original's `resultSummary` built from those rows."""

    def load(s: Session) -> RunDetail:
        run = _visible_run(s, grant, run_id)
        return run_detail(run, repository.run_logs(s, run.id), repository.run_results(s, run.id))

    return ok(await session.run_sync(load))


@router.get("/runs/{run_id}/logs", response_model=Envelope[list[LogOut]], summary="A run's logs, oldest first")
async def run_logs(
    run_id: EntityId,
    grant: ReadAutomation,
    session: SessionDep,
    level: Annotated[LogLevel | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Envelope[list[LogOut]]:
    """The run's log lines, oldest first, optionally of one `level` (100 by default)."""

    def load(s: Session) -> list[LogOut]:
        run = _visible_run(s, grant, run_id)
        rows = repository.run_logs(s, run.id, level=level, limit=limit)
        return [
            LogOut(id=r.id, level=r.level, message=r.message, metadata=r.metadata_, timestamp=r.timestamp) for r in rows
        ]

    return ok(await session.run_sync(load))


#: A run still pending this long after it was created suggests the daemon (or its sensor) is stopped.
_PENDING_TOO_LONG = dt.timedelta(minutes=10)


@router.get("/diagnostic", response_model=Envelope[Diagnostic], summary="Is the automation running?")
async def diagnostic(grant: ReadAutomation, session: SessionDep, settings: SettingsDep) -> Envelope[Diagnostic]:
    """The scheduler's settings and what the caller's schedules and runs say about it: runs left pending (the
    Dagster daemon or the `automation_scheduler` sensor may be stopped), missed due times, recent failures."""

    def load(s: Session) -> Diagnostic:
        now = _now()
        day_ago = now - dt.timedelta(hours=24)
        by_type = repository.active_schedules_by_type(s, grant)
        manual = by_type.pop("MANUAL", 0)
        recent = repository.recent_runs(s, grant, day_ago)
        pending = [r for r in recent if r.status == RunStatus.PENDING]
        missed = sum(1 for r in recent if r.status == RunStatus.MISSED and r.created_at >= day_ago)
        failed = sum(1 for r in recent if r.status == RunStatus.FAILED and r.created_at >= day_ago)
        warnings = []
        if any(now - r.created_at > _PENDING_TOO_LONG for r in pending):
            warnings.append(
                "Runs have been pending for more than 10 minutes: check that the Dagster daemon runs and that the "
                "automation_scheduler sensor is on"
            )
        if missed:
            warnings.append(f"{missed} missed-run record(s) in the last 24 h: the scheduler did not tick in time")
        stale = settings.automation_stale_threshold_ms + settings.automation_scheduler_stale_grace_ms
        return Diagnostic(
            scheduler=SchedulerSettings(
                cron=settings.automation_scheduler_cron,
                tick_seconds=tick_seconds(settings.automation_scheduler_cron),
                window_minutes=settings.automation_scheduler_window_minutes,
                stale_after_minutes=stale // 60_000,
            ),
            active_schedules=sum(by_type.values()),
            manual_schedules=manual,
            pending_runs=len(pending),
            running_runs=sum(1 for r in recent if r.status == RunStatus.RUNNING),
            missed_runs_24h=missed,
            failed_runs_24h=failed,
            warnings=warnings,
        )

    return ok(await session.run_sync(load))
