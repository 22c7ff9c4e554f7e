"""Tables of the `analytics` schema: flat facts for data teams, rebuilt per sales day by the assets.

Derived data only (the application's tables stay the source of truth): a partition's rows are
replaced as a whole, so nothing here is ever updated in place.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Float, Integer, String, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base

ANALYTICS_SCHEMA = "analytics"


class AuditFact(Base):
    """One control point of one latest audit (reruns and the overrides in force applied)."""

    __tablename__ = "audit_facts"
    __table_args__ = {"schema": ANALYTICS_SCHEMA}

    audit_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    step_position: Mapped[int] = mapped_column(Integer, primary_key=True)
    control_point_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    sales_day: Mapped[dt.date] = mapped_column(Date, nullable=False, index=True)
    fiche_id: Mapped[str] = mapped_column(String(64), nullable=False)
    agent: Mapped[str | None] = mapped_column(String(64))  # the CRM advisor the fiche is attributed to
    crm_group_id: Mapped[str | None] = mapped_column(String(64))
    groupe: Mapped[str | None] = mapped_column(String(255))
    scorecard_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    scorecard_version_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    scorecard_version: Mapped[int] = mapped_column(Integer, nullable=False)
    step_name: Mapped[str] = mapped_column(String(255), nullable=False)
    step_weight: Mapped[int] = mapped_column(Integer, nullable=False)
    step_critical: Mapped[bool] = mapped_column(Boolean, nullable=False)
    step_score: Mapped[int] = mapped_column(Integer, nullable=False)  # latest view
    # Per step, repeated on each of its points: the step's share of the audit's score, in score points.
    step_score_contribution: Mapped[float | None] = mapped_column(Float)
    step_level: Mapped[str] = mapped_column(String(16), nullable=False)  # latest view
    control_point: Mapped[str] = mapped_column(Text, nullable=False)
    ai_status: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # latest view
    human_changed: Mapped[bool] = mapped_column(Boolean, nullable=False)
    changed_by: Mapped[str | None] = mapped_column(String(128))
    evidence_count: Mapped[int] = mapped_column(Integer, nullable=False)
    first_evidence_second: Mapped[float | None] = mapped_column(Float)
    auditor: Mapped[str] = mapped_column(String(32), nullable=False)
    model: Mapped[str | None] = mapped_column(String(128))
    prompt_version: Mapped[str] = mapped_column(String(32), nullable=False)
    transcript_mode: Mapped[str] = mapped_column(String(8), nullable=False)
    # Per audit, repeated on each of its rows: sum them over distinct audits.
    audit_score_percentage: Mapped[float | None] = mapped_column(Float)
    audit_level: Mapped[str] = mapped_column(String(16), nullable=False)
    audit_input_tokens: Mapped[int] = mapped_column(Integer, nullable=False)
    audit_output_tokens: Mapped[int] = mapped_column(Integer, nullable=False)
    audit_cost_usd: Mapped[float] = mapped_column(Float, nullable=False)
    audited_minutes: Mapped[float] = mapped_column(Float, nullable=False)
    audit_duration_seconds: Mapped[float | None] = mapped_column(Float)
    completed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ScorecardHealthRow(Base):
    """One control point of one scorecard on one sales day (`scorecard_health`)."""

    __tablename__ = "scorecard_health"
    __table_args__ = {"schema": ANALYTICS_SCHEMA}

    sales_day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    scorecard_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    step_position: Mapped[int] = mapped_column(Integer, primary_key=True)
    control_point_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    control_point: Mapped[str] = mapped_column(Text, nullable=False)
    points: Mapped[int] = mapped_column(Integer, nullable=False)
    ai_pass_rate: Mapped[float | None] = mapped_column(Float)
    evidence_rate: Mapped[float] = mapped_column(Float, nullable=False)
    override_rate: Mapped[float] = mapped_column(Float, nullable=False)
    kappa: Mapped[float | None] = mapped_column(Float)


class AgentScorecardWeek(Base):
    """One agent x scorecard x week (`agent_scorecards`); `agent` is null for fiches without one."""

    __tablename__ = "agent_scorecards"
    __table_args__ = {"schema": ANALYTICS_SCHEMA}

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    week: Mapped[dt.date] = mapped_column(Date, nullable=False, index=True)  # its Monday
    agent: Mapped[str | None] = mapped_column(String(64))
    scorecard_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    audits: Mapped[int] = mapped_column(Integer, nullable=False)
    average_score: Mapped[float | None] = mapped_column(Float)
    level_excellent: Mapped[int] = mapped_column(Integer, nullable=False)
    level_bon: Mapped[int] = mapped_column(Integer, nullable=False)
    level_acceptable: Mapped[int] = mapped_column(Integer, nullable=False)
    level_insuffisant: Mapped[int] = mapped_column(Integer, nullable=False)
    level_rejet: Mapped[int] = mapped_column(Integer, nullable=False)
    rejet_rate: Mapped[float] = mapped_column(Float, nullable=False)
    most_failed_points: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    trend: Mapped[float | None] = mapped_column(Float)
