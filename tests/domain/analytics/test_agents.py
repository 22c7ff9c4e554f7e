"""`agent_weeks` on a hand-computed example."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from domain.analytics.agents import AGENT_WEEK_SCHEMA, agent_weeks

MONDAY = dt.date(2026, 3, 2)


def _fact(audit: int, agent: str | None, score: float, level: str, point: str, status: str) -> dict[str, Any]:
    return {
        "audit_id": audit,
        "agent": agent,
        "scorecard_id": 1,
        "audit_score_percentage": score,
        "audit_level": level,
        "step_name": "Accueil",
        "control_point": point,
        "status": status,
    }


def test_an_agents_week_by_hand() -> None:
    facts = [
        # agent a: audits 1 (80, BON) and 2 (40, REJET); "nom" failed twice, "date" once, "prix" passed
        _fact(1, "a", 80.0, "BON", "nom", "ABSENT"),
        _fact(1, "a", 80.0, "BON", "prix", "PRESENT"),
        _fact(2, "a", 40.0, "REJET", "nom", "PARTIEL"),
        _fact(2, "a", 40.0, "REJET", "date", "ABSENT"),
        _fact(3, None, 90.0, "EXCELLENT", "nom", "PRESENT"),  # a fiche without an agent is its own row
    ]
    previous = [_fact(9, "a", 50.0, "INSUFFISANT", "nom", "ABSENT")]
    rows = agent_weeks(MONDAY, facts, previous)
    assert [r["agent"] for r in rows] == [None, "a"]
    none, a = rows
    assert (a["audits"], a["average_score"], a["level_bon"], a["level_rejet"], a["rejet_rate"]) == (2, 60.0, 1, 1, 0.5)
    assert a["most_failed_points"] == ["Accueil / nom", "Accueil / date"]
    assert a["trend"] == 10.0  # 60 this week, 50 the week before
    assert (none["audits"], none["average_score"], none["most_failed_points"], none["trend"]) == (1, 90.0, [], None)
    assert pa.Table.from_pylist(rows, schema=AGENT_WEEK_SCHEMA).num_rows == 2
