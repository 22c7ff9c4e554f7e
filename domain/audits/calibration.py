"""Where the AI and the humans disagree: agreement and Cohen's kappa per control point and scorecard.

A pair is one control point of an audit a human reviewed: the AI's status on the step's current
revision, and the status as the audit now stands (overrides in force applied). Reviewing an audit
is taken as judging all its points, so the points left alone count as agreements; audits nobody
reviewed are not pairs at all.

Kappa is Cohen's (1960): `(po - pe) / (1 - pe)` over the four statuses, with `pe` from the two
raters' marginals; its 95 % interval is `kappa ± 1.96 · SE` with Cohen's large-sample standard
error `SE = sqrt(po (1 - po) / (n (1 - pe)²))`. When `pe` is 1 (both raters always said the same
one status) kappa is undefined and reported as None.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from domain.audits.schema import PointStatus

Z_95 = 1.959964
LABELS = tuple(s.value for s in PointStatus)


@dataclass(frozen=True)
class PointPair:
    scorecard_id: int
    scorecard_name: str
    step_position: int
    control_point_index: int
    point: str
    ai: str
    human: str
    completed_on: dt.date  # the audit's completion day (weekly trend)


@dataclass(frozen=True)
class Agreement:
    n: int
    agreement: float | None  # observed proportion po
    kappa: float | None
    kappa_low: float | None
    kappa_high: float | None
    confusion: dict[str, dict[str, int]]  # ai -> human -> count

    def as_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "agreement": self.agreement,
            "kappa": self.kappa,
            "kappa_ci95": None if self.kappa_low is None else [self.kappa_low, self.kappa_high],
            "confusion": self.confusion,
        }


def agreement(pairs: Iterable[tuple[str, str]]) -> Agreement:
    """Observed agreement, Cohen's kappa with its 95 % interval, and the confusion counts of (ai, human) pairs."""
    counts = Counter(pairs)
    n = sum(counts.values())
    confusion = {a: {h: counts.get((a, h), 0) for h in LABELS} for a in LABELS}
    if n == 0:
        return Agreement(0, None, None, None, None, confusion)
    po = sum(counts.get((label, label), 0) for label in LABELS) / n
    ai_margin: Counter[str] = Counter()
    human_margin: Counter[str] = Counter()
    for (ai, human), count in counts.items():
        ai_margin[ai] += count
        human_margin[human] += count
    pe = sum(ai_margin[label] * human_margin[label] for label in LABELS) / (n * n)
    if math.isclose(pe, 1.0):
        return Agreement(n, round(po, 4), None, None, None, confusion)
    kappa = (po - pe) / (1 - pe)
    se = math.sqrt(po * (1 - po) / (n * (1 - pe) ** 2))
    return Agreement(
        n,
        round(po, 4),
        round(kappa, 4),
        round(kappa - Z_95 * se, 4),
        round(kappa + Z_95 * se, 4),
        confusion,
    )


def week_of(day: dt.date) -> str:
    """The Monday starting the ISO week of `day`."""
    return (day - dt.timedelta(days=day.weekday())).isoformat()


@dataclass
class Report:
    overall: Agreement
    scorecards: list[dict[str, Any]] = field(default_factory=list)
    points: list[dict[str, Any]] = field(default_factory=list)
    most_overridden: list[dict[str, Any]] = field(default_factory=list)
    most_disputed: list[dict[str, Any]] = field(default_factory=list)
    weekly: list[dict[str, Any]] = field(default_factory=list)
    audits: int = 0


PointKey = tuple[int, int, int]  # scorecard, step position, control point index


def calibrate(
    pairs: Sequence[PointPair],
    *,
    audits: int,
    overrides: dict[PointKey, int] | None = None,
    disputes: dict[PointKey, int] | None = None,
    top: int = 10,
) -> Report:
    """Figures per control point, per scorecard, overall and per week; the points most overridden and disputed."""
    overrides, disputes = overrides or {}, disputes or {}
    by_point: dict[PointKey, list[PointPair]] = defaultdict(list)
    by_card: dict[int, list[PointPair]] = defaultdict(list)
    by_week: dict[str, list[PointPair]] = defaultdict(list)
    names: dict[int, str] = {}
    for pair in pairs:
        by_point[(pair.scorecard_id, pair.step_position, pair.control_point_index)].append(pair)
        by_card[pair.scorecard_id].append(pair)
        by_week[week_of(pair.completed_on)].append(pair)
        names[pair.scorecard_id] = pair.scorecard_name
    labels = {key: group[-1].point for key, group in by_point.items()}

    def described(key: PointKey) -> dict[str, Any]:
        scorecard_id, position, index = key
        return {
            "scorecard_id": scorecard_id,
            "step_position": position,
            "control_point_index": index,
            "point": labels.get(key, ""),
        }

    points = [
        {
            **described(key),
            **agreement((p.ai, p.human) for p in group).as_json(),
            "overrides": overrides.get(key, 0),
            "disputes": disputes.get(key, 0),
        }
        for key, group in sorted(by_point.items())
    ]
    ranked = sorted(overrides.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    disputed = sorted(disputes.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return Report(
        overall=agreement((p.ai, p.human) for p in pairs),
        scorecards=[
            {"scorecard_id": card, "name": names[card], **agreement((p.ai, p.human) for p in group).as_json()}
            for card, group in sorted(by_card.items())
        ],
        points=points,
        most_overridden=[{**described(key), "overrides": n} for key, n in ranked if n],
        most_disputed=[{**described(key), "disputes": n} for key, n in disputed if n],
        weekly=[
            {"week": week, **agreement((p.ai, p.human) for p in group).as_json()}
            for week, group in sorted(by_week.items())
        ],
        audits=audits,
    )
