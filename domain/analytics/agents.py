"""`agent_scorecards`: per agent x scorecard x week, from the week's `audit_facts` rows.

An audit counts once (its score and level are repeated on each of its fact rows); a control point
failed is one whose current status is ABSENT or PARTIEL. The trend is the difference of average
scores with the previous week (None when the agent had no audit with the scorecard then).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from domain.audits.schema import Level, PointStatus

FAILED = {PointStatus.ABSENT, PointStatus.PARTIEL}
TOP_FAILED = 3

AGENT_WEEK_SCHEMA = pa.schema(
    [
        pa.field("week", pa.date32(), nullable=False),  # its Monday
        pa.field("agent", pa.string()),
        pa.field("scorecard_id", pa.int64(), nullable=False),
        pa.field("audits", pa.int32(), nullable=False),
        pa.field("average_score", pa.float64()),
        *(pa.field(f"level_{level.value.lower()}", pa.int32(), nullable=False) for level in Level),
        pa.field("rejet_rate", pa.float64(), nullable=False),
        pa.field("most_failed_points", pa.list_(pa.string()), nullable=False),
        pa.field("trend", pa.float64()),
    ]
)

Key = tuple[str | None, int]  # agent, scorecard


def _by_key(facts: Sequence[Mapping[str, Any]]) -> dict[Key, list[Mapping[str, Any]]]:
    groups: dict[Key, list[Mapping[str, Any]]] = defaultdict(list)
    for fact in facts:
        groups[(fact["agent"], fact["scorecard_id"])].append(fact)
    return groups


def _audits(rows: Sequence[Mapping[str, Any]]) -> dict[int, Mapping[str, Any]]:
    return {row["audit_id"]: row for row in rows}


def _average(audits: Mapping[int, Mapping[str, Any]]) -> float | None:
    scores = [a["audit_score_percentage"] for a in audits.values() if a["audit_score_percentage"] is not None]
    return round(sum(scores) / len(scores), 2) if scores else None


def agent_weeks(
    week: Any, facts: Sequence[Mapping[str, Any]], previous: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One row per (agent, scorecard) audited in the week (`week`: its Monday)."""
    before = {key: _average(_audits(rows)) for key, rows in _by_key(previous).items()}
    weeks = []
    for key, rows in sorted(_by_key(facts).items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
        audits = _audits(rows)
        levels = Counter(a["audit_level"] for a in audits.values())
        failed = Counter(f"{r['step_name']} / {r['control_point']}" for r in rows if r["status"] in FAILED)
        average, last = _average(audits), before.get(key)
        weeks.append(
            {
                "week": week,
                "agent": key[0],
                "scorecard_id": key[1],
                "audits": len(audits),
                "average_score": average,
                **{f"level_{level.value.lower()}": levels.get(level.value, 0) for level in Level},
                "rejet_rate": round(levels.get(Level.REJET.value, 0) / len(audits), 4),
                "most_failed_points": [p for p, _ in sorted(failed.items(), key=lambda kv: (-kv[1], kv[0]))][
                    :TOP_FAILED
                ],
                "trend": None if average is None or last is None else round(average - last, 2),
            }
        )
    return weeks
