"""Sales records ("fiches") mirrored from the CRM, their call recordings, and day coverage."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from domain.models.base import Base, IdMixin, TimestampMixin


class FicheFetchStatus(enum.StrEnum):
    """How much of a fiche we hold: a sales-list summary, full details, or a terminal outcome."""

    SUMMARY = "summary"
    DETAILS = "details"
    NOT_FOUND = "not_found"
    FAILED = "failed"


class DayCoverageStatus(enum.StrEnum):
    FETCHED = "fetched"
    FAILED = "failed"


class Fiche(IdMixin, TimestampMixin, Base):
    """One CRM sale. `fiche_id` is the CRM's id; `sales_date` is the day bucket every range query uses."""

    __tablename__ = "fiches"

    fiche_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    cle: Mapped[str | None] = mapped_column(String(128))
    sales_date: Mapped[dt.date | None] = mapped_column(Date, index=True)

    # Denormalised for scoping and lists; GROUP scope matches crm_group_id, never the display name.
    groupe: Mapped[str | None] = mapped_column(String(255), index=True)
    crm_group_id: Mapped[str | None] = mapped_column(String(64), index=True)
    attribution_user_id: Mapped[str | None] = mapped_column(String(64), index=True)
    agence_nom: Mapped[str | None] = mapped_column(String(255))
    prospect_nom: Mapped[str | None] = mapped_column(String(255))
    prospect_prenom: Mapped[str | None] = mapped_column(String(255))
    prospect_email: Mapped[str | None] = mapped_column(String(320))
    prospect_tel: Mapped[str | None] = mapped_column(String(64))

    fetch_status: Mapped[str] = mapped_column(
        String(16), nullable=False, default=FicheFetchStatus.SUMMARY, server_default=FicheFetchStatus.SUMMARY
    )
    fetch_error: Mapped[str | None] = mapped_column(Text)
    fetch_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    raw_data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict, server_default="{}")
    recordings_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    fetched_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    last_revalidated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    recordings: Mapped[list[Recording]] = relationship(
        back_populates="fiche", cascade="all, delete-orphan", passive_deletes=True, order_by="Recording.start_time"
    )


class Recording(IdMixin, TimestampMixin, Base):
    """One call recording of a fiche; `recording_url` is '' when the CRM has not given one yet."""

    __tablename__ = "recordings"
    __table_args__ = (UniqueConstraint("fiche_id", "call_id"),)

    fiche_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("fiches.fiche_id", ondelete="CASCADE", onupdate="CASCADE"), nullable=False, index=True
    )
    call_id: Mapped[str] = mapped_column(String(64), nullable=False)
    recording_url: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default="")
    start_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
    direction: Mapped[str | None] = mapped_column(String(8))
    answered: Mapped[bool | None] = mapped_column(Boolean)
    from_number: Mapped[str | None] = mapped_column(String(32))
    to_number: Mapped[str | None] = mapped_column(String(32))
    recording_date: Mapped[dt.date | None] = mapped_column(Date)
    recording_time: Mapped[str | None] = mapped_column(String(5))
    uuid: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)

    fiche: Mapped[Fiche] = relationship(back_populates="recordings")


class SalesDayCoverage(TimestampMixin, Base):
    """Which sales days have been searched in the CRM, including days with zero sales."""

    __tablename__ = "sales_day_coverage"

    sales_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    fiche_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
