"""A run's accounting: one outcome per fiche, counters and status derived from them (pure).

Ignored fiches are their own status, never successes (reference §9.12 #3); the run's status only
weighs fiches that were processed: `completed` without failures, `partial` with failures and
successes, `failed` when something failed and nothing succeeded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from domain.models.automation import FicheResultStatus, RunStatus


@dataclass
class FicheOutcome:
    fiche_id: str
    status: FicheResultStatus = FicheResultStatus.SUCCESSFUL
    error: str | None = None
    ignore_reason: str | None = None
    recordings: int | None = None
    transcribed: int = 0
    audit_ids: list[int] = field(default_factory=list)
    attempts: int = 1

    def fail(self, error: str) -> None:
        self.status = FicheResultStatus.FAILED
        self.error = error

    def ignore(self, reason: str) -> None:
        self.status = FicheResultStatus.IGNORED
        self.ignore_reason = reason


@dataclass(frozen=True)
class Tally:
    total: int = 0
    successful: int = 0
    failed: int = 0
    ignored: int = 0
    transcriptions: int = 0
    audits: int = 0

    @classmethod
    def of(cls, outcomes: Iterable[FicheOutcome]) -> Tally:
        rows = list(outcomes)
        return cls(
            total=len(rows),
            successful=sum(o.status is FicheResultStatus.SUCCESSFUL for o in rows),
            failed=sum(o.status is FicheResultStatus.FAILED for o in rows),
            ignored=sum(o.status is FicheResultStatus.IGNORED for o in rows),
            transcriptions=sum(o.transcribed for o in rows),
            audits=sum(len(o.audit_ids) for o in rows),
        )

    def status(self) -> RunStatus:
        if self.failed and not self.successful:
            return RunStatus.FAILED
        if self.failed:
            return RunStatus.PARTIAL
        return RunStatus.COMPLETED

    def as_event(self) -> dict[str, int]:
        return {
            "total_fiches": self.total,
            "successful_fiches": self.successful,
            "failed_fiches": self.failed,
            "ignored_fiches": self.ignored,
            "transcriptions_run": self.transcriptions,
            "audits_run": self.audits,
        }
