"""Wire shapes of `/api/automation`, camelCase like the original's (reference §9.1, §4.10).

Bodies check types and ranges here; the rules that span fields (DAILY needs `timeOfDay`, a valid
cron, a known time zone...) are checked by the service on the merged configuration, so a PATCH
is validated as the schedule it produces, and every 400 names its field.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StringConstraints
from pydantic.alias_generators import to_camel

from api.security import Email, IdIn, IdStr, Str255, Str2000
from domain.models.automation import ScheduleType
from domain.schedules.selection import DateRange, SelectionMode
from runs.contract import MAX_CONCURRENT_SCHEDULE_RUNS, Priority

_DMY = re.compile(r"(\d{2})/(\d{2})/(\d{4})")


def _day(value: Any) -> Any:
    """`DD/MM/YYYY` (the original's format) or `YYYY-MM-DD`."""
    if isinstance(value, str) and (match := _DMY.fullmatch(value)):
        return f"{match[3]}-{match[2]}-{match[1]}"
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return value
    if value is None or isinstance(value, dt.date):
        return value
    raise ValueError("must be a date (DD/MM/YYYY or YYYY-MM-DD)")


def _one_or_many(value: Any) -> Any:
    """A single string where the original accepted one (`notifyEmails`, `ficheIds`)."""
    return [value] if isinstance(value, str) else value


def _numeric_ids(value: Any) -> Any:
    """`specificAuditConfigs`: numbers or numeric strings (the original dropped others silently; we refuse)."""
    if isinstance(value, list):
        return [int(v) if isinstance(v, str) and v.isdigit() else v for v in value]
    return value


Day = Annotated[dt.date | None, BeforeValidator(_day)]
Groupe = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
FicheId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
TimeOfDay = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class CamelIn(Camel):
    model_config = ConfigDict(extra="forbid")


class FicheSelectionIn(CamelIn):
    mode: SelectionMode = SelectionMode.DATE_RANGE
    date_range: DateRange | None = None
    custom_start_date: Day = None
    custom_end_date: Day = None
    groupes: list[Groupe] = Field(default_factory=list, max_length=200)
    only_with_recordings: bool = False
    only_unaudited: bool = Field(False, description="Skip, per selected scorecard, fiches it already audited")
    use_rlm: bool = Field(False, description="Audit in transcript tools mode")
    max_fiches: StrictInt | None = Field(None, ge=1, le=100_000, description="Per run (not per day)")
    max_recordings_per_fiche: StrictInt | None = Field(
        None, ge=1, le=10_000, description="Else AUTOMATION_MAX_RECORDINGS_PER_FICHE; no hard cap"
    )
    fiche_ids: Annotated[list[FicheId], BeforeValidator(_one_or_many)] = Field(
        default_factory=list, max_length=5000, description="Manual mode; split on whitespace and commas"
    )


class FicheSelectionOut(Camel):
    mode: SelectionMode
    date_range: DateRange | None
    custom_start_date: dt.date | None
    custom_end_date: dt.date | None
    groupes: list[str]
    only_with_recordings: bool
    only_unaudited: bool
    use_rlm: bool
    max_fiches: int | None
    max_recordings_per_fiche: int | None
    fiche_ids: list[str]


class ScheduleFields(CamelIn):
    """Every writable field, all optional: a PATCH sends what changes; create requires `name` and
    `scheduleType` (checked by the service with the merged configuration)."""

    name: Annotated[Str255, StringConstraints(min_length=1)] | None = None
    description: Str2000 | None = None
    is_active: bool | None = None
    schedule_type: ScheduleType | None = None
    cron_expression: Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)] | None = None
    timezone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = Field(
        None, description="IANA time zone (default UTC); dates and due times are computed in it"
    )
    time_of_day: TimeOfDay | None = Field(None, description="HH:MM, 24 h")
    day_of_week: StrictInt | None = Field(None, ge=0, le=6, description="0 = Sunday")
    day_of_month: StrictInt | None = Field(
        None, ge=1, le=31, description="29-31 run on the month's last day when the month is shorter"
    )
    fiche_selection: FicheSelectionIn | None = None
    run_transcription: bool | None = None
    skip_if_transcribed: bool | None = None
    transcription_priority: Priority | None = None
    run_audits: bool | None = None
    use_automatic_audits: bool | None = None
    specific_audit_configs: Annotated[list[IdIn], BeforeValidator(_numeric_ids)] | None = Field(None, max_length=50)
    continue_on_error: bool | None = None
    retry_failed: bool | None = None
    max_retries: StrictInt | None = Field(None, ge=0, le=5)
    max_concurrent_runs: StrictInt | None = Field(None, ge=1, le=MAX_CONCURRENT_SCHEDULE_RUNS)
    notify_on_complete: bool | None = None
    notify_on_error: bool | None = None
    webhook_url: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = Field(
        None,
        description="http(s), resolving to public addresses only (or an origin of WEBHOOK_ALLOWED_ORIGINS); an "
        "empty string removes it. Receives each run's notice, signed with the secret shown when it is first set",
    )
    notify_emails: Annotated[list[Email], BeforeValidator(_one_or_many)] | None = Field(None, max_length=50)
    external_api_key: Annotated[str, StringConstraints(strip_whitespace=True, max_length=4096)] | None = Field(
        None, description="CRM token for this schedule's sales searches; stored sealed, never returned; '' removes it"
    )


class ScheduleOut(Camel):
    id: IdStr
    name: str
    description: str | None
    is_active: bool
    created_by: IdStr | None
    schedule_type: ScheduleType
    cron_expression: str | None
    timezone: str
    time_of_day: str | None
    day_of_week: int | None
    day_of_month: int | None
    fiche_selection: FicheSelectionOut
    run_transcription: bool
    skip_if_transcribed: bool
    transcription_priority: str
    run_audits: bool
    use_automatic_audits: bool
    specific_audit_configs: list[IdStr]
    continue_on_error: bool
    retry_failed: bool
    max_retries: int
    max_concurrent_runs: int
    notify_on_complete: bool
    notify_on_error: bool
    webhook_url: str | None
    notify_emails: list[str]
    has_external_api_key: bool = Field(description="Whether the schedule has its own CRM token (never returned)")
    last_run_at: dt.datetime | None
    last_run_status: str | None
    total_runs: int
    successful_runs: int
    failed_runs: int
    next_runs: list[dt.datetime] = Field(description="The next 5 due times (UTC); empty for MANUAL or inactive")
    created_at: dt.datetime
    updated_at: dt.datetime


class ScheduleSaved(ScheduleOut):
    webhook_secret: str | None = Field(
        None,
        description="The `whsec_` secret that signs the run notices sent to `webhookUrl` (Standard Webhooks and "
        "`X-Webhook-Signature` headers): in the answer that first set the URL, never again",
    )


class ScheduleList(Camel):
    success: bool = True
    data: list[ScheduleOut]
    count: int


class RunOut(Camel):
    id: IdStr
    schedule_id: IdStr
    status: str
    trigger: str
    due_at: dt.datetime | None
    dagster_run_id: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    duration_ms: int | None
    total_fiches: int
    successful_fiches: int
    failed_fiches: int
    ignored_fiches: int
    transcriptions_run: int
    audits_run: int
    error_message: str | None
    error_details: dict[str, Any] | None
    config_snapshot: dict[str, Any]


class ScheduleDetail(ScheduleOut):
    runs: list[RunOut] = Field(description="The last 10 runs")


class RunList(Camel):
    success: bool = True
    data: list[RunOut]
    count: int
    limit: int
    offset: int


class LogOut(Camel):
    id: IdStr
    level: str
    message: str
    metadata: dict[str, Any]
    timestamp: dt.datetime


class FicheResultOut(Camel):
    fiche_id: str
    status: str
    error: str | None
    ignore_reason: str | None
    recordings_count: int | None
    transcribed: int
    audit_ids: list[IdStr]
    attempts: int


class FailedFiche(Camel):
    fiche_id: str
    error: str | None


class IgnoredFiche(Camel):
    fiche_id: str
    reason: str | None
    recordings_count: int | None = None


class ResultSummary(Camel):
    """The original's summary shape, built from the per-fiche rows."""

    successful: list[str]
    failed: list[FailedFiche]
    ignored: list[IgnoredFiche]
    transcriptions: int
    audits: int


class RunDetail(RunOut):
    logs: list[LogOut]
    fiche_results: list[FicheResultOut]
    result_summary: ResultSummary


class TriggerIn(CamelIn):
    schedule_id: IdIn
    override_fiche_selection: FicheSelectionIn | None = None


class Triggered(Camel):
    message: str
    schedule_id: IdStr
    run_id: IdStr = Field(description="The automation run: follow it on the `job:<runId>` topic")
    dagster_run_id: str = Field(description="Its Dagster run (tagged with the schedule in the Dagster UI)")


class SchedulerSettings(BaseModel):
    cron: str = Field(description="AUTOMATION_SCHEDULER_CRON: how often the sensor reads the schedules")
    tick_seconds: int = Field(description="The sensor's minimum interval derived from the cron")
    window_minutes: int = Field(description="AUTOMATION_SCHEDULER_WINDOW_MINUTES: catch-up window")
    stale_after_minutes: int = Field(description="Threshold plus grace after which a pending/running run is failed")


class Diagnostic(BaseModel):
    """The automation's health as the caller can see it (the original reported its Inngest mode)."""

    scheduler: SchedulerSettings = Field(description="How the scheduler sensor is configured")
    active_schedules: int = Field(description="Active schedules in the caller's scope that the scheduler runs")
    manual_schedules: int = Field(description="Active MANUAL schedules (run only by a trigger)")
    pending_runs: int = Field(description="Runs waiting for their Dagster run to start")
    running_runs: int = Field(description="Runs in progress")
    missed_runs_24h: int = Field(description="Missed-run records written in the last 24 hours")
    failed_runs_24h: int = Field(description="Runs failed in the last 24 hours")
    warnings: list[str] = Field(description="What looks wrong, for people")
