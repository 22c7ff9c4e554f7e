"""Compliance of an audit from its step results (reference §7.7)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import pytest

from domain.audits.schema import Conformity, Level
from domain.audits.scoring import compute_compliance
from tests.fixtures.factories.timelines import scorecard, step


@dataclass(frozen=True)
class Row:
    """What a stored step row offers: plain strings for the enum columns."""

    position: int
    score: int
    weight: int
    is_critical: bool = False
    conforme: str = "CONFORME"


def test_weighted_percentage_over_every_configured_step_with_capped_scores() -> None:
    card = scorecard(step(1, weight=10), step(2, weight=5), step(3, weight=5))
    # step 1 over-scored (capped at 10), step 3 has no result and earns nothing
    result = compute_compliance([Row(1, 14, 10), Row(2, 3, 5)], card)
    assert (result.earned, result.total, result.poids) == (13, 20, "13/20")
    assert result.score_percentage == Decimal("65.00")
    assert result.niveau is Level.ACCEPTABLE
    assert result.is_compliant


@pytest.mark.parametrize(
    ("earned", "total", "level"),
    [
        (9000, 10000, Level.EXCELLENT),
        (8999, 10000, Level.BON),  # 89.99
        (7500, 10000, Level.BON),
        (7499, 10000, Level.ACCEPTABLE),
        (6000, 10000, Level.ACCEPTABLE),
        (5999, 10000, Level.INSUFFISANT),
        (0, 10000, Level.INSUFFISANT),
    ],
)
def test_level_thresholds_at_their_boundaries(earned: int, total: int, level: Level) -> None:
    card = scorecard(step(1, weight=total))
    assert compute_compliance([Row(1, earned, total)], card).niveau is level


def test_level_reads_the_rounded_percentage() -> None:
    card = scorecard(step(1, weight=100000))
    result = compute_compliance([Row(1, 89996, 100000)], card)  # 89.996 % is shown as 90.00
    assert result.score_percentage == Decimal("90.00")
    assert result.niveau is Level.EXCELLENT


def test_a_critical_step_not_conforme_rejects_whatever_the_score() -> None:
    card = scorecard(step(1, weight=10, is_critical=True, name="ORIAS"), step(2, weight=90, is_critical=True))
    rows = [Row(1, 9, 10, True, Conformity.PARTIEL), Row(2, 90, 90, True, Conformity.CONFORME)]
    result = compute_compliance(rows, card)
    assert result.score_percentage == Decimal("99.00")
    assert result.niveau is Level.REJET
    assert not result.is_compliant
    assert (result.points_critiques, result.critical_issues) == ("1/2", ("ORIAS",))


def test_a_missing_critical_result_counts_as_failed() -> None:
    card = scorecard(step(1, is_critical=True, name="Rétractation"), step(2))
    result = compute_compliance([Row(2, 10, 10)], card)
    assert result.niveau is Level.REJET
    assert result.critical_issues == ("Rétractation",)


def test_all_critical_steps_conforme_pass() -> None:
    card = scorecard(step(1, is_critical=True), step(2))
    result = compute_compliance([Row(1, 10, 10, True), Row(2, 10, 10, False, "NON_CONFORME")], card)
    assert (result.niveau, result.points_critiques) == (Level.EXCELLENT, "1/1")


def test_empty_scorecard_scores_zero_without_rejection() -> None:
    result = compute_compliance([], scorecard())
    assert (result.score_percentage, result.niveau, result.points_critiques) == (
        Decimal("0.00"),
        Level.INSUFFISANT,
        "0/0",
    )


def test_two_results_for_one_step_are_refused() -> None:
    with pytest.raises(ValueError, match="two results"):
        compute_compliance([Row(1, 1, 10), Row(1, 2, 10)], scorecard(step(1)))
