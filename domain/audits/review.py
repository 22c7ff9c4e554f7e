"""When an audit needs a human: its level hinges on verdicts the auditor is not sure of.

The level follows the scoring rules whatever the confidence; this only flags it. A critical step
hinges on its weak points (confidence below `LOW_CONFIDENCE`) when turning all of them the other
way (present <-> absent) would change whether the step is CONFORME, and so whether the audit is
REJET. Points the auditor could not assess offline are listed too: the score counts them as
not applicable, a reviewer should look.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.audits.gating import GatedPoint, GatedStep, derive_step
from domain.audits.schema import Conformity, PointStatus

LOW_CONFIDENCE = 0.6
NOT_ASSESSABLE_RULE = "not_assessable_offline"


@dataclass(frozen=True)
class ReviewFlag:
    needs_review: bool
    reasons: tuple[str, ...]


def _weak(point: GatedPoint) -> bool:
    return (
        point.confidence is not None
        and point.confidence < LOW_CONFIDENCE
        and point.rule != NOT_ASSESSABLE_RULE
        and point.statut in (PointStatus.PRESENT, PointStatus.ABSENT, PointStatus.NON_APPLICABLE)
    )


def _flipped(point: GatedPoint) -> PointStatus:
    return (
        PointStatus.ABSENT if point.statut in (PointStatus.PRESENT, PointStatus.NON_APPLICABLE) else PointStatus.PRESENT
    )


def hinges_on_weak_points(step: GatedStep) -> tuple[GatedPoint, ...]:
    """The weak points of a step whose flip would change its conformity (empty when it would not)."""
    weak = tuple(p for p in step.points if _weak(p))
    if not weak:
        return ()
    statuses = [_flipped(p) if p in weak else p.statut for p in step.points]
    flipped = derive_step(statuses, step.weight).conforme
    now_conforme = step.conforme is Conformity.CONFORME
    return weak if (flipped is Conformity.CONFORME) != now_conforme else ()


def review_flag(steps: Sequence[GatedStep]) -> ReviewFlag:
    reasons: list[str] = []
    for step in steps:
        if not step.is_critical:
            continue
        weak = hinges_on_weak_points(step)
        if weak:
            points = ", ".join(f"{step.position}.{p.index} ({p.confidence:.2f})" for p in weak)
            reasons.append(
                f"Étape critique {step.position} « {step.name} » : son verdict dépend de points peu sûrs {points}."
            )
    unassessed = [f"{s.position}.{p.index}" for s in steps for p in s.points if p.rule == NOT_ASSESSABLE_RULE]
    if unassessed:
        reasons.append(f"{len(unassessed)} point(s) non évaluable(s) hors modèle de langage : {', '.join(unassessed)}.")
    return ReviewFlag(bool(reasons), tuple(reasons))
