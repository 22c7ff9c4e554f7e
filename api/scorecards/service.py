"""What the `/api/audit-configs` routes do: `domain.scorecards.service` on the request's session.

The domain is synchronous, so each route runs one function through `AsyncSession.run_sync`, and
the answer is shaped inside it too (lazy loads need the sync context). The domain's errors are
`DomainError`s, rendered by `api/errors.py`: missing -> 404, stale step / in use / last step /
name taken -> 409, content rules -> 400 naming every field under `body.`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.orm import Session

from api.scorecards.schemas import (
    FieldErrorOut,
    ImportOut,
    ReorderIn,
    ScorecardCreate,
    ScorecardOut,
    ScorecardStats,
    ScorecardUpdate,
    StepIn,
    StepOut,
    UsageOut,
    ValidationOut,
    VersionDetailOut,
    VersionOut,
    VersionUsageOut,
)
from domain.models import Scorecard, ScorecardStep, ScorecardVersion
from domain.scoping import ScopeSubject
from domain.scorecards import service as scorecards
from domain.scorecards.io import read_document

T = TypeVar("T")


# --- shapes -----------------------------------------------------------------------------------------


def step_out(step: ScorecardStep) -> StepOut:
    spec = step.spec()
    return StepOut(
        id=step.id,
        position=step.position,
        name=step.name,
        description=step.description,
        prompt=step.prompt,
        control_points=step.control_points,
        keywords=step.keywords,
        severity_level=step.severity,
        is_critical=step.is_critical,
        chronological_important=step.chronological,
        weight=step.weight,
        verify_product_info=step.verify_product_info,
        control_point_speakers=list(spec.point_speakers),
    )


def usage_out(usage: scorecards.Usage) -> dict[str, Any]:
    return {
        "total_audits": usage.total,
        "completed_audits": usage.completed,
        "failed_audits": usage.failed,
        "average_score": usage.average_score,
        "average_duration_ms": usage.average_duration_ms,
        "last_used_at": usage.last_used_at,
        "compliance_rate": usage.compliance_rate,
    }


def scorecard_out(
    session: Session, scorecard: Scorecard, *, steps: bool = True, usage: scorecards.Usage | None = None
) -> ScorecardOut:
    version = scorecards.current_version(session, scorecard)
    return ScorecardOut(
        id=scorecard.id,
        name=scorecard.name,
        description=scorecard.description,
        system_prompt=version.system_prompt,
        is_active=scorecard.is_active,
        run_automatically=scorecard.run_automatically,
        version=version.version,
        version_id=version.id,
        source_version=version.source_version,
        steps_count=len(version.steps),
        total_weight=sum(step.weight for step in version.steps),
        created_by_id=scorecard.created_by_id,
        created_at=scorecard.created_at,
        updated_at=scorecard.updated_at,
        steps=[step_out(step) for step in version.steps] if steps else None,
        stats=UsageOut(**usage_out(usage)) if usage is not None else None,
    )


def _version_fields(version: ScorecardVersion, steps_count: int, current_id: int | None) -> dict[str, Any]:
    return {
        "id": version.id,
        "version": version.version,
        "source_version": version.source_version,
        "name": version.name,
        "description": version.description,
        "is_current": version.id == current_id,
        "steps_count": steps_count,
        "change_note": version.change_note,
        "created_by_id": version.created_by_id,
        "created_at": version.created_at,
    }


# --- reads ------------------------------------------------------------------------------------------


def list_out(
    session: Session, *, include_inactive: bool, include_steps: bool, stats_for: ScopeSubject | None
) -> list[ScorecardOut]:
    found = scorecards.list_scorecards(session, include_inactive=include_inactive)
    usage = scorecards.usage(session, [s.id for s in found], stats_for) if stats_for else {}
    return [scorecard_out(session, s, steps=include_steps, usage=usage.get(s.id)) for s in found]


def detail_out(session: Session, scorecard_id: int, *, stats_for: ScopeSubject | None) -> ScorecardOut:
    scorecard = scorecards.get_scorecard(session, scorecard_id)
    usage = scorecards.usage(session, [scorecard_id], stats_for)[scorecard_id] if stats_for else None
    return scorecard_out(session, scorecard, usage=usage)


def versions_out(session: Session, scorecard_id: int) -> list[VersionOut]:
    current_id = scorecards.get_scorecard(session, scorecard_id).current_version_id
    return [
        VersionOut(**_version_fields(version, count, current_id))
        for version, count in scorecards.list_versions(session, scorecard_id)
    ]


def version_detail_out(session: Session, scorecard_id: int, number: int) -> VersionDetailOut:
    current_id = scorecards.get_scorecard(session, scorecard_id).current_version_id
    version = scorecards.get_version(session, scorecard_id, number)
    return VersionDetailOut(
        **_version_fields(version, len(version.steps), current_id),
        system_prompt=version.system_prompt,
        steps=[step_out(step) for step in version.steps],
        extra=version.extra,
    )


def stats_out(session: Session, scorecard_id: int, subject: ScopeSubject) -> ScorecardStats:
    scorecard = scorecards.get_scorecard(session, scorecard_id)
    by_version = [
        VersionUsageOut(version_id=version.id, version=version.version, **usage_out(usage))
        for version, usage in scorecards.usage_by_version(session, scorecard_id, subject)
    ]
    total = scorecards.usage(session, [scorecard_id], subject)[scorecard_id]
    return ScorecardStats(id=scorecard.id, name=scorecard.name, by_version=by_version, **usage_out(total))


def validation_out(session: Session, scorecard_id: int) -> ValidationOut:
    issues = scorecards.check(session, scorecard_id)
    return ValidationOut(valid=not issues, errors=[FieldErrorOut(field=i.field, message=i.message) for i in issues])


# --- writes -----------------------------------------------------------------------------------------


def create(session: Session, body: ScorecardCreate, user_id: int | None) -> ScorecardOut:
    document: dict[str, Any] = {
        "name": body.name,
        "description": body.description,
        "systemPrompt": body.system_prompt,
        "steps": [step.as_json() for step in body.steps],
    }
    draft = read_document(document, steps_key="steps")
    scorecard = scorecards.create(
        session,
        draft,
        created_by_id=user_id,
        is_active=body.is_active,
        run_automatically=body.run_automatically,
        change_note="created",
    )
    return scorecard_out(session, scorecard)


def update(session: Session, scorecard_id: int, body: ScorecardUpdate, user_id: int | None) -> ScorecardOut:
    scorecard = scorecards.update(
        session,
        scorecard_id,
        name=body.name,
        description=body.description,
        system_prompt=body.system_prompt,
        is_active=body.is_active,
        run_automatically=body.run_automatically,
        created_by_id=user_id,
        change_note=body.change_note,
    )
    return scorecard_out(session, scorecard)


def _after(session: Session, version: ScorecardVersion) -> ScorecardOut:
    return scorecard_out(session, scorecards.get_scorecard(session, version.scorecard_id))


def add_step(session: Session, scorecard_id: int, body: StepIn, user_id: int | None) -> ScorecardOut:
    return _after(session, scorecards.add_step(session, scorecard_id, body.as_json(), created_by_id=user_id))


def update_step(session: Session, step_id: int, body: StepIn, user_id: int | None) -> ScorecardOut:
    return _after(session, scorecards.update_step(session, step_id, body.as_json(), created_by_id=user_id))


def delete_step(session: Session, step_id: int, user_id: int | None) -> ScorecardOut:
    return _after(session, scorecards.delete_step(session, step_id, created_by_id=user_id))


def reorder(session: Session, scorecard_id: int, body: ReorderIn, user_id: int | None) -> ScorecardOut:
    return _after(session, scorecards.reorder_steps(session, scorecard_id, body.step_ids, created_by_id=user_id))


def unwrapped(document: dict[str, Any]) -> dict[str, Any]:
    """The document itself, also when sent inside the API's `{success, data}` envelope."""
    data = document.get("data")
    if "name" not in document and isinstance(data, dict) and set(document) <= {"success", "data"}:
        return data
    return document


def import_document(
    session: Session, document: dict[str, Any], scorecard_id: int | None, as_new: bool, user_id: int | None
) -> ImportOut:
    imported = scorecards.import_document(
        session, unwrapped(document), scorecard_id=scorecard_id, as_new=as_new, created_by_id=user_id
    )
    return ImportOut(
        scorecard=scorecard_out(session, imported.scorecard),
        version_created=imported.version_created,
        ignored_fields=list(imported.ignored),
    )
