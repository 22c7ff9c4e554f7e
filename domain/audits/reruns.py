"""Reruns of one step, or of one control point of a step, stored as a new revision of the step.

The rules and stores of reruns; the service running them is `services.reruns`, with the same pieces
as a first audit (`services.auditing.analyse_step`: the auditor in the audit's
transcript mode or tools mode when the transcript is too long, evidence gating, usage and cost),
with the user's instructions put first in the step's prompt. The previous revision is superseded,
never changed; the comparison with it (score, conformity, each point's status, citations added
and removed) is trailed in `audit_rerun_results`, and the audit's score and level are recomputed
from the stored rows (`domain.audits.reviews.recompute`). Events go to the audit's topic only,
with the `rerun_id` (the original used pseudo audit ids, §13.5).

A control-point rerun analyses that point alone; the new revision keeps the other points as they
were and re-derives the step from all of them (reference §7.12). A failed analysis stores no
revision: the rerun's result says why and the step keeps its verdict.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from domain.audits.gating import derive_step
from domain.audits.reviews import recompute, reviewable, step_states
from domain.audits.schema import PointStatus
from domain.audits.scorecard import ScorecardSpec, StepSpec
from domain.audits.store import StepRecord, step_row
from domain.models.audits import AuditCitation, AuditControlPoint, AuditStep
from domain.models.reviews import AuditRerunResult
from domain.models.scorecards import ScorecardVersion

log = logging.getLogger(__name__)
T = TypeVar("T")

COMMENT_LIMIT = 1200


@dataclass(frozen=True)
class RerunRequest:
    rerun_id: str
    audit_id: int
    position: int  # 1-based
    control_point_index: int | None = None  # 1-based; None reruns the whole step
    instructions: str | None = None

    @property
    def scope(self) -> str:
        return "step" if self.control_point_index is None else "control_point"


@dataclass(frozen=True)
class RerunOutcome:
    rerun_id: str
    status: str  # completed | failed
    revision: int | None = None
    comparison: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None


class RerunRefused(Exception):
    """The rerun cannot be made (no such step or point, audit not reviewable)."""


# --- pure ---------------------------------------------------------------------------------------


def rerun_step_spec(step: StepSpec, request: RerunRequest, previous: AuditStep | None) -> StepSpec:
    """The step as the auditor sees it for this rerun: the user's instructions first; for a control
    point, that point alone with what was concluded of it before."""
    instructions = (request.instructions or "").strip()
    if request.control_point_index is None:
        if not instructions:
            return step
        prompt = f"📝 INSTRUCTIONS SPÉCIFIQUES DE L'UTILISATEUR :\n{instructions}\n\n{step.prompt}"
        return dataclasses.replace(step, prompt=prompt)
    index = request.control_point_index
    text = step.control_points[index - 1]
    lines = [f"🧩 RERUN CIBLÉ : point de contrôle {index}/{len(step.control_points)} : « {text} »."]
    point = next((p for p in previous.control_points if p.index == index), None) if previous else None
    if point is not None:
        cited = "; ".join(f"« {c.texte} » ({c.minutage})" for c in point.citations) or "aucune"
        lines += [
            f"Verdict précédent : {point.statut}. Citations précédentes : {cited}.",
            f"Commentaire précédent : {point.commentaire[:COMMENT_LIMIT]}",
        ]
    if instructions:
        lines.append(f"Instructions de l'utilisateur, à appliquer en priorité :\n{instructions}")
    return dataclasses.replace(
        step,
        prompt="\n".join(lines) + f"\n\n{step.prompt}",
        control_points=(text,),
        point_speakers=(step.speaker_rule(index - 1),),
    )


def revision_summary(row: AuditStep) -> dict[str, Any]:
    """What a comparison reads of a revision (JSON-ready)."""
    return {
        "revision": row.revision,
        "score": row.score,
        "conforme": row.conforme,
        "niveau_conformite": row.niveau_conformite,
        "total_citations": row.total_citations,
        "points": [
            {
                "index": p.index,
                "point": p.point,
                "statut": p.statut,
                "commentaire": p.commentaire,
                "citations": [{"texte": c.texte, "minutage": c.minutage, "call_id": c.call_id} for c in p.citations],
            }
            for p in row.control_points
        ],
    }


def compare(previous: Mapping[str, Any], new: Mapping[str, Any], *, only: int | None = None) -> dict[str, Any]:
    """Score, conformity, each point's status and the citations added and removed (per point, by text
    and time), from `previous` to `new` revision summaries; `only` restricts points to one index."""

    def points(summary: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
        return {p["index"]: p for p in summary["points"] if only is None or p["index"] == only}

    before, after = points(previous), points(new)
    statuses, added, removed = [], [], []
    for index in sorted(before.keys() | after.keys()):
        old, fresh = before.get(index), after.get(index)
        old_statut, new_statut = old and old["statut"], fresh and fresh["statut"]
        statuses.append(
            {"index": index, "previous": old_statut, "next": new_statut, "changed": old_statut != new_statut}
        )
        old_quotes = {(c["texte"], c["minutage"]) for c in (old or {}).get("citations", [])}
        new_quotes = {(c["texte"], c["minutage"]) for c in (fresh or {}).get("citations", [])}
        added += [{"control_point_index": index, "texte": t, "minutage": m} for t, m in sorted(new_quotes - old_quotes)]
        removed += [
            {"control_point_index": index, "texte": t, "minutage": m} for t, m in sorted(old_quotes - new_quotes)
        ]
    return {
        "score": {"previous": previous["score"], "next": new["score"], "changed": previous["score"] != new["score"]},
        "conforme": {
            "previous": previous["conforme"],
            "next": new["conforme"],
            "changed": previous["conforme"] != new["conforme"],
        },
        "points": statuses,
        "citations_added": added,
        "citations_removed": removed,
    }


def _columns(row: Any, skip: set[str]) -> dict[str, Any]:
    """A row's column values but its keys, to copy it into a new revision."""
    return {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key not in skip}


def _copy_point(point: AuditControlPoint) -> AuditControlPoint:
    copy = AuditControlPoint(**_columns(point, {"id", "step_id"}))
    copy.citations = [AuditCitation(**_columns(c, {"id", "control_point_id"})) for c in point.citations]
    return copy


def point_revision(previous: AuditStep, record: StepRecord, index: int) -> AuditStep:
    """A new revision of `previous` whose control point `index` is the rerun's, the step re-derived from all points."""
    fresh = step_row(record.step, record.mode, record.usage).control_points[0]
    fresh.index = index
    points = [fresh if p.index == index else _copy_point(p) for p in previous.control_points]
    derived = derive_step((PointStatus(p.statut) for p in points), previous.weight)
    minutages = sorted({m for p in points for m in p.minutages})
    return AuditStep(
        position=previous.position,
        name=previous.name,
        severity=previous.severity,
        is_critical=previous.is_critical,
        weight=previous.weight,
        traite=previous.traite,
        conforme=derived.conforme.value,
        score=derived.score,
        niveau_conformite=derived.niveau.value,
        commentaire_global=previous.commentaire_global,
        mots_cles_trouves=list(previous.mots_cles_trouves),
        minutages=minutages,
        erreurs_transcription_tolerees=previous.erreurs_transcription_tolerees,
        total_citations=sum(len(p.citations) for p in points),
        failed=False,
        transcript_mode=record.mode,
        input_tokens=record.usage.input_tokens,
        cached_input_tokens=record.usage.cached_input_tokens,
        output_tokens=record.usage.output_tokens,
        cost_usd=record.usage.cost_usd,
        gating=record.step.stats.as_json(),
        control_points=points,
    )


# --- store --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    fiche_id: str
    spec: ScorecardSpec
    step: StepSpec
    previous: AuditStep
    use_tools: bool


def load_rerun_context(session: Session, request: RerunRequest) -> _Context:
    audit = reviewable(session, request.audit_id)
    spec = session.get_one(ScorecardVersion, audit.scorecard_version_id).spec()
    try:
        step = spec.step(request.position)
    except KeyError:
        raise RerunRefused(f"The audit's scorecard has no step {request.position}") from None
    index = request.control_point_index
    if index is not None and not 1 <= index <= len(step.control_points):
        raise RerunRefused(f"Step {request.position} has {len(step.control_points)} control point(s), not {index}")
    previous = _current(session, request.audit_id, request.position)
    if previous is None:
        raise RerunRefused(f"The audit has no result for step {request.position}")
    session.expunge(previous)
    return _Context(audit.fiche_id, spec, step, previous, audit.use_rlm or audit.transcript_mode == "tools")


def _current(session: Session, audit_id: int, position: int) -> AuditStep | None:
    return session.scalars(
        select(AuditStep)
        .where(AuditStep.audit_id == audit_id, AuditStep.position == position, AuditStep.superseded_at.is_(None))
        .options(selectinload(AuditStep.control_points).selectinload(AuditControlPoint.citations))
    ).first()


def store_revision(
    session: Session, request: RerunRequest, record: StepRecord, *, run_id: str | None, now: dt.datetime
) -> RerunOutcome:
    """Supersede the step's current revision with the rerun's, trail the comparison, recompute the audit."""
    audit = reviewable(session, request.audit_id)
    previous = _current(session, request.audit_id, request.position)
    if previous is None:
        raise RerunRefused(f"The audit has no result for step {request.position}")
    index = request.control_point_index
    row = step_row(record.step, record.mode, record.usage) if index is None else point_revision(previous, record, index)
    row.audit_id = audit.id
    row.revision = previous.revision + 1
    row.rerun_scope = request.scope
    row.rerun_point_index = index
    row.rerun_id = request.rerun_id
    row.run_id = run_id
    before = revision_summary(previous)
    session.execute(update(AuditStep).where(AuditStep.id == previous.id).values(superseded_at=now))
    session.add(row)
    session.flush()
    after = revision_summary(row)
    comparison = compare(before, after, only=index) | {
        "step_score": {"previous": before["score"], "next": after["score"]},
        "step_conforme": {"previous": before["conforme"], "next": after["conforme"]},
    }
    audit.input_tokens += record.usage.input_tokens
    audit.cached_input_tokens += record.usage.cached_input_tokens
    audit.output_tokens += record.usage.output_tokens
    audit.cost_usd += record.usage.cost_usd
    session.add(
        AuditRerunResult(
            rerun_id=request.rerun_id,
            audit_id=audit.id,
            step_position=request.position,
            control_point_index=index,
            status="completed",
            previous_revision=previous.revision,
            new_revision=row.revision,
            previous=before,
            next=after,
            comparison=comparison,
            run_id=run_id,
        )
    )
    session.flush()
    recompute(session, audit, step_states(session, request.audit_id))
    return RerunOutcome(request.rerun_id, "completed", row.revision, comparison)


def store_failure(session: Session, request: RerunRequest, error: str, *, run_id: str | None) -> RerunOutcome:
    previous = _current(session, request.audit_id, request.position)
    session.add(
        AuditRerunResult(
            rerun_id=request.rerun_id,
            audit_id=request.audit_id,
            step_position=request.position,
            control_point_index=request.control_point_index,
            status="failed",
            previous_revision=previous.revision if previous else 0,
            previous={},
            next={},
            comparison={},
            error=error[:2000],
            run_id=run_id,
        )
    )
    return RerunOutcome(request.rerun_id, "failed", error=error)
