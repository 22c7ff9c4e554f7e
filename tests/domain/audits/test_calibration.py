"""Calibration figures against a hand-computed example (Cohen's kappa and its 95 % interval)."""

from __future__ import annotations

import datetime as dt

import pytest

from domain.audits.calibration import PointPair, agreement, calibrate, week_of

# 10 points: 4 PRESENT/PRESENT, 3 ABSENT/ABSENT, 2 AI PRESENT but human ABSENT, 1 AI ABSENT but human PRESENT.
EXAMPLE = (
    [("PRESENT", "PRESENT")] * 4 + [("ABSENT", "ABSENT")] * 3 + [("PRESENT", "ABSENT")] * 2 + [("ABSENT", "PRESENT")]
)


def test_kappa_and_its_interval_match_the_hand_computation() -> None:
    # po = 7/10; AI marginals P 6, A 4; human P 5, A 5; pe = (6*5 + 4*5)/100 = 0.5
    # kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    # SE = sqrt(0.7 * 0.3 / (10 * 0.5**2)) = sqrt(0.084) = 0.289828; 1.96 SE = 0.568052
    result = agreement(EXAMPLE)
    assert (result.n, result.agreement, result.kappa) == (10, 0.7, 0.4)
    assert result.kappa_low == pytest.approx(-0.1681, abs=1e-4)
    assert result.kappa_high == pytest.approx(0.9681, abs=1e-4)
    assert result.confusion["PRESENT"] == {"PRESENT": 4, "ABSENT": 2, "PARTIEL": 0, "NON_APPLICABLE": 0}
    assert result.confusion["ABSENT"]["PRESENT"] == 1


def test_perfect_agreement_on_one_status_has_no_kappa_and_nothing_is_empty() -> None:
    same = agreement([("PRESENT", "PRESENT")] * 3)
    assert (same.agreement, same.kappa, same.kappa_low) == (1.0, None, None)
    assert agreement([]).agreement is None


def test_a_report_splits_by_point_scorecard_and_week_and_ranks_overrides() -> None:
    monday = dt.date(2026, 3, 2)

    def pair(index: int, ai: str, human: str, day: dt.date) -> PointPair:
        return PointPair(1, "Vente", 1, index, f"point {index}", ai, human, day)

    pairs = [pair(1, ai, human, monday) for ai, human in EXAMPLE] + [
        pair(2, "PRESENT", "PRESENT", monday + dt.timedelta(days=8))
    ]
    report = calibrate(pairs, audits=11, overrides={(1, 1, 1): 3, (1, 1, 2): 0}, disputes={(1, 1, 2): 1})
    assert [p["kappa"] for p in report.points] == [0.4, None]
    assert report.points[0]["overrides"] == 3
    assert [w["week"] for w in report.weekly] == ["2026-03-02", "2026-03-09"]
    assert [(p["control_point_index"], p["overrides"]) for p in report.most_overridden] == [(1, 3)]
    assert [(p["control_point_index"], p["disputes"]) for p in report.most_disputed] == [(2, 1)]
    assert report.scorecards[0]["n"] == 11
    assert week_of(dt.date(2026, 3, 8)) == "2026-03-02"
