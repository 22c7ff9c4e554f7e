"""Versioned scorecards on a synchronous SQLAlchemy `Session` (API via `run_sync`, seed, assets).

A `Scorecard` is the stable identity; its content lives in `ScorecardVersion` rows that are never
updated. Every content change (name, description, system prompt, any step added, edited, moved or
removed, an import) writes the next version with all steps copied and moves `current_version_id`;
an edit that changes nothing writes nothing. The active / run-automatically flags are updated in
place. Positions are 1..N in every version (bug §13.5 #42 of the original mixed 0- and 1-based).

Every edit locks the scorecard row first, so concurrent edits apply one after the other; a step id
of a version that is no longer current is refused (`StaleStep`) instead of silently editing a copy.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session, selectinload

from domain.audits.scorecard import ScorecardSpec, StepSpec
from domain.errors import ConflictError, FieldIssue, NotFoundError
from domain.models import Audit, AuditStatus, Fiche, Scorecard, ScorecardStep, ScorecardVersion
from domain.rbac import Scope
from domain.scoping import ScopeSubject, fiche_scope_clause
from domain.scorecards.io import (
    STEPS_KEY,
    ScorecardDraft,
    export_document,
    read_document,
    step_from_json,
    step_order,
    step_to_json,
)
from domain.scorecards.validation import InvalidScorecard, validate_document, validate_step

SEED_NOTE = "seeded from domain/audits/demo_scorecard.json"
IMPORT_NOTE = "imported"


class ScorecardNotFound(NotFoundError, LookupError):
    pass


class StepNotFound(NotFoundError, LookupError):
    pass


class StaleStep(ConflictError):
    """A step of a version that is no longer current: the client edits an outdated copy."""

    def __init__(self, step_id: int, step_version: int, current_version: int) -> None:
        super().__init__(
            f"Step {step_id} belongs to version {step_version} of this scorecard, which is no longer current "
            f"(current: version {current_version}); reload the scorecard and use its current step ids"
        )
        self.step_version, self.current_version = step_version, current_version


class ScorecardInUse(ConflictError):
    def __init__(self, audits: int) -> None:
        super().__init__(
            f"{audits} audit(s) use this scorecard, so it cannot be deleted (they keep the version they ran with); "
            "deactivate it instead (isActive: false)"
        )
        self.audits = audits


class NameTaken(ConflictError):
    """An import without a target scorecard whose name another scorecard has."""

    def __init__(self, scorecard_id: int, name: str) -> None:
        super().__init__(
            f"a scorecard named {name!r} exists (id {scorecard_id}): import with scorecard_id={scorecard_id} "
            "for its next version, or as_new=true for a second scorecard",
            extra={"scorecardId": str(scorecard_id)},
        )
        self.scorecard_id = scorecard_id


class LastStep(ConflictError):
    def __init__(self) -> None:
        super().__init__("A scorecard keeps at least one step: add another step before deleting this one")


# --- reads ------------------------------------------------------------------------------------------


def get_scorecard(session: Session, scorecard_id: int, *, for_update: bool = False) -> Scorecard:
    statement = select(Scorecard).where(Scorecard.id == scorecard_id)
    if for_update:
        statement = statement.with_for_update()
    scorecard = session.scalars(statement).first()
    if scorecard is None:
        raise ScorecardNotFound(f"Scorecard {scorecard_id} not found")
    return scorecard


def current_version(session: Session, scorecard: Scorecard) -> ScorecardVersion:
    version = scorecard.current_version
    if version is None:  # only between the two inserts of `create`
        raise ScorecardNotFound(f"Scorecard {scorecard.id} has no version")
    return version


def get_version(session: Session, scorecard_id: int, number: int) -> ScorecardVersion:
    version = session.scalars(
        select(ScorecardVersion).where(
            ScorecardVersion.scorecard_id == scorecard_id, ScorecardVersion.version == number
        )
    ).first()
    if version is None:
        raise ScorecardNotFound(f"Scorecard {scorecard_id} has no version {number}")
    return version


def list_versions(session: Session, scorecard_id: int) -> list[tuple[ScorecardVersion, int]]:
    """Every version of a scorecard, oldest first, with its step count."""
    get_scorecard(session, scorecard_id)
    steps = (
        select(func.count()).where(ScorecardStep.version_id == ScorecardVersion.id).correlate(ScorecardVersion)
    ).scalar_subquery()
    rows = session.execute(
        select(ScorecardVersion, steps)
        .where(ScorecardVersion.scorecard_id == scorecard_id)
        .order_by(ScorecardVersion.version)
    ).all()
    return [(version, count) for version, count in rows]


def list_scorecards(session: Session, *, include_inactive: bool = False) -> list[Scorecard]:
    """Newest first, current versions and their steps loaded."""
    statement = select(Scorecard).options(selectinload(Scorecard.current_version).selectinload(ScorecardVersion.steps))
    if not include_inactive:
        statement = statement.where(Scorecard.is_active)
    return list(session.scalars(statement.order_by(Scorecard.created_at.desc(), Scorecard.id.desc())))


def current_spec(session: Session, scorecard_id: int) -> ScorecardSpec:
    """The frozen content new audits of this scorecard run with."""
    return current_version(session, get_scorecard(session, scorecard_id)).spec()


def versioned_scorecard_ids(session: Session) -> list[int]:
    """Scorecards that have a version (what an audit can run with), active or not."""
    return list(session.scalars(select(Scorecard.id).where(Scorecard.current_version_id.is_not(None))))


def latest_active(session: Session) -> Scorecard | None:
    """The most recently created active scorecard (the original's "latest active config")."""
    return session.scalars(
        select(Scorecard).where(Scorecard.is_active).order_by(Scorecard.created_at.desc(), Scorecard.id.desc())
    ).first()


def draft_of(version: ScorecardVersion) -> ScorecardDraft:
    """A stored version as editable content (the base every edit starts from)."""
    spec = version.spec()
    return ScorecardDraft(spec.name, spec.description, spec.system_prompt, spec.steps, dict(version.extra))


# --- writes -----------------------------------------------------------------------------------------


def _same_content(version: ScorecardVersion, draft: ScorecardDraft) -> bool:
    stored = draft_of(version)
    return (stored.name, stored.description, stored.system_prompt, stored.steps, stored.extra) == (
        draft.name,
        draft.description,
        draft.system_prompt,
        draft.steps,
        dict(draft.extra),
    )


def _step_row(step: StepSpec) -> ScorecardStep:
    return ScorecardStep(
        position=step.position,
        name=step.name,
        description=step.description or None,
        prompt=step.prompt,
        control_points=list(step.control_points),
        keywords=list(step.keywords),
        severity=step.severity.value,
        is_critical=step.is_critical,
        chronological=step.chronological,
        weight=step.weight,
        verify_product_info=step.verify_product_info,
        point_speakers=[step.speaker_rule(i).value for i in range(len(step.control_points))],
    )


def _write_version(
    session: Session,
    scorecard: Scorecard,
    draft: ScorecardDraft,
    created_by_id: int | None,
    change_note: str | None,
    *,
    source: Mapping[str, Any] | None = None,
) -> ScorecardVersion:
    last = session.scalar(
        select(func.max(ScorecardVersion.version)).where(ScorecardVersion.scorecard_id == scorecard.id)
    )
    version = ScorecardVersion(
        scorecard_id=scorecard.id,
        version=(last or 0) + 1,
        name=draft.name,
        description=draft.description or None,
        system_prompt=draft.system_prompt,
        extra=dict(draft.extra),
        source_document=dict(source) if source is not None else None,
        change_note=change_note,
        created_by_id=created_by_id,
        steps=[_step_row(step) for step in draft.steps],
    )
    session.add(version)
    session.flush()
    scorecard.current_version = version
    scorecard.name, scorecard.description = draft.name, draft.description or None
    session.flush()
    return version


def _checked(draft: ScorecardDraft) -> ScorecardDraft:
    """Content assembled by an edit, validated and normalised like an imported document."""
    return read_document(export_document(draft, draft.extra))


def create(
    session: Session,
    draft: ScorecardDraft,
    *,
    created_by_id: int | None = None,
    is_active: bool = True,
    run_automatically: bool = False,
    change_note: str | None = None,
    source: Mapping[str, Any] | None = None,
) -> Scorecard:
    """A new scorecard and its version 1, in the caller's transaction."""
    scorecard = Scorecard(
        name=draft.name,
        description=draft.description or None,
        is_active=is_active,
        run_automatically=run_automatically,
        created_by_id=created_by_id,
    )
    session.add(scorecard)
    session.flush()
    _write_version(session, scorecard, draft, created_by_id, change_note, source=source)
    return scorecard


def new_version(
    session: Session,
    scorecard: Scorecard,
    draft: ScorecardDraft,
    *,
    created_by_id: int | None = None,
    change_note: str | None = None,
) -> ScorecardVersion:
    """`draft` as the scorecard's next version and its current one; the current version, untouched,
    when the content is the same. Lock the scorecard row first (`get_scorecard(for_update=True)`)."""
    current = current_version(session, scorecard)
    if _same_content(current, draft):
        return current
    return _write_version(session, scorecard, draft, created_by_id, change_note)


def update(
    session: Session,
    scorecard_id: int,
    *,
    name: str | None = None,
    description: str | None = None,
    system_prompt: str | None = None,
    is_active: bool | None = None,
    run_automatically: bool | None = None,
    created_by_id: int | None = None,
    change_note: str | None = None,
) -> Scorecard:
    """Flags in place; name, description and system prompt through a new version (the snapshot)."""
    scorecard = get_scorecard(session, scorecard_id, for_update=True)
    if is_active is not None:
        scorecard.is_active = is_active
    if run_automatically is not None:
        scorecard.run_automatically = run_automatically
    current = draft_of(current_version(session, scorecard))
    edited = replace(
        current,
        name=current.name if name is None else name,
        description=current.description if description is None else description,
        system_prompt=current.system_prompt if system_prompt is None else system_prompt,
    )
    new_version(session, scorecard, _checked(edited), created_by_id=created_by_id, change_note=change_note)
    session.flush()
    return scorecard


def _renumbered(steps: Sequence[StepSpec]) -> tuple[StepSpec, ...]:
    return tuple(replace(step, position=n) for n, step in enumerate(steps, start=1))


def _target_position(raw: Mapping[str, Any], default: int, last: int) -> int:
    position = raw.get("position")
    if position is None:
        return default
    if not 1 <= position <= last:
        raise InvalidScorecard([FieldIssue("position", f"must be from 1 to {last}")])
    return int(position)


def _step_in_current(session: Session, step_id: int) -> tuple[Scorecard, ScorecardVersion, ScorecardStep]:
    step = session.get(ScorecardStep, step_id)
    if step is None:
        raise StepNotFound(f"Step {step_id} not found")
    version = session.get_one(ScorecardVersion, step.version_id)
    scorecard = get_scorecard(session, version.scorecard_id, for_update=True)
    current = current_version(session, scorecard)
    if current.id != version.id:
        raise StaleStep(step_id, version.version, current.version)
    return scorecard, version, step


def _require_step(raw: Mapping[str, Any]) -> None:
    issues = validate_step(raw)
    if issues:
        raise InvalidScorecard(issues)


def add_step(
    session: Session, scorecard_id: int, raw: Mapping[str, Any], *, created_by_id: int | None = None
) -> ScorecardVersion:
    """A step (JSON form) inserted at its `position` (1..N+1), or appended; later steps shift down."""
    _require_step(raw)
    scorecard = get_scorecard(session, scorecard_id, for_update=True)
    current = draft_of(current_version(session, scorecard))
    steps = list(current.steps)
    position = _target_position(raw, len(steps) + 1, len(steps) + 1)
    steps.insert(position - 1, step_from_json(raw, position))
    edited = replace(current, steps=_renumbered(steps))
    return new_version(session, scorecard, edited, created_by_id=created_by_id, change_note=f"step {position} added")


def update_step(
    session: Session, step_id: int, changes: Mapping[str, Any], *, created_by_id: int | None = None
) -> ScorecardVersion:
    """Fields of a current step changed (JSON names; absent = unchanged); `position` moves it (1..N)."""
    scorecard, version, row = _step_in_current(session, step_id)
    current = draft_of(version)
    old = row.spec()
    merged = step_to_json(old) | dict(changes)
    known = None
    if "controlPoints" in changes and "controlPointSpeakers" not in changes:
        # New points get inferred rules; unchanged points keep theirs, wherever they moved.
        del merged["controlPointSpeakers"]
        known = {point: old.speaker_rule(i) for i, point in enumerate(old.control_points)}
    _require_step(merged)
    steps = list(current.steps)
    del steps[row.position - 1]
    position = _target_position(merged, row.position, len(current.steps))
    steps.insert(position - 1, step_from_json(merged, position, known=known))
    edited = replace(current, steps=_renumbered(steps))
    return new_version(session, scorecard, edited, created_by_id=created_by_id, change_note=f"step {position} edited")


def delete_step(session: Session, step_id: int, *, created_by_id: int | None = None) -> ScorecardVersion:
    """A version without the step; the following steps move up (positions stay 1..N)."""
    scorecard, version, row = _step_in_current(session, step_id)
    current = draft_of(version)
    if len(current.steps) == 1:
        raise LastStep
    steps = [step for step in current.steps if step.position != row.position]
    edited = replace(current, steps=_renumbered(steps))
    return new_version(
        session, scorecard, edited, created_by_id=created_by_id, change_note=f"step {row.position} deleted"
    )


def reorder_steps(
    session: Session, scorecard_id: int, step_ids: Sequence[int], *, created_by_id: int | None = None
) -> ScorecardVersion:
    """Steps in the order of `step_ids`, which lists every step of the current version exactly once."""
    scorecard = get_scorecard(session, scorecard_id, for_update=True)
    version = current_version(session, scorecard)
    by_id = {step.id: step for step in version.steps}
    for index, step_id in enumerate(step_ids):
        if step_id in by_id:
            continue
        older = session.scalar(
            select(ScorecardVersion.version)
            .join(ScorecardStep, ScorecardStep.version_id == ScorecardVersion.id)
            .where(ScorecardStep.id == step_id, ScorecardVersion.scorecard_id == scorecard_id)
        )
        if older is not None:
            raise StaleStep(step_id, older, version.version)
        raise InvalidScorecard([FieldIssue(f"stepIds[{index}]", f"{step_id} is not a step of this scorecard")])
    if len(step_ids) != len(by_id) or set(step_ids) != set(by_id):
        raise InvalidScorecard(
            [FieldIssue("stepIds", f"must list each of the {len(by_id)} steps of the current version exactly once")]
        )
    edited = replace(draft_of(version), steps=_renumbered([by_id[i].spec() for i in step_ids]))
    return new_version(session, scorecard, edited, created_by_id=created_by_id, change_note="steps reordered")


def delete_scorecard(session: Session, scorecard_id: int) -> None:
    """Deletes a scorecard no audit references (soft-deleted audits included: they keep their version)."""
    get_scorecard(session, scorecard_id, for_update=True)
    audits = session.scalar(select(func.count()).select_from(Audit).where(Audit.scorecard_id == scorecard_id))
    if audits:
        raise ScorecardInUse(audits)
    try:
        with session.begin_nested():  # an audit inserted since the count: the RESTRICT foreign key refuses
            session.execute(delete(Scorecard).where(Scorecard.id == scorecard_id))
    except IntegrityError:
        raise ScorecardInUse(1) from None


# --- import, export, checks -------------------------------------------------------------------------


@dataclass(frozen=True)
class Imported:
    scorecard: Scorecard
    version: ScorecardVersion
    version_created: bool  # False when the document was already the current version, verbatim
    ignored: tuple[str, ...]


def _is_current(current: ScorecardVersion, draft: ScorecardDraft, document: Mapping[str, Any]) -> bool:
    """The document is the current version's: as imported, or as exported (the active flag aside)."""
    if current.source_document is not None:
        sent = _without_flag(document)
        return sent in (_without_flag(current.source_document), _without_flag(_source_export(current, None)))
    return _same_content(current, draft) and document.get("version") in (None, current.version)


def _without_flag(document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k != "isActive"}


def _source_export(version: ScorecardVersion, is_active: bool | None) -> dict[str, Any]:
    """An imported version's document as it came, each step completed with the speaker rules audits use
    (inferred on import where the document had none); `isActive` follows the scorecard."""
    document: dict[str, Any] = copy.deepcopy(version.source_document or {})
    if is_active is not None and "isActive" in document:
        document["isActive"] = is_active
    raw_steps = document[STEPS_KEY]
    for step, index in zip(version.spec().steps, step_order(raw_steps), strict=True):
        raw_steps[index].setdefault("controlPointSpeakers", step_to_json(step)["controlPointSpeakers"])
    return document


def import_document(
    session: Session,
    document: object,
    *,
    scorecard_id: int | None = None,
    as_new: bool = False,
    created_by_id: int | None = None,
) -> Imported:
    """A document as the next version of `scorecard_id`, or as a new scorecard.

    Without `scorecard_id`, a scorecard of the same name is the target only when the document is its
    current version verbatim (nothing written); otherwise `NameTaken`, unless `as_new`. The document is
    kept verbatim on the version it creates (`export` gives it back).
    """
    draft = read_document(document)
    assert isinstance(document, Mapping)  # read_document refuses anything else
    if scorecard_id is None:
        scorecard = session.scalars(
            select(Scorecard).where(Scorecard.name == draft.name).order_by(Scorecard.id).with_for_update()
        ).first()
        if scorecard is None or as_new:
            active = True if draft.is_active is None else draft.is_active
            scorecard = create(
                session, draft, created_by_id=created_by_id, is_active=active, change_note=IMPORT_NOTE, source=document
            )
            return Imported(scorecard, current_version(session, scorecard), True, draft.ignored)
    else:
        scorecard = get_scorecard(session, scorecard_id, for_update=True)
    current = current_version(session, scorecard)
    if _is_current(current, draft, document):
        return Imported(scorecard, current, False, draft.ignored)
    if scorecard_id is None:
        raise NameTaken(scorecard.id, draft.name)
    version = _write_version(session, scorecard, draft, created_by_id, IMPORT_NOTE, source=document)
    return Imported(scorecard, version, True, draft.ignored)


def export(session: Session, scorecard_id: int, version: int | None = None) -> dict[str, Any]:
    """The current version (or `version`) in the exchange format, informational blocks included.

    An imported version is its document as it came, its steps completed with their speaker rules (only
    `isActive` follows the scorecard's flag); a version written by an edit is generated from its content
    (positions 1..N, `version` our number).
    """
    scorecard = get_scorecard(session, scorecard_id)
    stored = current_version(session, scorecard) if version is None else get_version(session, scorecard_id, version)
    if stored.source_document is not None:
        return _source_export(stored, scorecard.is_active)
    return export_document(stored.spec(), stored.extra, version=stored.version, is_active=scorecard.is_active)


def check(session: Session, scorecard_id: int) -> list[FieldIssue]:
    """Why audits could not use this scorecard's current version as it stands (empty: usable)."""
    scorecard = get_scorecard(session, scorecard_id)
    spec = current_version(session, scorecard).spec()
    issues = validate_document(export_document(spec, {}))
    if [step.position for step in spec.steps] != list(range(1, len(spec.steps) + 1)):
        issues.append(FieldIssue("auditSteps", "positions must run from 1 to the number of steps, without gaps"))
    if not scorecard.is_active:
        issues.append(FieldIssue("isActive", "the scorecard is inactive: audits do not use it"))
    return issues


# --- usage ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """Audits run with a scorecard (or one version), soft-deleted audits excluded."""

    total: int = 0
    completed: int = 0
    failed: int = 0
    average_score: float | None = None  # mean score percentage of completed audits
    average_duration_ms: int | None = None
    last_used_at: dt.datetime | None = None
    compliance_rate: float | None = None  # % of completed audits that are compliant


def _usage_query(key: InstrumentedAttribute[int], subject: ScopeSubject) -> Select[Any]:
    """Figures over the audits `subject` may read, like the audit lists (a scorecard is global, its audits are not)."""
    completed = Audit.status == AuditStatus.COMPLETED.value
    query = (
        select(
            key,
            func.count(),
            func.count().filter(completed),
            func.count().filter(Audit.status == AuditStatus.FAILED.value),
            func.avg(Audit.score_percentage).filter(completed),
            func.avg(Audit.duration_ms).filter(completed),
            func.max(Audit.created_at),
            func.count().filter(completed, Audit.is_compliant.is_(True)),
        )
        .where(Audit.deleted_at.is_(None))
        .group_by(key)
    )
    if subject.scope is Scope.ALL:
        return query
    return query.join(Fiche, Fiche.fiche_id == Audit.fiche_id).where(fiche_scope_clause(subject))


def _usage(row: Sequence[Any]) -> Usage:
    total, completed, failed, score, duration, last_used, compliant = row
    return Usage(
        total=total,
        completed=completed,
        failed=failed,
        average_score=None if score is None else round(float(score), 2),
        average_duration_ms=None if duration is None else round(float(duration)),
        last_used_at=last_used,
        compliance_rate=round(100 * compliant / completed, 2) if completed else None,
    )


def usage(session: Session, scorecard_ids: Sequence[int], subject: ScopeSubject) -> dict[int, Usage]:
    """Usage per scorecard over the audits `subject` may read, in SQL; a scorecard never used gets zeroes."""
    rows = session.execute(_usage_query(Audit.scorecard_id, subject).where(Audit.scorecard_id.in_(scorecard_ids))).all()
    found = {row[0]: _usage(row[1:]) for row in rows}
    return {scorecard_id: found.get(scorecard_id, Usage()) for scorecard_id in scorecard_ids}


def usage_by_version(
    session: Session, scorecard_id: int, subject: ScopeSubject
) -> list[tuple[ScorecardVersion, Usage]]:
    """Usage of every version that audits `subject` may read used, oldest version first."""
    rows = session.execute(
        _usage_query(Audit.scorecard_version_id, subject).where(Audit.scorecard_id == scorecard_id)
    ).all()
    found = {row[0]: _usage(row[1:]) for row in rows}
    versions = session.scalars(
        select(ScorecardVersion).where(ScorecardVersion.id.in_(list(found))).order_by(ScorecardVersion.version)
    )
    return [(version, found[version.id]) for version in versions]


# --- seed -------------------------------------------------------------------------------------------


def demo_document() -> dict[str, Any]:
    """The demo scorecard shipped with the product (French health-insurance phone sales)."""
    text = resources.files("domain.audits").joinpath("demo_scorecard.json").read_text(encoding="utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def seed_demo_scorecard(session: Session, document: Mapping[str, Any] | None = None) -> str:
    """Ensures the demo scorecard exists (by name), runs automatically from creation; returns a line to print.

    Idempotent (bug §13.5 #44): run again, it writes nothing while the content is unchanged. When the
    shipped content changed it becomes the next version, unless someone edited the scorecard since the
    seed wrote it: their edit wins. Concurrent seeds are serialised by `callaudit seed`'s lock.
    """
    draft = read_document(document if document is not None else demo_document())
    scorecard = session.scalars(
        select(Scorecard).where(Scorecard.name == draft.name).order_by(Scorecard.id).with_for_update()
    ).first()
    if scorecard is None:
        create(session, draft, is_active=True, run_automatically=True, change_note=SEED_NOTE)
        return f"demo scorecard {draft.name!r}: created (version 1, runs automatically)"
    current = current_version(session, scorecard)
    if current.change_note != SEED_NOTE or current.created_by_id is not None:
        return f"demo scorecard {draft.name!r}: edited since seeded, left at version {current.version}"
    version = new_version(session, scorecard, draft, change_note=SEED_NOTE)
    if version.id == current.id:
        return f"demo scorecard {draft.name!r}: unchanged (version {current.version})"
    return f"demo scorecard {draft.name!r}: updated to version {version.version}"
