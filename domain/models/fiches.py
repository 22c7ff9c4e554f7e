"""Sales records ("fiches") mirrored from the CRM, their call recordings, and day coverage."""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from domain.models.base import Base, IdMixin, TimestampMixin

if TYPE_CHECKING:
    from domain.models.crm import FicheComment, FicheInformation, FicheProspect, FicheSubscription, FicheTag


class FicheFetchStatus(enum.StrEnum):
    """How much of a fiche we hold: a sales-list summary, full details, or a terminal outcome."""

    SUMMARY = "summary"
    DETAILS = "details"
    NOT_FOUND = "not_found"
    FAILED = "failed"


class SalesDaySource(enum.StrEnum):
    """Where a fiche's `sales_date` comes from; a sales search always beats the insertion date
    (the rule: `domain.crm.normalize.resolve_sales_day`)."""

    SALES_SEARCH = "sales_search"
    DATE_INSERTION = "date_insertion"


class DayCoverageStatus(enum.StrEnum):
    FETCHED = "fetched"
    FAILED = "failed"


class Fiche(IdMixin, TimestampMixin, Base):
    """One CRM sale. `fiche_id` is the CRM's id; `sales_date` is the day bucket every range query uses.

    `raw_data` holds, for a `details` fiche, the details payload minus what the normalised tables
    hold (`domain.crm.normalize`); for a fiche only seen in sales lists, its sales-list record.
    """

    __tablename__ = "fiches"
    __table_args__ = (
        CheckConstraint(
            f"sales_date_source IN ({', '.join(repr(s.value) for s in SalesDaySource)})", name="sales_date_source"
        ),
    )

    fiche_id: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    cle: Mapped[str | None] = mapped_column(String(128))
    sales_date: Mapped[dt.date | None] = mapped_column(Date, index=True)
    sales_date_source: Mapped[str | None] = mapped_column(String(16))

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
    fetch_error_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    fetch_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    raw_data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict, server_default="{}")
    recordings_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    fetched_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    last_revalidated_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    recordings: Mapped[list[Recording]] = relationship(
        back_populates="fiche", cascade="all, delete-orphan", passive_deletes=True, order_by="Recording.start_time"
    )
    information: Mapped[FicheInformation | None] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    prospect: Mapped[FicheProspect | None] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    subscription: Mapped[FicheSubscription | None] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    comments: Mapped[list[FicheComment]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="FicheComment.position"
    )
    tags: Mapped[list[FicheTag]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="FicheTag.position"
    )


class Recording(IdMixin, TimestampMixin, Base):
    """One call recording of a fiche; `recording_url` is '' when the CRM has not given one yet.

    `recording_date` / `recording_time` are the telephony clock (UTC), from the file name or else
    from `start_time`; numbers are display-formatted (`+33 6 12 34 56 78`) when French.
    """

    __tablename__ = "recordings"
    __table_args__ = (UniqueConstraint("fiche_id", "call_id"),)

    fiche_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("fiches.fiche_id", ondelete="CASCADE", onupdate="CASCADE"), nullable=False, index=True
    )
    call_id: Mapped[str] = mapped_column(String(64), nullable=False)
    recording_url: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default="")
    start_time: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # The gateway sent `start_time` without a UTC offset; it was read in the business time zone.
    start_time_offset_assumed: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )
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
    """Which sales days have been searched in the CRM, including days with zero sales.

    `status` is the outcome of the day's *search*. Whether the day is fetched also depends on its
    fiches having their details, which changes as details land: readers derive `partial` from the
    fiches (`api.fiches.coverage.coverage_of`) rather than trusting a stored copy that goes stale.
    """

    __tablename__ = "sales_day_coverage"

    sales_date: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    fiche_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    fetched_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
