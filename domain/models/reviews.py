"""Trails of what people did to audits, and disputes of their verdicts.

`audit_reviews`, `audit_reruns`, `audit_rerun_results` and `audit_changes` are append-only: a
trigger (`TRAIL_GUARD`, installed by the migration) rejects every UPDATE and DELETE, whoever the
database role, so not even the application can rewrite who changed what. Their `audit_id` keys
restrict deletion: a reviewed audit cannot be hard-deleted with its trail (soft delete keeps both).
Actors are stored as the authenticated principal (`actor_user_id` plus its description), never as
a name the caller typed; a typed name is kept apart as `reviewer_note`.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, IdMixin

#: The append-only tables; the migration puts `TRAIL_GUARD` on each.
TRAIL_TABLES = ("audit_reviews", "audit_reruns", "audit_rerun_results", "audit_changes")
TRAIL_GUARD = "callaudit_trail_is_append_only"


def _in(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _audit_fk() -> Mapped[int]:
    return mapped_column(BigInteger, ForeignKey("audits.id", ondelete="RESTRICT"), nullable=False, index=True)


def _created_at() -> Mapped[dt.datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False, index=True)


class ReviewKind(enum.StrEnum):
    STEP = "step"
    CONTROL_POINT = "control_point"


class AuditReview(IdMixin, Base):
    """A human override of a step's or a control point's verdict, made on one step revision."""

    __tablename__ = "audit_reviews"
    __table_args__ = (
        CheckConstraint(_in("kind", [k.value for k in ReviewKind]), name="kind"),
        Index("ix_audit_reviews_target", "audit_id", "step_position", "control_point_index"),
    )

    audit_id: Mapped[int] = _audit_fk()
    step_position: Mapped[int] = mapped_column(Integer, nullable=False)
    control_point_index: Mapped[int | None] = mapped_column(Integer)  # 1-based; None for a step review
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    step_revision: Mapped[int] = mapped_column(Integer, nullable=False)  # the revision it was made on
    actor_user_id: Mapped[int | None] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    reviewer_note: Mapped[str | None] = mapped_column(String(255))  # a display name the caller typed
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    previous: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    override: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    dispute_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("audit_disputes.id", ondelete="RESTRICT"))
    created_at: Mapped[dt.datetime] = _created_at()


class AuditRerun(IdMixin, Base):
    """A rerun asked for: who, what, with which instructions, and the Dagster run doing it."""

    __tablename__ = "audit_reruns"

    rerun_id: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    audit_id: Mapped[int] = _audit_fk()
    step_position: Mapped[int] = mapped_column(Integer, nullable=False)
    control_point_index: Mapped[int | None] = mapped_column(Integer)
    custom_instructions: Mapped[str | None] = mapped_column(Text)
    actor_user_id: Mapped[int | None] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    run_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    created_at: Mapped[dt.datetime] = _created_at()


class AuditRerunResult(IdMixin, Base):
    """How a rerun ended: the revision it made (or why it made none), and the comparison with the previous one."""

    __tablename__ = "audit_rerun_results"
    __table_args__ = (CheckConstraint(_in("status", ["completed", "failed"]), name="status"),)

    rerun_id: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    audit_id: Mapped[int] = _audit_fk()
    step_position: Mapped[int] = mapped_column(Integer, nullable=False)
    control_point_index: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    previous_revision: Mapped[int] = mapped_column(Integer, nullable=False)
    new_revision: Mapped[int | None] = mapped_column(Integer)
    previous: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    next: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    comparison: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = _created_at()


class ChangeKind(enum.StrEnum):
    METADATA = "metadata"
    SOFT_DELETE = "soft_delete"
    RESTORE = "restore"


class AuditChange(IdMixin, Base):
    """A metadata edit, soft delete or restore of an audit (the original trailed none of them)."""

    __tablename__ = "audit_changes"
    __table_args__ = (CheckConstraint(_in("kind", [k.value for k in ChangeKind]), name="kind"),)

    audit_id: Mapped[int] = _audit_fk()
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    actor_user_id: Mapped[int | None] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(128), nullable=False)
    previous: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    new: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[dt.datetime] = _created_at()


class DisputeStatus(enum.StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class AuditDispute(IdMixin, Base):
    """A challenge of one control point's verdict; resolved once, by a reviewer (accepted: an override)."""

    __tablename__ = "audit_disputes"
    __table_args__ = (
        CheckConstraint(_in("status", [s.value for s in DisputeStatus]), name="status"),
        Index("ix_audit_disputes_open", "status", "created_at"),
    )

    audit_id: Mapped[int] = _audit_fk()
    step_position: Mapped[int] = mapped_column(Integer, nullable=False)
    control_point_index: Mapped[int] = mapped_column(Integer, nullable=False)
    comment: Mapped[str] = mapped_column(Text, nullable=False)
    statut_at_opening: Mapped[str] = mapped_column(String(16), nullable=False)
    opened_by_user_id: Mapped[int | None] = mapped_column(BigInteger)
    opened_by: Mapped[str] = mapped_column(String(128), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=DisputeStatus.OPEN)
    resolved_by_user_id: Mapped[int | None] = mapped_column(BigInteger)
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    resolution: Mapped[str | None] = mapped_column(Text)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[dt.datetime] = _created_at()
