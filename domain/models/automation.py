"""Automation: user schedules stored in Postgres, their runs, per-fiche results and logs (reference §2.7, §9).

A schedule's fiche selection is stored as columns (not a JSON blob) and rebuilt as the API's
`ficheSelection` object. `scope_group_ids` are the CRM group ids its `groupes` resolve to: a GROUP
caller sees and triggers a schedule only when they all belong to their teams.

A run is created before Dagster is asked for it (by the scheduler sensor, keyed by its due time, or
by a manual trigger), so its id is known at once and a retried request finds the same row:
`(schedule_id, due_at)` is unique. Per-fiche results are unique per `(run_id, fiche_id)`.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, IdMixin, TimestampMixin


class ScheduleType(enum.StrEnum):
    MANUAL = "MANUAL"
    DAILY = "DAILY"
    WEEKLY = "WEEKLY"
    MONTHLY = "MONTHLY"
    CRON = "CRON"


class RunStatus(enum.StrEnum):
    PENDING = "pending"  # created, its Dagster run not started yet
    RUNNING = "running"
    COMPLETED = "completed"  # no fiche failed
    PARTIAL = "partial"  # some fiches failed, some succeeded
    FAILED = "failed"  # nothing succeeded and something failed, or the run itself failed
    MISSED = "missed"  # due times the scheduler could not catch up (older than the window)


#: What a schedule's CRM token is sealed for (`callaudit.secrets.sealer_for`: its own derived key).
EXTERNAL_API_KEY_PURPOSE = "automation-schedule-external-api-key"

ACTIVE_RUN_STATUSES = (RunStatus.PENDING, RunStatus.RUNNING)
FINISHED_RUN_STATUSES = (RunStatus.COMPLETED, RunStatus.PARTIAL, RunStatus.FAILED, RunStatus.MISSED)


class FicheResultStatus(enum.StrEnum):
    SUCCESSFUL = "successful"
    FAILED = "failed"
    IGNORED = "ignored"


class LogLevel(enum.StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


def _in(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class AutomationSchedule(IdMixin, TimestampMixin, Base):
    __tablename__ = "automation_schedules"
    __table_args__ = (
        CheckConstraint(_in("schedule_type", ScheduleType), name="schedule_type"),
        CheckConstraint("max_retries BETWEEN 0 AND 5", name="max_retries"),
        CheckConstraint("max_concurrent_runs BETWEEN 1 AND 5", name="max_concurrent_runs"),
    )

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default="true")
    created_by_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="SET NULL"))
    scope_group_ids: Mapped[list[str]] = mapped_column(ARRAY(String(64)), nullable=False, server_default="{}")

    schedule_type: Mapped[str] = mapped_column(String(8), nullable=False)
    cron_expression: Mapped[str | None] = mapped_column(String(128))
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="UTC", server_default="UTC")
    time_of_day: Mapped[str | None] = mapped_column(String(5))
    day_of_week: Mapped[int | None] = mapped_column(Integer)
    day_of_month: Mapped[int | None] = mapped_column(Integer)

    fiche_selection_mode: Mapped[str] = mapped_column(String(16), nullable=False, server_default="date_range")
    fiche_selection_date_range: Mapped[str | None] = mapped_column(String(16))
    fiche_selection_custom_start_date: Mapped[dt.date | None] = mapped_column()
    fiche_selection_custom_end_date: Mapped[dt.date | None] = mapped_column()
    fiche_selection_groupes: Mapped[list[str]] = mapped_column(ARRAY(String(255)), nullable=False, server_default="{}")
    fiche_selection_only_with_recordings: Mapped[bool] = mapped_column(nullable=False, server_default="false")
    fiche_selection_only_unaudited: Mapped[bool] = mapped_column(nullable=False, server_default="false")
    fiche_selection_use_rlm: Mapped[bool] = mapped_column(nullable=False, server_default="false")
    fiche_selection_max_fiches: Mapped[int | None] = mapped_column(Integer)
    fiche_selection_max_recordings_per_fiche: Mapped[int | None] = mapped_column(Integer)
    fiche_selection_fiche_ids: Mapped[list[str]] = mapped_column(ARRAY(String(64)), nullable=False, server_default="{}")

    run_transcription: Mapped[bool] = mapped_column(nullable=False, server_default="true")
    skip_if_transcribed: Mapped[bool] = mapped_column(nullable=False, server_default="true")
    transcription_priority: Mapped[str] = mapped_column(String(8), nullable=False, server_default="normal")
    run_audits: Mapped[bool] = mapped_column(nullable=False, server_default="true")
    use_automatic_audits: Mapped[bool] = mapped_column(nullable=False, server_default="true")
    specific_audit_configs: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), nullable=False, server_default="{}")

    continue_on_error: Mapped[bool] = mapped_column(nullable=False, server_default="true")
    retry_failed: Mapped[bool] = mapped_column(nullable=False, server_default="false")
    max_retries: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    # Runs of this schedule in progress at once; more wait in Dagster's run queue (`runs.contract`).
    max_concurrent_runs: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")

    notify_on_complete: Mapped[bool] = mapped_column(nullable=False, server_default="true")
    notify_on_error: Mapped[bool] = mapped_column(nullable=False, server_default="true")
    webhook_url: Mapped[str | None] = mapped_column(Text)
    notify_emails: Mapped[list[str]] = mapped_column(ARRAY(String(320)), nullable=False, server_default="{}")
    # The schedule's own CRM token for its sales searches, sealed (`callaudit.secrets`); never returned.
    external_api_key_sealed: Mapped[str | None] = mapped_column(Text)

    last_run_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_run_status: Mapped[str | None] = mapped_column(String(16))
    total_runs: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    successful_runs: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    failed_runs: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")


class AutomationRun(IdMixin, Base):
    __tablename__ = "automation_runs"
    __table_args__ = (
        CheckConstraint(_in("status", RunStatus), name="status"),
        UniqueConstraint("schedule_id", "due_at"),
        Index("ix_automation_runs_active", "schedule_id", postgresql_where="status IN ('pending', 'running')"),
    )

    schedule_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("automation_schedules.id", ondelete="CASCADE"), nullable=False, index=True
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=RunStatus.PENDING)
    trigger: Mapped[str] = mapped_column(String(16), nullable=False)  # schedule | manual
    triggered_by_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="SET NULL"))
    due_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    dagster_run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # Times the sensor asked Dagster again for a run whose Dagster run died without finishing it.
    resumes: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    total_fiches: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    successful_fiches: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    failed_fiches: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    ignored_fiches: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    transcriptions_run: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    audits_run: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    error_message: Mapped[str | None] = mapped_column(Text)
    error_details: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    config_snapshot: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict, server_default="{}")


class AutomationRunFicheResult(IdMixin, Base):
    __tablename__ = "automation_run_fiche_results"
    __table_args__ = (
        UniqueConstraint("run_id", "fiche_id"),
        CheckConstraint(_in("status", FicheResultStatus), name="status"),
    )

    run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("automation_runs.id", ondelete="CASCADE"), nullable=False, index=True
    )
    fiche_id: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    ignore_reason: Mapped[str | None] = mapped_column(Text)
    recordings_count: Mapped[int | None] = mapped_column(Integer)
    transcribed: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    audit_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), nullable=False, default=list, server_default="{}")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")


class AutomationLog(IdMixin, Base):
    __tablename__ = "automation_logs"
    __table_args__ = (CheckConstraint(_in("level", LogLevel), name="level"),)

    run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("automation_runs.id", ondelete="CASCADE"), nullable=False, index=True
    )
    level: Mapped[str] = mapped_column(String(8), nullable=False)
    message: Mapped[str] = mapped_column(Text, nullable=False)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, nullable=False, default=dict)
    timestamp: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class AutomationNotification(IdMixin, Base):
    """A notification handed to the sender once: `key` (`automation-run:<id>:<kind>`) is unique, so a
    retried run never sends its completion twice."""

    __tablename__ = "automation_notifications"

    key: Mapped[str] = mapped_column(String(128), nullable=False, unique=True)
    run_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("automation_runs.id", ondelete="CASCADE"), nullable=False, index=True
    )
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # email | webhook
    #: The outbox delivery that sends it (its status and attempts are there); unset once purged.
    delivery_id: Mapped[str | None] = mapped_column(String(40), ForeignKey("outbox_deliveries.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
