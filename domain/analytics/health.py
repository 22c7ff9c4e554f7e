"""`scorecard_health`: how each control point of a scorecard behaves on a day's audits (feeds calibration).

Computed from the day's `audit_facts` rows, so it reads the audits as they stand; kappa comes from
calibration (`domain.audits.calibration_store`) and exists only where a human reviewed an audit.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from domain.audits.calibration import PointKey
from domain.audits.schema import PointStatus

HEALTH_SCHEMA = pa.schema(
    [
        pa.field("scorecard_id", pa.int64(), nullable=False),
        pa.field("step_position", pa.int32(), nullable=False),
        pa.field("control_point_index", pa.int32(), nullable=False),
        pa.field("control_point", pa.string(), nullable=False),
        pa.field("points", pa.int32(), nullable=False),
        pa.field("ai_pass_rate", pa.float64()),
        pa.field("evidence_rate", pa.float64(), nullable=False),
        pa.field("override_rate", pa.float64(), nullable=False),
        pa.field("kappa", pa.float64()),
    ]
)


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def point_health(facts: Sequence[Mapping[str, Any]], kappas: Mapping[PointKey, float | None]) -> list[dict[str, Any]]:
    """Per (scorecard, step, control point): points seen, the AI's pass rate (PRESENT among the points
    that apply), the share with evidence, the share a human changed, and kappa with the reviewers."""
    groups: dict[PointKey, list[Mapping[str, Any]]] = defaultdict(list)
    for fact in facts:
        groups[(fact["scorecard_id"], fact["step_position"], fact["control_point_index"])].append(fact)
    health = []
    for key, rows in sorted(groups.items()):
        applicable = [r for r in rows if r["ai_status"] != PointStatus.NON_APPLICABLE]
        health.append(
            {
                "scorecard_id": key[0],
                "step_position": key[1],
                "control_point_index": key[2],
                "control_point": rows[-1]["control_point"],
                "points": len(rows),
                "ai_pass_rate": _share(sum(r["ai_status"] == PointStatus.PRESENT for r in applicable), len(applicable)),
                "evidence_rate": _share(sum(r["evidence_count"] > 0 for r in rows), len(rows)),
                "override_rate": _share(sum(r["human_changed"] for r in rows), len(rows)),
                "kappa": kappas.get(key),
            }
        )
    return health
