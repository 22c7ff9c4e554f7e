"""Scorecards (the original's "audit configs"), versioned: every edit makes a new immutable version.

A `Scorecard` is the stable identity users name and flag (active, run automatically); its content
(prompt, steps) lives in `ScorecardVersion` rows that are never updated once written, so every
audit keeps pointing at exactly what it was run with. `current_version_id` is the version new
audits use.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from domain.audits.scorecard import ScorecardSpec, Severity, StepSpec
from domain.models.base import Base, IdMixin, TimestampMixin
from domain.scorecards.speakers import point_speakers


class Scorecard(IdMixin, TimestampMixin, Base):
    __tablename__ = "scorecards"

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default=true(), index=True)
    run_automatically: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false(), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="SET NULL"))
    current_version_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("scorecard_versions.id", use_alter=True, ondelete="SET NULL")
    )

    versions: Mapped[list[ScorecardVersion]] = relationship(
        back_populates="scorecard",
        foreign_keys="ScorecardVersion.scorecard_id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ScorecardVersion.version",
    )
    current_version: Mapped[ScorecardVersion | None] = relationship(foreign_keys=[current_version_id], post_update=True)


class ScorecardVersion(IdMixin, Base):
    """One immutable version. `extra` keeps informational blocks of an imported JSON we do not interpret."""

    __tablename__ = "scorecard_versions"
    __table_args__ = (UniqueConstraint("scorecard_id", "version"),)

    scorecard_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("scorecards.id", ondelete="CASCADE"), nullable=False, index=True
    )
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    system_prompt: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default="")
    extra: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict, server_default="{}")
    # The document this version was imported from, verbatim: exported as it came (positions, step keys
    # audits do not use, the source's `version` label), so an import/export round trip is lossless.
    source_document: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    change_note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)

    scorecard: Mapped[Scorecard] = relationship(back_populates="versions", foreign_keys=[scorecard_id])
    steps: Mapped[list[ScorecardStep]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="ScorecardStep.position"
    )

    @property
    def source_version(self) -> str | None:
        """The `version` label of the document this version was imported from (e.g. "2025-10-05")."""
        label = (self.source_document or {}).get("version")
        return None if label is None else str(label)

    def spec(self) -> ScorecardSpec:
        """The frozen value auditors read."""
        return ScorecardSpec(
            scorecard_id=self.scorecard_id,
            version_id=self.id,
            version=self.version,
            name=self.name,
            description=self.description or "",
            system_prompt=self.system_prompt,
            steps=tuple(step.spec() for step in self.steps),
        )


class ScorecardStep(IdMixin, Base):
    """One step of one version. `position` is 1-based and contiguous within the version."""

    __tablename__ = "scorecard_steps"
    __table_args__ = (
        UniqueConstraint("version_id", "position"),
        CheckConstraint("weight BETWEEN 1 AND 10", name="weight"),
        CheckConstraint("position >= 1", name="position"),
        CheckConstraint(f"severity IN ({', '.join(repr(s.value) for s in Severity)})", name="severity"),
    )

    version_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("scorecard_versions.id", ondelete="CASCADE"), nullable=False, index=True
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    prompt: Mapped[str] = mapped_column(Text, nullable=False)
    control_points: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list, server_default="[]")
    keywords: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list, server_default="[]")
    severity: Mapped[str] = mapped_column(String(16), nullable=False, default=Severity.MEDIUM)
    is_critical: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    chronological: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    weight: Mapped[int] = mapped_column(Integer, nullable=False, default=5, server_default="5")
    verify_product_info: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())
    # Whose words count per control point (`SpeakerRule` values); NULL for steps stored before the
    # column existed, whose rules are inferred from the points' wording.
    point_speakers: Mapped[list[str] | None] = mapped_column(JSONB)

    def spec(self) -> StepSpec:
        return StepSpec(
            position=self.position,
            name=self.name,
            description=self.description or "",
            prompt=self.prompt,
            control_points=tuple(self.control_points),
            keywords=tuple(self.keywords),
            severity=Severity(self.severity),
            is_critical=self.is_critical,
            chronological=self.chronological,
            weight=self.weight,
            verify_product_info=self.verify_product_info,
            point_speakers=point_speakers(self.control_points, self.prompt, self.point_speakers),
        )
