"""Background work the API asked Dagster for: progressive date-range fetches of sales days."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import BigInteger, Date, ForeignKey, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, TimestampMixin


class FicheFetchJobStatus(enum.StrEnum):
    LAUNCHED = "launched"  # Dagster accepted the backfill; progress comes from day coverage
    FAILED_TO_LAUNCH = "failed_to_launch"  # the Dagster webserver was unreachable or refused
    COMPLETE = "complete"  # every day of the job is covered
    FAILED = "failed"  # every day was attempted, some failed


class FicheFetchJob(TimestampMixin, Base):
    """One `GET /api/fiches/status/by-date-range` background fetch: the days it asked Dagster for.

    Deduplication of identical concurrent requests happens before a row is written (a Redis
    `SET NX` lock keyed by the day set), so no check-then-create race creates two jobs.
    """

    __tablename__ = "fiche_fetch_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    start_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    end_date: Mapped[dt.date] = mapped_column(Date, nullable=False)
    days: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list, server_default="[]")
    refresh: Mapped[bool] = mapped_column(nullable=False, default=False, server_default="false")
    requested_by_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    dagster_backfill_id: Mapped[str | None] = mapped_column(String(64))
    dagster_run_ids: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list, server_default="[]")
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
