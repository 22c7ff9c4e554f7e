"""Human review, reruns, trails and disputes for the API: scoped, with the domain's rules.

Every entry point first finds the audit through its fiche under the caller's grant (404 outside
the scope, like a missing audit), then runs the domain functions (`domain.audits.reviews`,
`domain.audits.reruns`) in the request's transaction. Domain refusals map to the error contract:
not reviewable -> 409, no such step or point -> 404, an invalid override -> 400 naming the field.
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import TypeAdapter
from sqlalchemy import BigInteger, Select, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, selectinload

from api.audits.schemas import AuditDetail, CitationOut, ControlPointOut, StepOut
from api.errors import BadRequest, Conflict, NotFound
from api.reviews.schemas import (
    AgreementOut,
    AiVerdictOut,
    CalibrationOut,
    CalibrationQuery,
    ChangeOut,
    DisputeOut,
    DisputeResolveIn,
    HumanReviewOut,
    PointCalibrationOut,
    PointReviewIn,
    RankedPointOut,
    RerunEntryOut,
    RerunQueued,
    RevisionOut,
    ScorecardCalibrationOut,
    StepReviewIn,
    TrailOut,
    WeekCalibrationOut,
)
from api.schemas import Page, PageParams
from api.security import Grant
from domain.audits import reviews as domain
from domain.audits.calibration_store import CalibrationFilters, calibration_report
from domain.audits.reruns import revision_summary
from domain.models import (
    Audit,
    AuditControlPoint,
    AuditDispute,
    AuditRerun,
    AuditRerunResult,
    AuditReview,
    AuditStep,
    DisputeStatus,
    Fiche,
    ScorecardVersion,
)
from domain.scoping import fiche_scope_clause
from runs.contract import Origin, RerunStep
from runs.launch import launch_rerun
from runs.launcher import RunLauncher

T = TypeVar("T")


def actor_of(grant: Grant) -> domain.Actor:
    return domain.Actor(grant.principal.user_id, grant.principal.describe())


async def visible_audit(session: AsyncSession, grant: Grant, audit_id: int) -> Audit:
    statement = (
        select(Audit)
        .join(Fiche, Fiche.fiche_id == Audit.fiche_id)
        .where(Audit.id == audit_id, fiche_scope_clause(grant))
    )
    audit = (await session.scalars(statement)).first()
    if audit is None:
        raise NotFound("Audit not found")
    return audit


async def domain_call(session: AsyncSession, work: Callable[[Session], T]) -> T:
    """A domain call in the request's transaction; its refusals are domain errors `api/errors.py` renders."""
    return await session.run_sync(work)


# --- the latest view ----------------------------------------------------------------------------


def _review_out(review: AuditReview, in_force: bool) -> HumanReviewOut:
    return HumanReviewOut(
        at=review.created_at,
        by=review.actor,
        by_user_id=review.actor_user_id,
        reviewer=review.reviewer_note,
        reason=review.reason,
        kind=review.kind,
        control_point_index=review.control_point_index,
        revision=review.step_revision,
        in_force=in_force,
        previous=review.previous,
        override=review.override,
        dispute_id=review.dispute_id,
    )


def _brief(summary: dict[str, Any]) -> dict[str, Any]:
    keys = ("revision", "score", "conforme", "niveau_conformite", "total_citations")
    return {k: summary[k] for k in keys if k in summary}


@functools.cache
def _rerun_statements() -> tuple[Select[Any], Select[Any]]:
    """The audit's rerun requests and results as plain rows (the tables', no ORM entity), built once."""
    asked, ended = AuditRerun.__table__, AuditRerunResult.__table__
    audit_id = bindparam("audit_id", type_=BigInteger)
    return select(asked).where(asked.c.audit_id == audit_id), select(ended).where(ended.c.audit_id == audit_id)


def rerun_entries(session: Session, audit_id: int) -> dict[int, list[RerunEntryOut]]:
    """Every rerun of the audit by step position, oldest first: asked for, and how it ended."""
    asked_statement, ended_statement = _rerun_statements()
    connection = domain.core(session)
    asked = {r.rerun_id: r for r in connection.execute(asked_statement, {"audit_id": audit_id})}
    ended = {r.rerun_id: r for r in connection.execute(ended_statement, {"audit_id": audit_id})}
    entries: dict[int, list[RerunEntryOut]] = {}
    for rerun_id in asked.keys() | ended.keys():
        request, result = asked.get(rerun_id), ended.get(rerun_id)
        source = request or result
        assert source is not None
        entries.setdefault(source.step_position, []).append(
            RerunEntryOut(
                at=source.created_at,
                kind="step_rerun" if source.control_point_index is None else "control_point_rerun",
                rerun_id=rerun_id,
                run_id=request.run_id if request else result.run_id if result else None,
                by=request.actor if request else None,
                control_point_index=source.control_point_index,
                custom_prompt=request.custom_instructions if request else None,
                status=result.status if result else "queued",
                error=result.error if result else None,
                revision=result.new_revision if result else None,
                previous=_brief(result.previous) if result else {},
                next=_brief(result.next) if result else {},
                comparison=result.comparison if result else {},
            )
        )
    for items in entries.values():
        items.sort(key=lambda e: (e.at, e.rerun_id))
    return entries


# What the latest view, the trail and the reruns add: every other field of a step, point or citation
# is its row's column of the same name.
_STEP_OVERLAY = {"control_points", "ai_verdict", "human_review", "rerun_history"}
_POINT_OVERLAY = {"citations", "ai_statut", "ai_commentaire", "human_review", "rerun_history"}
_STEP_COLUMNS = tuple(name for name in StepOut.model_fields if name not in _STEP_OVERLAY)
_POINT_COLUMNS = tuple(name for name in ControlPointOut.model_fields if name not in _POINT_OVERLAY)
_CITATION_COLUMNS = tuple(CitationOut.model_fields)
_STEPS = TypeAdapter(list[StepOut])


def overlaid_steps(session: Session, audit_id: int, *, trail: bool = True) -> list[StepOut]:
    """The audit's steps as they stand (§7.11): current revisions with the overrides in force, each
    with its AI verdict, `human_review[]` and `rerun_history[]`, and the same per control point.
    Built as plain dicts and validated in one call (decision 112). `trail=False` is for a caller that
    read `domain.has_trail` false: three statements fewer (decision 121)."""
    reruns = rerun_entries(session, audit_id) if trail else {}
    steps = []
    for position, state in sorted(domain.step_states(session, audit_id, reviewed=trail).items()):
        reviews = [_review_out(review, in_force) for review, in_force in state.reviews]
        history = reruns.get(position, [])
        points = []
        for row in state.row.control_points:
            view = state.view.point(row.index)
            point = {name: getattr(row, name) for name in _POINT_COLUMNS}
            point.update(
                statut=view.statut,
                commentaire=view.commentaire,
                citations=[{name: getattr(c, name) for name in _CITATION_COLUMNS} for c in row.citations],
                ai_statut=row.statut,
                ai_commentaire=row.commentaire,
                human_review=[r for r in reviews if r.control_point_index == row.index],
                rerun_history=[e for e in history if e.control_point_index == row.index],
            )
            points.append(point)
        step = {name: getattr(state.row, name) for name in _STEP_COLUMNS}
        step.update(
            state.view.step_values(),
            control_points=points,
            ai_verdict=AiVerdictOut(**state.ai.step_values()),
            human_review=[r for r in reviews if r.control_point_index is None],
            rerun_history=[e for e in history if e.control_point_index is None],
        )
        steps.append(step)
    return _STEPS.validate_python(steps)


async def with_latest_view(session: AsyncSession, detail: AuditDetail) -> AuditDetail:
    steps = await session.run_sync(lambda s: overlaid_steps(s, detail.id))
    return detail.model_copy(update={"steps": steps})


# --- overrides ----------------------------------------------------------------------------------


async def _after_change(session: AsyncSession, audit_id: int, position: int) -> tuple[StepOut, Audit]:
    """The step as it now stands, and the audit with its recomputed score."""
    steps = await session.run_sync(lambda s: overlaid_steps(s, audit_id))
    audit = await session.get_one(Audit, audit_id)
    await session.refresh(audit)
    return next(s for s in steps if s.position == position), audit


async def review_step(
    session: AsyncSession, grant: Grant, audit_id: int, position: int, body: StepReviewIn
) -> tuple[StepOut, Audit]:
    await visible_audit(session, grant, audit_id)
    values = body.model_dump(include={"conforme", "traite", "score", "niveau_conformite"}, exclude_none=True)
    actor = actor_of(grant)
    await domain_call(
        session,
        lambda s: domain.review_step(
            s, audit_id, position, values, actor=actor, reason=body.reason, reviewer_note=body.reviewer
        ),
    )
    return await _after_change(session, audit_id, position)


async def review_point(
    session: AsyncSession, grant: Grant, audit_id: int, position: int, *, index: int, body: PointReviewIn
) -> tuple[StepOut, Audit]:
    await visible_audit(session, grant, audit_id)
    values = body.model_dump(include={"statut", "commentaire"}, exclude_none=True)
    if not values:
        raise BadRequest("Give a new `statut`, a new `commentaire`, or both", field="body.statut")
    actor = actor_of(grant)
    await domain_call(
        session,
        lambda s: domain.review_point(
            s, audit_id, position, index, values, actor=actor, reason=body.reason, reviewer_note=body.reviewer
        ),
    )
    return await _after_change(session, audit_id, position)


# --- reruns -------------------------------------------------------------------------------------


def check_rerun(session: Session, audit_id: int, position: int, index: int | None) -> None:
    """Refuse before launching what the run would refuse: audit not reviewable, no such step or point."""
    audit = domain.reviewable(session, audit_id)
    spec = session.get_one(ScorecardVersion, audit.scorecard_version_id).spec()
    try:
        step = spec.step(position)
    except KeyError:
        raise domain.NoSuchTarget(f"The audit has no step {position}") from None
    if index is not None and not 1 <= index <= len(step.control_points):
        raise domain.NoSuchTarget(f"Step {position} has no control point {index}")


def new_rerun_id() -> str:
    return uuid.uuid4().hex


def record_rerun(
    session: Session,
    *,
    rerun_id: str,
    audit_id: int,
    position: int,
    index: int | None,
    instructions: str | None,
    actor: domain.Actor,
    run_id: str,
) -> None:
    session.add(
        AuditRerun(
            rerun_id=rerun_id,
            audit_id=audit_id,
            step_position=position,
            control_point_index=index,
            custom_instructions=instructions,
            actor_user_id=actor.user_id,
            actor=actor.description,
            run_id=run_id,
        )
    )
    session.flush()


# --- trails and revisions -----------------------------------------------------------------------


def trail(session: Session, audit_id: int) -> TrailOut:
    reviews = session.scalars(select(AuditReview).where(AuditReview.audit_id == audit_id).order_by(AuditReview.id))
    in_force = {
        review.id: flag for state in domain.step_states(session, audit_id).values() for review, flag in state.reviews
    }
    reruns = [entry for entries in rerun_entries(session, audit_id).values() for entry in entries]
    return TrailOut(
        human_reviews=[_review_out(r, in_force.get(r.id, False)) for r in reviews],
        reruns=sorted(reruns, key=lambda e: (e.at, e.rerun_id)),
        changes=[
            ChangeOut(at=c.created_at, by=c.actor, kind=c.kind, previous=c.previous, new=c.new)
            for c in domain.audit_changes(session, audit_id)
        ],
    )


def revisions(session: Session, audit_id: int, position: int) -> list[RevisionOut]:
    rows = session.scalars(
        select(AuditStep)
        .where(AuditStep.audit_id == audit_id, AuditStep.position == position)
        .options(selectinload(AuditStep.control_points).selectinload(AuditControlPoint.citations))
        .order_by(AuditStep.revision)
    ).all()
    if not rows:
        raise domain.NoSuchTarget(f"The audit has no step {position}")
    return [
        RevisionOut(
            revision=row.revision,
            current=row.superseded_at is None,
            rerun_scope=row.rerun_scope,
            rerun_point_index=row.rerun_point_index,
            rerun_id=row.rerun_id,
            run_id=row.run_id,
            created_at=row.created_at,
            superseded_at=row.superseded_at,
            verdict={**revision_summary(row), "traite": row.traite},
        )
        for row in rows
    ]


# --- disputes -----------------------------------------------------------------------------------


def _dispute_out(dispute: AuditDispute, fiche_id: str) -> DisputeOut:
    return DisputeOut(
        id=dispute.id,
        audit_id=dispute.audit_id,
        fiche_id=fiche_id,
        step_position=dispute.step_position,
        control_point_index=dispute.control_point_index,
        comment=dispute.comment,
        statut_at_opening=dispute.statut_at_opening,
        opened_by=dispute.opened_by,
        status=dispute.status,
        resolved_by=dispute.resolved_by,
        resolution=dispute.resolution,
        resolved_at=dispute.resolved_at,
        created_at=dispute.created_at,
    )


def open_dispute(
    session: Session, audit_id: int, position: int, *, index: int, comment: str, actor: domain.Actor
) -> AuditDispute:
    domain.reviewable(session, audit_id)
    state = domain.step_states(session, audit_id).get(position)
    if state is None:
        raise domain.NoSuchTarget(f"The audit has no step {position}")
    try:
        point = state.view.point(index)
    except KeyError:
        raise domain.NoSuchTarget(f"Step {position} has no control point {index}") from None
    dispute = AuditDispute(
        audit_id=audit_id,
        step_position=position,
        control_point_index=index,
        comment=comment,
        statut_at_opening=point.statut,
        opened_by_user_id=actor.user_id,
        opened_by=actor.description,
        status=DisputeStatus.OPEN,
    )
    session.add(dispute)
    session.flush()
    session.refresh(dispute)
    return dispute


async def create_dispute(
    session: AsyncSession, grant: Grant, audit_id: int, position: int, *, index: int, comment: str
) -> DisputeOut:
    audit = await visible_audit(session, grant, audit_id)
    actor = actor_of(grant)
    dispute = await domain_call(
        session, lambda s: open_dispute(s, audit_id, position, index=index, comment=comment, actor=actor)
    )
    return _dispute_out(dispute, audit.fiche_id)


async def list_disputes(session: AsyncSession, grant: Grant, status: str | None, page: PageParams) -> Page[DisputeOut]:
    where = [fiche_scope_clause(grant)] + ([AuditDispute.status == status] if status else [])
    base = (
        select(AuditDispute, Audit.fiche_id)
        .join(Audit, Audit.id == AuditDispute.audit_id)
        .join(Fiche, Fiche.fiche_id == Audit.fiche_id)
        .where(*where)
    )
    total = int(await session.scalar(select(func.count()).select_from(base.subquery())) or 0)
    rows = await session.execute(
        base.order_by(AuditDispute.created_at.desc(), AuditDispute.id.desc()).limit(page.limit).offset(page.offset)
    )
    return page.paginate([_dispute_out(d, fiche_id) for d, fiche_id in rows.all()], total)


async def resolve_dispute(
    session: AsyncSession, grant: Grant, dispute_id: int, body: DisputeResolveIn, now: dt.datetime
) -> DisputeOut:
    statement = (
        select(AuditDispute, Audit.fiche_id)
        .join(Audit, Audit.id == AuditDispute.audit_id)
        .join(Fiche, Fiche.fiche_id == Audit.fiche_id)
        .where(AuditDispute.id == dispute_id, fiche_scope_clause(grant))
        .with_for_update(of=AuditDispute)
    )
    row = (await session.execute(statement)).first()
    if row is None:
        raise NotFound("Dispute not found")
    dispute, fiche_id = row
    if dispute.status != DisputeStatus.OPEN:
        raise Conflict(f"The dispute is already {dispute.status}", field="decision")
    actor = actor_of(grant)
    if body.decision == "accepted":
        if body.statut is None:
            raise BadRequest("Accepting a dispute sets the point's `statut`", field="body.statut")
        values: dict[str, Any] = {"statut": body.statut}
        if body.commentaire is not None:
            values["commentaire"] = body.commentaire
        audit_id, position, index, reason = (
            dispute.audit_id,
            dispute.step_position,
            dispute.control_point_index,
            body.comment,
        )
        await domain_call(
            session,
            lambda s: domain.review_point(
                s, audit_id, position, index, values, actor=actor, reason=reason, dispute_id=dispute_id
            ),
        )
    dispute.status = body.decision
    dispute.resolved_by_user_id = actor.user_id
    dispute.resolved_by = actor.description
    dispute.resolution = body.comment
    dispute.resolved_at = now
    await session.flush()
    return _dispute_out(dispute, fiche_id)


async def queue_rerun(
    session: AsyncSession,
    launcher: RunLauncher,
    grant: Grant,
    *,
    audit_id: int,
    position: int,
    index: int | None,
    instructions: str | None,
    origin: Origin,
) -> RerunQueued:
    """Check what the run would refuse, launch ONE run, and trail the request with its run id."""
    await visible_audit(session, grant, audit_id)
    await domain_call(session, lambda s: check_rerun(s, audit_id, position, index))
    rerun_id = new_rerun_id()
    rerun = RerunStep(
        rerun_id=rerun_id,
        audit_id=audit_id,
        step_position=position,
        control_point_index=index,
        custom_instructions=instructions or None,
    )
    run_id = await launch_rerun(launcher, rerun, origin)
    # A retried request (same Idempotency-Key) finds its run: answer with that run's rerun.
    existing = await session.scalar(select(AuditRerun.rerun_id).where(AuditRerun.run_id == run_id))
    if existing is not None:
        rerun_id = existing
    else:
        actor = actor_of(grant)
        await session.run_sync(
            lambda s: record_rerun(
                s,
                rerun_id=rerun_id,
                audit_id=audit_id,
                position=position,
                index=index,
                instructions=instructions,
                actor=actor,
                run_id=run_id,
            )
        )
    what = f"step {position}" if index is None else f"control point {index} of step {position}"
    return RerunQueued(
        message=f"Rerun of {what} queued",
        rerun_id=rerun_id,
        run_id=run_id,
        audit_id=audit_id,
        step_position=position,
        control_point_index=index,
    )


# --- calibration --------------------------------------------------------------------------------


def _ranked(items: list[dict[str, Any]], key: str) -> list[RankedPointOut]:
    return [RankedPointOut(**{k: v for k, v in item.items() if k != key}, count=item[key]) for item in items]


async def calibration(session: AsyncSession, grant: Grant, query: CalibrationQuery, timezone: str) -> CalibrationOut:
    filters = CalibrationFilters(
        timezone=timezone,
        scorecard_id=query.scorecard_id,
        scorecard_version=query.scorecard_version,
        date_from=query.date_from,
        date_to=query.date_to,
        groupes=tuple(g.strip() for g in (query.groupes or "").split(",") if g.strip()),
        auditor=query.auditor,
        model=query.model,
    )
    scope = fiche_scope_clause(grant)
    report = await session.run_sync(lambda s: calibration_report(s, filters, scope, top=query.top))
    return CalibrationOut(
        audits=report.audits,
        overall=AgreementOut(**report.overall.as_json()),
        scorecards=[ScorecardCalibrationOut(**item) for item in report.scorecards],
        points=[PointCalibrationOut(**item) for item in report.points],
        most_overridden=_ranked(report.most_overridden, "overrides"),
        most_disputed=_ranked(report.most_disputed, "disputes"),
        weekly=[WeekCalibrationOut(**item) for item in report.weekly],
    )
