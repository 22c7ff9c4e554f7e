"""Audits of fiches against a scorecard version: the verdict, its steps, control points and citations.

One row per audit attempt. For a (fiche, scorecard) pair `version` counts the audits made and exactly
one row is `is_latest` (a partial unique index holds it, bug §13.5 #33 of the original); at most one
is in flight (`pending`/`running`), so a retried or concurrent launch cannot make a duplicate.
`input_key` digests what the audit read (scorecard version, transcript version, auditor, model,
prompt version): an incremental run skips a fiche whose latest completed audit has the same key.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    FetchedValue,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from domain.audits.schema import Conformity, Level, PointStatus
from domain.models.base import Base, IdMixin, TimestampMixin


class AuditStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


PENDING_LEVEL = "PENDING"  # `niveau` of an audit not finished
IN_FLIGHT_INDEX = "uq_audits_in_flight"  # at most one pending/running audit per (fiche, scorecard)
LIST_INDEX = "ix_audits_latest_created"


def _in(column: str, values: list[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Audit(IdMixin, TimestampMixin, Base):
    __tablename__ = "audits"
    __table_args__ = (
        CheckConstraint(_in("status", [s.value for s in AuditStatus]), name="status"),
        CheckConstraint(_in("niveau", [PENDING_LEVEL, *(lv.value for lv in Level)]), name="niveau"),
        CheckConstraint(_in("transcript_mode", ["prompt", "tools"]), name="transcript_mode"),
        UniqueConstraint("fiche_id", "scorecard_id", "version"),
        Index(
            "uq_audits_latest",
            "fiche_id",
            "scorecard_id",
            unique=True,
            postgresql_where=text("is_latest"),
        ),
        # The audit list's default page (latest, not deleted, newest first) read in index order and
        # its total counted from the index alone (benchmarks/api_load.py, docs/decisions.md).
        Index(
            LIST_INDEX,
            text("created_at DESC NULLS LAST"),
            text("id DESC"),
            postgresql_where=text("is_latest AND deleted_at IS NULL"),
        ),
        # The list's scorecard and sales-date filters and the grouped view's groupe, counted from the
        # index alone under every scope (migration `i21c_audit_fiche_copies`, decision 117).
        Index(
            "ix_audits_latest_card_sales_date",
            "scorecard_id",
            "fiche_sales_date",
            postgresql_include=["fiche_crm_group_id", "fiche_attribution_user_id"],
            postgresql_where=text("is_latest AND deleted_at IS NULL"),
        ),
        Index(
            "ix_audits_latest_groupe",
            "fiche_groupe",
            postgresql_include=["score_percentage", "is_compliant", "fiche_crm_group_id", "fiche_attribution_user_id"],
            postgresql_where=text("is_latest AND deleted_at IS NULL"),
        ),
        Index(
            IN_FLIGHT_INDEX,
            "fiche_id",
            "scorecard_id",
            unique=True,
            postgresql_where=text("status IN ('pending', 'running')"),
        ),
    )

    fiche_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("fiches.fiche_id", ondelete="CASCADE", onupdate="CASCADE"), nullable=False, index=True
    )
    scorecard_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("scorecards.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    scorecard_version_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("scorecard_versions.id", ondelete="RESTRICT"), nullable=False, index=True
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    is_latest: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default=true(), index=True)

    status: Mapped[str] = mapped_column(String(16), nullable=False, default=AuditStatus.PENDING, index=True)
    error: Mapped[str | None] = mapped_column(Text)
    failed_phase: Mapped[str | None] = mapped_column(String(32))

    trigger_source: Mapped[str] = mapped_column(String(32), nullable=False, default="api", index=True)
    trigger_user_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="SET NULL"))
    run_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # Set on audits an automation run made (reference §9.12 #2: linked like the original meant to).
    automation_run_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("automation_runs.id", ondelete="SET NULL"), index=True
    )
    automation_schedule_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("automation_schedules.id", ondelete="SET NULL"), index=True
    )
    notes: Mapped[str | None] = mapped_column(Text)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)

    auditor: Mapped[str] = mapped_column(String(32), nullable=False)  # `heuristic`, `openai`
    model: Mapped[str | None] = mapped_column(String(128))
    transcript_mode: Mapped[str] = mapped_column(String(8), nullable=False, default="prompt")
    use_rlm: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    prompt_version: Mapped[str] = mapped_column(String(32), nullable=False)
    transcript_version: Mapped[str | None] = mapped_column(String(32))
    input_key: Mapped[str | None] = mapped_column(String(64), index=True)

    score_percentage: Mapped[Decimal | None] = mapped_column(Numeric(5, 2), index=True)
    points_earned: Mapped[int | None] = mapped_column(Integer)
    points_total: Mapped[int | None] = mapped_column(Integer)
    niveau: Mapped[str] = mapped_column(String(16), nullable=False, default=PENDING_LEVEL, index=True)
    is_compliant: Mapped[bool | None] = mapped_column(Boolean, index=True)
    critical_passed: Mapped[int | None] = mapped_column(Integer)
    critical_total: Mapped[int | None] = mapped_column(Integer)

    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    steps_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    successful_steps: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    failed_steps: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    recordings_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    timeline_chunks: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    input_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    cached_input_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    output_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    cost_usd: Mapped[float] = mapped_column(Float, nullable=False, default=0.0, server_default="0")
    audited_seconds: Mapped[float] = mapped_column(Float, nullable=False, default=0.0, server_default="0")
    # What evidence gating removed or lowered, per audit (bug §13.5 #37: the original computed it and threw it away).
    gating: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict, server_default="{}")
    # The level hinges on verdicts the auditor is unsure of (`domain.audits.review`); the level itself is unchanged.
    needs_review: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false(), index=True
    )
    review_reasons: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list, server_default="[]")

    # Copies of the fiche's columns the list's and grouped view's filters and scope read, so those
    # statements stay on `audits` (decision 117). Triggers of migration `i21c_audit_fiche_copies` set
    # them on every insert and fiche change, whatever a writer sends: nothing in Python writes them.
    fiche_sales_date: Mapped[dt.date | None] = mapped_column(Date, server_default=FetchedValue())
    fiche_groupe: Mapped[str | None] = mapped_column(String(255), server_default=FetchedValue())
    fiche_crm_group_id: Mapped[str | None] = mapped_column(String(64), server_default=FetchedValue())
    fiche_attribution_user_id: Mapped[str | None] = mapped_column(String(64), server_default=FetchedValue())

    # The current revision of each step; a rerun adds one and supersedes the previous (`domain.audits.reruns`).
    steps: Mapped[list[AuditStep]] = relationship(
        primaryjoin="and_(Audit.id == AuditStep.audit_id, AuditStep.superseded_at.is_(None))",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="AuditStep.position",
    )

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


class AuditStep(IdMixin, Base):
    """One revision of a scorecard step's AI result; name, weight, criticality copied from the version at run time.

    The audit writes revision 1 of every step; each rerun adds the next revision and stamps the
    previous one `superseded_at` (its verdict is never changed). Human overrides are trail rows
    applied on top (`domain.audits.latest`), so every row keeps the AI's verdict as it was given.
    """

    __tablename__ = "audit_steps"
    __table_args__ = (
        UniqueConstraint("audit_id", "position", "revision"),
        Index(
            "uq_audit_steps_current",
            "audit_id",
            "position",
            unique=True,
            postgresql_where=text("superseded_at IS NULL"),
        ),
        CheckConstraint(_in("conforme", [c.value for c in Conformity]), name="conforme"),
        CheckConstraint(_in("rerun_scope", ["audit", "step", "control_point"]), name="rerun_scope"),
    )

    audit_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("audits.id", ondelete="CASCADE"), nullable=False, index=True
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    superseded_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # What produced the revision: the first audit (`audit`), a step rerun or one control point's rerun.
    rerun_scope: Mapped[str] = mapped_column(String(16), nullable=False, default="audit", server_default="audit")
    rerun_point_index: Mapped[int | None] = mapped_column(Integer)
    rerun_id: Mapped[str | None] = mapped_column(String(32), index=True)
    run_id: Mapped[str | None] = mapped_column(String(64))  # the Dagster run of a rerun (the audit's otherwise)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    severity: Mapped[str] = mapped_column(String(16), nullable=False)
    is_critical: Mapped[bool] = mapped_column(Boolean, nullable=False)
    weight: Mapped[int] = mapped_column(Integer, nullable=False)
    traite: Mapped[bool] = mapped_column(Boolean, nullable=False)
    conforme: Mapped[str] = mapped_column(String(16), nullable=False)
    score: Mapped[int] = mapped_column(Integer, nullable=False)
    niveau_conformite: Mapped[str] = mapped_column(String(16), nullable=False)
    commentaire_global: Mapped[str] = mapped_column(Text, nullable=False, default="")
    mots_cles_trouves: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list, server_default="[]")
    minutages: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list, server_default="[]")
    erreurs_transcription_tolerees: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    total_citations: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failed: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    error: Mapped[str | None] = mapped_column(Text)
    transcript_mode: Mapped[str] = mapped_column(String(8), nullable=False, default="prompt")
    input_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cached_input_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    gating: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict, server_default="{}")

    control_points: Mapped[list[AuditControlPoint]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="AuditControlPoint.index"
    )


class AuditControlPoint(IdMixin, Base):
    __tablename__ = "audit_control_points"
    __table_args__ = (
        UniqueConstraint("step_id", "index"),
        CheckConstraint(_in("statut", [s.value for s in PointStatus]), name="statut"),
    )

    step_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("audit_steps.id", ondelete="CASCADE"), nullable=False, index=True
    )
    index: Mapped[int] = mapped_column(Integer, nullable=False)  # 1-based, as in the scorecard
    point: Mapped[str] = mapped_column(Text, nullable=False)
    statut: Mapped[str] = mapped_column(String(16), nullable=False)
    commentaire: Mapped[str] = mapped_column(Text, nullable=False, default="")
    minutages: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list, server_default="[]")
    erreur_transcription_notee: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    variation_phonetique_utilisee: Mapped[str | None] = mapped_column(Text)
    downgraded: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    confidence: Mapped[float | None] = mapped_column(Float)  # the auditor's certainty, when it tells one
    decision_rule: Mapped[str | None] = mapped_column(String(48))  # what decided the verdict

    citations: Mapped[list[AuditCitation]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="AuditCitation.index"
    )


class AuditCitation(IdMixin, Base):
    """A quote that passed evidence gating, located to its chunk and to the second by word timings."""

    __tablename__ = "audit_citations"
    __table_args__ = (UniqueConstraint("control_point_id", "index"),)

    control_point_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("audit_control_points.id", ondelete="CASCADE"), nullable=False, index=True
    )
    index: Mapped[int] = mapped_column(Integer, nullable=False)  # 1-based
    texte: Mapped[str] = mapped_column(Text, nullable=False)
    chunk_id: Mapped[str] = mapped_column(String(96), nullable=False, index=True)
    call_id: Mapped[str] = mapped_column(String(64), nullable=False)
    recording_index: Mapped[int] = mapped_column(Integer, nullable=False)
    chunk_index: Mapped[int] = mapped_column(Integer, nullable=False)
    speaker: Mapped[str] = mapped_column(String(32), nullable=False)
    role: Mapped[str | None] = mapped_column(String(16))  # the speaker's role in its recording, when known
    start_seconds: Mapped[float] = mapped_column(Float, nullable=False)
    end_seconds: Mapped[float] = mapped_column(Float, nullable=False)
    minutage: Mapped[str] = mapped_column(String(8), nullable=False)
    recording_date: Mapped[str | None] = mapped_column(String(10))
    recording_time: Mapped[str | None] = mapped_column(String(5))
    recording_url: Mapped[str | None] = mapped_column(Text)
    match: Mapped[str] = mapped_column(String(16), nullable=False)  # `exact` or `tolerant` (ASR noise)
    similarity: Mapped[float] = mapped_column(Float, nullable=False, default=1.0)


#: The key columns of `AuditCount`, hour first (the trigger finds a row by its hour, then the rest).
AUDIT_COUNT_KEY = ("created_hour", "scorecard_id", "status", "niveau", "crm_group_id", "groupe", "is_compliant")


class AuditCount(IdMixin, Base):
    """How many latest, not deleted audits share a key (their fiche's CRM group and groupe, scorecard,
    status, level, compliance, UTC hour of creation), with their scores' sum, minimum and maximum.

    Kept exact by triggers of migration `i21a_audit_counts` on `audits` and `fiches` (every writer:
    store, supersede, review, delete, restore, a CRM refresh moving a fiche to another group), so the
    grouped view and the list's total sum a few thousand rows instead of every audit. Derived data:
    nothing in Python writes it."""

    __tablename__ = "audit_counts"
    __table_args__ = (Index("uq_audit_counts_key", *AUDIT_COUNT_KEY, unique=True, postgresql_nulls_not_distinct=True),)

    created_hour: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    scorecard_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    niveau: Mapped[str] = mapped_column(String(16), nullable=False)
    crm_group_id: Mapped[str | None] = mapped_column(String(64))
    groupe: Mapped[str | None] = mapped_column(String(255))
    is_compliant: Mapped[bool | None] = mapped_column(Boolean)
    audits: Mapped[int] = mapped_column(Integer, nullable=False)
    scored: Mapped[int] = mapped_column(Integer, nullable=False)  # audits with a score
    score_sum: Mapped[Decimal] = mapped_column(Numeric, nullable=False)
    score_min: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
    score_max: Mapped[Decimal | None] = mapped_column(Numeric(5, 2))
