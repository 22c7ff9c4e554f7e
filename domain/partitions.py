"""Where a day partition stands, read from the tables: what the assets report after each run.

A run's own figures (what it transcribed or audited) say little about the partition: an
incremental run that had nothing to do would show zeros over a complete day. These totals describe
the day itself after the run; the assets report them beside the run's delta.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.models.audits import Audit, AuditStatus
from domain.models.fiches import Fiche
from domain.models.transcripts import FicheTranscription, FicheTranscriptionStatus
from domain.stages import ready_to_transcribe


@dataclass(frozen=True)
class DayTranscription:
    fiches: int  # with details
    statuses: dict[str, int] = field(default_factory=dict)  # by fiche transcription status

    @property
    def untouched(self) -> int:
        """Fiches no transcription run has reached yet."""
        return self.fiches - sum(self.statuses.values())

    def metadata(self) -> dict[str, Any]:
        return {
            "day_fiches": self.fiches,
            **{f"day_fiches_{s.value}": self.statuses.get(s.value, 0) for s in FicheTranscriptionStatus},
            "day_fiches_not_transcribed_yet": self.untouched,
        }


def day_transcription(session: Session, day: dt.date) -> DayTranscription:
    fiches = ready_to_transcribe(day).order_by(None).subquery()
    total = session.scalar(select(func.count()).select_from(fiches)) or 0
    statuses = dict(
        session.execute(
            select(FicheTranscription.status, func.count())
            .where(FicheTranscription.fiche_id.in_(select(fiches.c.fiche_id)))
            .group_by(FicheTranscription.status)
        ).all()
    )
    return DayTranscription(int(total), {str(k): int(v) for k, v in statuses.items()})


@dataclass(frozen=True)
class DayAudits:
    fiches: int  # with details
    ready: int  # fully transcribed
    audited: int  # whose latest audit with the scorecard is completed
    failed: int  # whose latest audit failed (none completed)
    average_score: float | None
    levels: dict[str, int]

    @property
    def not_ready(self) -> int:
        return self.fiches - self.ready

    @property
    def waiting(self) -> int:
        """Ready fiches without a finished audit with the scorecard."""
        return max(self.ready - self.audited - self.failed, 0)

    def metadata(self) -> dict[str, Any]:
        return {
            "day_fiches": self.fiches,
            "day_ready": self.ready,
            "day_not_ready": self.not_ready,
            "day_audited": self.audited,
            "day_failed": self.failed,
            "day_waiting": self.waiting,
            "day_average_score": self.average_score,
            "day_levels": self.levels,
        }


def day_audits(session: Session, day: dt.date, scorecard_id: int) -> DayAudits:
    """The day's fiches against one scorecard: their latest, not deleted audit (one per fiche)."""
    fiches = ready_to_transcribe(day).order_by(None).subquery()
    total = session.scalar(select(func.count()).select_from(fiches)) or 0
    ready = (
        session.scalar(
            select(func.count())
            .select_from(FicheTranscription)
            .where(
                FicheTranscription.fiche_id.in_(select(fiches.c.fiche_id)),
                FicheTranscription.status == FicheTranscriptionStatus.COMPLETE,
            )
        )
        or 0
    )
    latest = session.execute(
        select(Audit.status, Audit.score_percentage, Audit.niveau).where(
            Audit.fiche_id.in_(select(fiches.c.fiche_id)),
            Audit.scorecard_id == scorecard_id,
            Audit.is_latest,
            Audit.deleted_at.is_(None),
        )
    ).all()
    done = [row for row in latest if row.status == AuditStatus.COMPLETED]
    scores = [float(row.score_percentage) for row in done if row.score_percentage is not None]
    return DayAudits(
        fiches=int(total),
        ready=int(ready),
        audited=len(done),
        failed=sum(1 for row in latest if row.status == AuditStatus.FAILED),
        average_score=round(sum(scores) / len(scores), 2) if scores else None,
        levels=dict(Counter(row.niveau for row in done)),
    )


def fetch_status_counts(session: Session, day: dt.date | None) -> dict[str, int]:
    """Fiches by fetch status: of the sales day, or of every day when `day` is None."""
    query = select(Fiche.fetch_status, func.count()).group_by(Fiche.fetch_status)
    if day is not None:
        query = query.where(Fiche.sales_date == day)
    return {str(status): int(n) for status, n in session.execute(query)}


def audits_left_running(session: Session, run_id: str) -> int:
    """Audits of the run still running or pending."""
    statement = (
        select(func.count())
        .select_from(Audit)
        .where(Audit.run_id == run_id, Audit.status.in_((AuditStatus.RUNNING, AuditStatus.PENDING)))
    )
    return int(session.scalar(statement) or 0)
