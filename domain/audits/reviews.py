"""Human overrides, the latest view of an audit, and the recomputed score: all on a sync `Session`.

`step_states` reads an audit's current step revisions, their revision history and the overrides
made on them, and builds each step's latest view (`domain.audits.latest`). `recompute` writes the
audit's score and level from those views with the scoring module, after every override and every
rerun alike, so stored figures always equal a from-scratch computation on the latest view.
Overrides are trail rows (`AuditReview`); the step rows keep the AI's verdict.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import ARRAY, BigInteger, ColumnElement, Connection, Select, any_, bindparam, exists, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from domain.audits.latest import (
    Override,
    PointVerdict,
    RevisionMark,
    StepVerdict,
    latest_view,
    validate_step_values,
)
from domain.audits.schema import PointStatus
from domain.audits.scoring import Compliance, compute_compliance
from domain.errors import ConflictError, InvalidError, NotFoundError
from domain.models.audits import Audit, AuditCitation, AuditControlPoint, AuditStatus, AuditStep
from domain.models.base import table_column
from domain.models.reviews import AuditChange, AuditRerun, AuditRerunResult, AuditReview, ChangeKind, ReviewKind
from domain.models.scorecards import ScorecardVersion


@dataclass(frozen=True)
class Actor:
    """The authenticated principal acting (never a name the caller typed)."""

    user_id: int | None
    description: str


class NotReviewable(ConflictError):
    """The audit cannot take overrides or reruns now (not completed, or soft-deleted)."""


class NoSuchTarget(NotFoundError, LookupError):
    """No such step or control point in the audit."""


class InvalidOverride(InvalidError, ValueError):
    """An override's value breaks a rule; `field` names the first offending member of the request body."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        first = next(iter(self.errors))
        super().__init__(f"{first}: {self.errors[first]}", field=f"body.{first}")


@dataclass(slots=True)
class CitationRow:
    """An `AuditCitation`'s columns as a plain object (`step_states_of` reads no ORM entity)."""

    index: int
    texte: str
    chunk_id: str
    call_id: str
    recording_index: int
    chunk_index: int
    speaker: str
    role: str | None
    start_seconds: float
    end_seconds: float
    minutage: str
    recording_date: str | None
    recording_time: str | None
    recording_url: str | None
    match: str
    similarity: float


@dataclass(slots=True)
class PointRow:
    """An `AuditControlPoint`'s columns, with its citations in order."""

    index: int
    point: str
    statut: str
    commentaire: str
    minutages: list[str]
    erreur_transcription_notee: bool
    variation_phonetique_utilisee: str | None
    downgraded: bool
    confidence: float | None
    decision_rule: str | None
    citations: list[CitationRow] = field(default_factory=list)


@dataclass(slots=True)
class StepRow:
    """An `AuditStep` revision's columns, with its control points in order (the current revision's)."""

    id: int
    audit_id: int
    position: int
    revision: int
    superseded_at: dt.datetime | None
    rerun_scope: str
    rerun_point_index: int | None
    rerun_id: str | None
    run_id: str | None
    created_at: dt.datetime
    name: str
    severity: str
    is_critical: bool
    weight: int
    traite: bool
    conforme: str
    score: int
    niveau_conformite: str
    commentaire_global: str
    mots_cles_trouves: list[str]
    minutages: list[str]
    erreurs_transcription_tolerees: int
    total_citations: int
    failed: bool
    error: str | None
    transcript_mode: str
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    cost_usd: float
    gating: dict[str, Any]
    control_points: list[PointRow] = field(default_factory=list)


def _columns(model: type[Any], record: type[Any], nested: str) -> list[Any]:
    """`model`'s columns named as `record`'s fields, in their order (all but the `nested` list)."""
    return [table_column(getattr(model, f.name)) for f in dataclasses.fields(record) if f.name != nested]


_AUDIT_IDS = bindparam("audit_ids", type_=ARRAY(BigInteger))
_POINT_WIDTH = len(dataclasses.fields(PointRow)) - 1


@functools.cache
def _step_statements() -> tuple[Select[Any], Select[Any], Select[AuditReview]]:
    """Every revision of the audits' steps; the current revisions' points each joined to its
    citations (none: one row of NULLs); the overrides. Built once, the audits as one array parameter."""
    steps = (
        select(*_columns(AuditStep, StepRow, "control_points"))
        .where(AuditStep.audit_id == any_(_AUDIT_IDS))
        .order_by(AuditStep.audit_id, AuditStep.position, AuditStep.revision)
    )
    points = (
        select(AuditControlPoint.step_id, *_columns(AuditControlPoint, PointRow, "citations"), AuditCitation.id)
        .add_columns(*_columns(AuditCitation, CitationRow, ""))
        .join(AuditStep, AuditStep.id == AuditControlPoint.step_id)
        .outerjoin(AuditCitation, AuditCitation.control_point_id == AuditControlPoint.id)
        .where(AuditStep.audit_id == any_(_AUDIT_IDS), AuditStep.superseded_at.is_(None))
        .order_by(AuditControlPoint.step_id, AuditControlPoint.index, AuditCitation.index)
    )
    reviews = select(AuditReview).where(AuditReview.audit_id == any_(_AUDIT_IDS)).order_by(AuditReview.id)
    return steps, points, reviews


def core(session: Session) -> Connection:
    """The session's connection, its pending changes flushed first as `Session.execute` would, for
    statements of plain columns: through the ORM's execution path each costs about 0.8 million
    instructions more, for nothing it adds to columns (decision 121)."""
    session.flush()
    return session.connection()


def step_rows(session: Session, audit_ids: Sequence[int]) -> list[StepRow]:
    """Every revision of the audits' steps as plain rows (by audit, position, revision), the current
    ones with their control points and citations: two Core statements, no ORM entity (decisions 114, 121)."""
    steps_statement, points_statement, _ = _step_statements()
    ids = {"audit_ids": list(audit_ids)}
    connection = core(session)
    steps = [StepRow(*row) for row in connection.execute(steps_statement, ids)]
    current = {step.id: step for step in steps if step.superseded_at is None}
    point, key = None, None
    for row in connection.execute(points_statement, ids):
        step_id, values, citation_id = row[0], row[1 : _POINT_WIDTH + 1], row[_POINT_WIDTH + 1]
        if point is None or key != (step_id, values[0]):  # rows come by step, point, citation
            point, key = PointRow(*values), (step_id, values[0])
            current[step_id].control_points.append(point)
        if citation_id is not None:
            point.citations.append(CitationRow(*row[_POINT_WIDTH + 2 :]))
    return steps


@dataclass
class StepState:
    row: StepRow  # the current revision
    ai: StepVerdict
    view: StepVerdict
    marks: list[RevisionMark]
    reviews: list[tuple[AuditReview, bool]] = field(default_factory=list)  # (review, in force), oldest first


def ai_verdict(row: StepRow) -> StepVerdict:
    return StepVerdict(
        position=row.position,
        weight=row.weight,
        is_critical=row.is_critical,
        traite=row.traite,
        conforme=row.conforme,
        score=row.score,
        niveau_conformite=row.niveau_conformite,
        points=tuple(PointVerdict(p.index, p.point, p.statut, p.commentaire) for p in row.control_points),
    )


def _override(review: AuditReview) -> Override:
    return Override(review.step_revision, review.override, review.control_point_index)


def has_trail(audit_id: ColumnElement[int] | InstrumentedAttribute[int]) -> ColumnElement[bool]:
    """Whether the audit was ever overridden or rerun (asked for or ended). Most audits never were:
    their latest view is their AI verdict, and a reader that knows it skips the trail's statements."""
    trails = (AuditReview, AuditRerun, AuditRerunResult)
    return or_(*(exists().where(trail.audit_id == audit_id) for trail in trails))


def step_states(session: Session, audit_id: int, *, reviewed: bool = True) -> dict[int, StepState]:
    """Every current step of the audit with its latest view, by position."""
    return step_states_of(session, [audit_id], reviewed=reviewed).get(audit_id, {})


def step_states_of(
    session: Session, audit_ids: Sequence[int], *, reviewed: bool = True
) -> dict[int, dict[int, StepState]]:
    """`step_states` of many audits in three queries (`step_rows`, the overrides): by audit id, then by
    position. `reviewed=False` is for a caller that read `has_trail` false: no overrides to read."""
    marks: dict[tuple[int, int], list[RevisionMark]] = {}
    current = []
    for step in step_rows(session, audit_ids):
        marks.setdefault((step.audit_id, step.position), []).append(
            RevisionMark(step.revision, step.rerun_scope, step.rerun_point_index)
        )
        if step.superseded_at is None:
            current.append(step)
    reviews: dict[tuple[int, int], list[AuditReview]] = {}
    for review in session.scalars(_step_statements()[2], {"audit_ids": list(audit_ids)}) if reviewed else ():
        reviews.setdefault((review.audit_id, review.step_position), []).append(review)
    states: dict[int, dict[int, StepState]] = {}
    for row in current:
        key = (row.audit_id, row.position)
        ai, own, history = ai_verdict(row), reviews.get(key, []), marks.get(key, [])
        view, flags = latest_view(ai, [_override(r) for r in own], history)
        states.setdefault(row.audit_id, {})[row.position] = StepState(
            row, ai, view, history, list(zip(own, flags, strict=True))
        )
    return states


def recompute(session: Session, audit: Audit, states: Mapping[int, StepState] | None = None) -> Compliance:
    """The audit's score and level from its latest view, by the scoring module, written to its row."""
    states = step_states(session, audit.id) if states is None else states
    spec = session.get_one(ScorecardVersion, audit.scorecard_version_id).spec()
    compliance = compute_compliance([s.view for s in states.values()], spec)
    audit.score_percentage = Decimal(compliance.score_percentage)
    audit.points_earned = compliance.earned
    audit.points_total = compliance.total
    audit.niveau = compliance.niveau
    audit.is_compliant = compliance.is_compliant
    audit.critical_passed = compliance.critical_passed
    audit.critical_total = compliance.critical_total
    session.flush()
    return compliance


def reviewable(session: Session, audit_id: int) -> Audit:
    """The audit locked for a change of its verdict; `NotReviewable` unless completed and not deleted."""
    audit = session.get_one(Audit, audit_id, with_for_update=True)
    if audit.deleted_at is not None:
        raise NotReviewable("The audit is deleted: restore it first")
    if audit.status != AuditStatus.COMPLETED:
        raise NotReviewable(f"The audit is {audit.status}: only a completed audit can be reviewed or rerun")
    return audit


def _state(session: Session, audit_id: int, position: int) -> StepState:
    state = step_states(session, audit_id).get(position)
    if state is None:
        raise NoSuchTarget(f"The audit has no step {position}")
    return state


def review_step(
    session: Session,
    audit_id: int,
    position: int,
    values: Mapping[str, Any],
    *,
    actor: Actor,
    reason: str,
    reviewer_note: str | None = None,
) -> StepState:
    """Override a step's `traite`, `conforme`, `score`, `niveau_conformite`; the audit is recomputed."""
    audit = reviewable(session, audit_id)
    state = _state(session, audit_id, position)
    errors = validate_step_values(values, state.row.weight)
    if errors:
        raise InvalidOverride(errors)
    session.add(
        AuditReview(
            audit_id=audit_id,
            step_position=position,
            kind=ReviewKind.STEP,
            step_revision=state.row.revision,
            actor_user_id=actor.user_id,
            actor=actor.description,
            reviewer_note=reviewer_note,
            reason=reason,
            previous=state.view.step_values(),
            override=dict(values),
        )
    )
    session.flush()
    states = step_states(session, audit_id)
    recompute(session, audit, states)
    return states[position]


def review_point(
    session: Session,
    audit_id: int,
    position: int,
    index: int,
    values: Mapping[str, Any],
    *,
    actor: Actor,
    reason: str,
    reviewer_note: str | None = None,
    dispute_id: int | None = None,
) -> StepState:
    """Override a control point's `statut` and/or `commentaire`; the step and the audit are recomputed."""
    audit = reviewable(session, audit_id)
    state = _state(session, audit_id, position)
    try:
        point = state.view.point(index)
    except KeyError:
        raise NoSuchTarget(f"Step {position} has no control point {index}") from None
    if "statut" in values and values["statut"] not in {s.value for s in PointStatus}:
        raise InvalidOverride({"statut": "must be PRESENT, ABSENT, PARTIEL or NON_APPLICABLE"})
    session.add(
        AuditReview(
            audit_id=audit_id,
            step_position=position,
            control_point_index=index,
            kind=ReviewKind.CONTROL_POINT,
            step_revision=state.row.revision,
            actor_user_id=actor.user_id,
            actor=actor.description,
            reviewer_note=reviewer_note,
            reason=reason,
            previous={"statut": point.statut, "commentaire": point.commentaire, "step": state.view.step_values()},
            override=dict(values),
            dispute_id=dispute_id,
        )
    )
    session.flush()
    states = step_states(session, audit_id)
    recompute(session, audit, states)
    return states[position]


def record_change(
    session: Session, audit_id: int, kind: ChangeKind, *, actor: Actor, previous: dict[str, Any], new: dict[str, Any]
) -> None:
    """Trail a metadata edit, soft delete or restore."""
    session.add(
        AuditChange(
            audit_id=audit_id,
            kind=kind,
            actor_user_id=actor.user_id,
            actor=actor.description,
            previous=previous,
            new=new,
        )
    )


def audit_changes(session: Session, audit_id: int) -> list[AuditChange]:
    return list(session.scalars(select(AuditChange).where(AuditChange.audit_id == audit_id).order_by(AuditChange.id)))
