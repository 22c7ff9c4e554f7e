"""`step_contribution`: a step's part of its audit's score, on a hand-computed example."""

from __future__ import annotations

import pytest

from domain.analytics.facts import step_contribution


def test_the_parts_of_an_audits_steps_add_up_to_its_score() -> None:
    # Weights 5, 3, 2 and a configured step without result (weight 2): 12 in all. Scores 5, 4 (over its
    # weight: capped at 3) and -1 (counted as 0): 8 of 12 = 66.67 %.
    parts = [step_contribution(5, 5, 12), step_contribution(4, 3, 12), step_contribution(-1, 2, 12)]
    assert parts == [pytest.approx(500 / 12), pytest.approx(25.0), 0.0]
    assert sum(p or 0 for p in parts) == pytest.approx(800 / 12)


def test_a_scorecard_without_weight_gives_nothing_and_an_unknown_total_gives_no_part() -> None:
    assert step_contribution(3, 0, 0) == 0.0
    assert step_contribution(3, 5, None) is None
