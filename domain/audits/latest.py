"""The latest view of a step: its current AI revision with the human overrides still in force applied.

Pure functions (no database). A stored step revision keeps the AI's verdict untouched; overrides
are trail rows made on one revision. An override stays in force until a later revision re-analyses
what it overrode: a step rerun re-analyses everything (every earlier override of the step lapses);
a control-point rerun re-analyses that point and re-derives the step (the point's overrides and the
step's overrides lapse, other points' overrides stay). Overrides apply in the order they were made;
a control point's new `statut` re-derives the step's score, conformity and level from all its
points (reference §7.6 ratio rules), which the original forgot (§13.5 #40).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from domain.audits.gating import derive_step
from domain.audits.schema import Conformity, Level, PointStatus

STEP_FIELDS = ("traite", "conforme", "score", "niveau_conformite")
POINT_FIELDS = ("statut", "commentaire")


@dataclass(frozen=True)
class PointVerdict:
    index: int  # 1-based
    point: str
    statut: str
    commentaire: str


@dataclass(frozen=True)
class StepVerdict:
    """What scoring reads of a step (`domain.audits.scoring.StepResult`), and its points."""

    position: int
    weight: int
    is_critical: bool
    traite: bool
    conforme: str
    score: int
    niveau_conformite: str
    points: tuple[PointVerdict, ...]

    def step_values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in STEP_FIELDS}

    def point(self, index: int) -> PointVerdict:
        for point in self.points:
            if point.index == index:
                return point
        raise KeyError(f"step {self.position} has no control point {index}")


@dataclass(frozen=True)
class RevisionMark:
    """What one revision of a step re-analysed: everything (`audit`, `step`) or one control point."""

    revision: int
    scope: str
    point_index: int | None = None


@dataclass(frozen=True)
class Override:
    step_revision: int
    values: Mapping[str, Any]
    control_point_index: int | None = None  # None: the step's own fields

    @property
    def is_step(self) -> bool:
        return self.control_point_index is None


def in_force(override: Override, revisions: Iterable[RevisionMark]) -> bool:
    """Whether no revision made after the override re-analysed what it overrode."""
    for mark in revisions:
        if mark.revision <= override.step_revision:
            continue
        if mark.scope != "control_point" or override.is_step or mark.point_index == override.control_point_index:
            return False
    return True


def derived_from_points(view: StepVerdict) -> StepVerdict:
    derived = derive_step((PointStatus(p.statut) for p in view.points), view.weight)
    return dataclasses.replace(
        view, score=derived.score, conforme=derived.conforme.value, niveau_conformite=derived.niveau.value
    )


def apply_override(view: StepVerdict, override: Override) -> StepVerdict:
    if override.is_step:
        return dataclasses.replace(view, **{k: v for k, v in override.values.items() if k in STEP_FIELDS})
    changes = {k: v for k, v in override.values.items() if k in POINT_FIELDS}
    points = tuple(
        dataclasses.replace(p, **changes) if p.index == override.control_point_index else p for p in view.points
    )
    view = dataclasses.replace(view, points=points)
    return derived_from_points(view) if "statut" in changes else view


def latest_view(
    ai: StepVerdict, overrides: Sequence[Override], revisions: Sequence[RevisionMark]
) -> tuple[StepVerdict, list[bool]]:
    """The step as it stands, and for each override (in the order given, oldest first) whether it is in force."""
    view, flags = ai, []
    for override in overrides:
        applies = in_force(override, revisions)
        flags.append(applies)
        if applies:
            view = apply_override(view, override)
    return view, flags


def validate_step_values(values: Mapping[str, Any], weight: int) -> dict[str, str]:
    """Field errors of a step override (empty when valid); the score must fit the step's weight."""
    errors: dict[str, str] = {}
    if "conforme" in values and values["conforme"] not in {c.value for c in Conformity}:
        errors["conforme"] = "must be CONFORME, PARTIEL or NON_CONFORME"
    if "niveau_conformite" in values and values["niveau_conformite"] not in {lv.value for lv in Level}:
        errors["niveau_conformite"] = "must be a level (EXCELLENT, BON, ACCEPTABLE, INSUFFISANT, REJET)"
    score = values.get("score")
    if score is not None and not 0 <= score <= weight:
        errors["score"] = f"must be between 0 and the step's weight ({weight})"
    return errors
