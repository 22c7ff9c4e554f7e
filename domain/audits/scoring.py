"""An audit's compliance from its step results (reference §7.7): the one implementation of the formulas.

Used after the steps are gated, after a human review, a step rerun or a control-point rerun alike,
from gated steps or stored step rows: anything with the attributes of `StepResult` fits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

from domain.audits.schema import Conformity, Level
from domain.audits.scorecard import ScorecardSpec

EXCELLENT_MIN_PERCENT = Decimal(90)
BON_MIN_PERCENT = Decimal(75)
ACCEPTABLE_MIN_PERCENT = Decimal(60)
_CENTS = Decimal("0.01")


class StepResult(Protocol):
    @property
    def position(self) -> int: ...
    @property
    def score(self) -> int: ...
    @property
    def weight(self) -> int: ...
    @property
    def is_critical(self) -> bool: ...
    @property
    def conforme(self) -> str: ...


@dataclass(frozen=True)
class Compliance:
    score_percentage: Decimal  # 2 decimals
    niveau: Level
    is_compliant: bool
    earned: int  # Σ min(step score, step weight)
    total: int  # Σ weights of every configured step
    critical_passed: int
    critical_total: int
    critical_issues: tuple[str, ...]  # names of configured critical steps not CONFORME (or without result)

    @property
    def points_critiques(self) -> str:
        return f"{self.critical_passed}/{self.critical_total}"

    @property
    def poids(self) -> str:
        """`poids_obtenu/poids_total` of the original's JSON, e.g. `42/50`."""
        return f"{self.earned}/{self.total}"


def level_for(percentage: Decimal) -> Level:
    if percentage >= EXCELLENT_MIN_PERCENT:
        return Level.EXCELLENT
    if percentage >= BON_MIN_PERCENT:
        return Level.BON
    if percentage >= ACCEPTABLE_MIN_PERCENT:
        return Level.ACCEPTABLE
    return Level.INSUFFISANT


def compute_compliance(steps: Iterable[StepResult], scorecard: ScorecardSpec) -> Compliance:
    """Weighted percentage over every configured step; REJET unless every critical step is CONFORME.

    A configured step without a result earns nothing. Levels read the percentage as stored (rounded
    half up to 2 decimals), so a displayed 90.00 is always EXCELLENT. A scorecard without weight
    scores 0.00. Two results for one position are a caller's bug and raise `ValueError`.
    """
    by_position: dict[int, StepResult] = {}
    for step in steps:
        if step.position in by_position:
            raise ValueError(f"two results for step {step.position}")
        by_position[step.position] = step
    earned = sum(min(max(step.score, 0), step.weight) for step in by_position.values())
    total = scorecard.total_weight
    percentage = (Decimal(earned * 100) / Decimal(total)).quantize(_CENTS, ROUND_HALF_UP) if total else Decimal("0.00")
    critical_passed = sum(step.is_critical and step.conforme == Conformity.CONFORME for step in by_position.values())
    critical_total = sum(step.is_critical for step in scorecard.steps)
    critical_issues = tuple(
        spec.name
        for spec in scorecard.steps
        if spec.is_critical
        and (spec.position not in by_position or by_position[spec.position].conforme != Conformity.CONFORME)
    )
    niveau = Level.REJET if critical_passed < critical_total else level_for(percentage)
    return Compliance(
        score_percentage=percentage,
        niveau=niveau,
        is_compliant=niveau is not Level.REJET,
        earned=earned,
        total=total,
        critical_passed=critical_passed,
        critical_total=critical_total,
        critical_issues=critical_issues,
    )
