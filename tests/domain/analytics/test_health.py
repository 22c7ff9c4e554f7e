"""`point_health` on a hand-computed example."""

from __future__ import annotations

from typing import Any

from domain.analytics.health import point_health


def _fact(point: int, ai: str, evidence: int, changed: bool, *, card: int = 1) -> dict[str, Any]:
    return {
        "scorecard_id": card,
        "step_position": 2,
        "control_point_index": point,
        "control_point": f"point {point}",
        "ai_status": ai,
        "evidence_count": evidence,
        "human_changed": changed,
    }


def test_rates_per_control_point_by_hand() -> None:
    facts = [
        # point 1: 4 seen, 1 not applicable -> 2 PRESENT of 3 applicable; 3 with evidence; 1 changed
        _fact(1, "PRESENT", 2, False),
        _fact(1, "PRESENT", 1, True),
        _fact(1, "ABSENT", 0, False),
        _fact(1, "NON_APPLICABLE", 1, False),
        # point 2: only not applicable -> no pass rate
        _fact(2, "NON_APPLICABLE", 0, False),
        # another scorecard's point 1 is its own row
        _fact(1, "PARTIEL", 0, True, card=5),
    ]
    health = point_health(facts, {(1, 2, 1): 0.5})
    assert [(h["scorecard_id"], h["control_point_index"]) for h in health] == [(1, 1), (1, 2), (5, 1)]
    first, second, other = health
    assert (first["points"], first["ai_pass_rate"], first["evidence_rate"], first["override_rate"], first["kappa"]) == (
        4,
        0.6667,
        0.75,
        0.25,
        0.5,
    )
    assert (second["ai_pass_rate"], second["evidence_rate"], second["kappa"]) == (None, 0.0, None)
    assert (other["ai_pass_rate"], other["override_rate"]) == (0.0, 1.0)
