"""`/api/audits/...`: override verdicts, rerun steps, read trails and revisions, dispute verdicts.

Overrides and dispute answers need `audits.review`, reruns `audits.rerun`, reads and opening a
dispute `audits.read`; each within the grant's scope, through the audit's fiche (an audit outside
it is a 404 like a missing one). Declared before `/api/audits/{audit_id}` so `/disputes` is a path.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, Field

from api.audits.schemas import ComplianceOut, StepOut
from api.audits.service import compliance_out
from api.deps import SessionDep, SettingsDep
from api.reviews import service
from api.reviews.schemas import (
    CalibrationOut,
    CalibrationQuery,
    DisputeIn,
    DisputeOut,
    DisputeResolveIn,
    PointReviewIn,
    RerunIn,
    RerunQueued,
    RevisionOut,
    StepReviewIn,
    TrailOut,
)
from api.runs import LauncherDep, origin
from api.schemas import Envelope, Page, PageParams, ok, page_params
from api.security import CanonicalPathInt, EntityId, Grant, require

router = APIRouter(prefix="/audits", tags=["audit reviews"])

ReadAudits = Annotated[Grant, Depends(require("audits", "read"))]
Review = Annotated[Grant, Depends(require("audits.review", "write"))]
Rerun = Annotated[Grant, Depends(require("audits.rerun", "write"))]
MAX_POSITION = 1000
PositionPath = Annotated[int, CanonicalPathInt, Path(ge=1, le=MAX_POSITION, description="1-based step position")]
IndexPath = Annotated[
    int, CanonicalPathInt, Path(ge=1, le=MAX_POSITION, description="1-based control point index within the step")
]
CONFLICT: dict[int | str, dict[str, Any]] = {409: {"description": "The audit is not completed, or is deleted"}}


class ReviewedOut(BaseModel):
    step: StepOut = Field(description="The step as it now stands, with its trails")
    compliance: ComplianceOut = Field(description="The audit's score and level, recomputed")


@router.get("/disputes", response_model=Page[DisputeOut], summary="Disputes of audit verdicts")
async def list_disputes(
    grant: ReadAudits,
    session: SessionDep,
    page: Annotated[PageParams, Depends(page_params)],
    status: Annotated[
        Literal["open", "accepted", "rejected"] | None, Query(description="Only disputes in this state")
    ] = "open",
) -> Page[DisputeOut]:
    """The disputes of the audits the caller may read (open ones by default), newest first."""
    return await service.list_disputes(session, grant, status, page)


@router.get("/calibration", response_model=Envelope[CalibrationOut], summary="Where the AI and the reviewers disagree")
async def calibration(
    grant: ReadAudits, session: SessionDep, settings: SettingsDep, query: Annotated[CalibrationQuery, Query()]
) -> Envelope[CalibrationOut]:
    """Over the completed audits the caller may read that a human reviewed: the AI's control-point statuses
    against the statuses after review, per control point, per scorecard, overall and per week (observed
    agreement, Cohen's kappa with its 95 % interval, confusion counts), and the most overridden and disputed
    points. A reviewed audit's points left alone count as agreements."""
    return ok(await service.calibration(session, grant, query, settings.sales_timezone))


@router.post(
    "/disputes/{dispute_id}/resolve",
    response_model=Envelope[DisputeOut],
    summary="Accept or reject a dispute",
    responses={409: {"description": "The dispute is already resolved, or the audit cannot take overrides"}},
)
async def resolve_dispute(
    dispute_id: EntityId, body: DisputeResolveIn, grant: Review, session: SessionDep
) -> Envelope[DisputeOut]:
    """`accepted` overrides the control point (`statut` required) with the dispute linked to the override and
    recomputes the step and the audit; `rejected` keeps the verdict. A dispute is resolved once."""
    return ok(await service.resolve_dispute(session, grant, dispute_id, body, dt.datetime.now(dt.UTC)))


@router.patch(
    "/{audit_id}/steps/{position}/review",
    response_model=Envelope[ReviewedOut],
    summary="Override a step's verdict",
    responses=CONFLICT,
)
async def review_step(
    audit_id: EntityId, position: PositionPath, body: StepReviewIn, grant: Review, session: SessionDep
) -> Envelope[ReviewedOut]:
    """Sets `conforme` and optionally `traite`, `score` (0 to the step's weight), `niveau_conformite`, with a
    `reason`. The AI's verdict stays stored; the override is trailed with the caller as reviewer and the audit's
    score and level are recomputed. A later rerun of the step replaces the override (which stays in the trail)."""
    step, audit = await service.review_step(session, grant, audit_id, position, body)
    return ok(ReviewedOut(step=step, compliance=compliance_out(audit)))


@router.patch(
    "/{audit_id}/steps/{position}/control-points/{index}/review",
    response_model=Envelope[ReviewedOut],
    summary="Override a control point's verdict",
    responses=CONFLICT,
)
async def review_point(  # noqa: PLR0917 - FastAPI path parameters and dependencies
    audit_id: EntityId,
    position: PositionPath,
    index: IndexPath,
    body: PointReviewIn,
    grant: Review,
    session: SessionDep,
) -> Envelope[ReviewedOut]:
    """Sets `statut` and/or `commentaire` with a `reason`. A new status re-derives the step's score, conformity
    and level from all its points, and the audit's score and level are recomputed (the original did neither)."""
    step, audit = await service.review_point(session, grant, audit_id, position, index=index, body=body)
    return ok(ReviewedOut(step=step, compliance=compliance_out(audit)))


async def _rerun(
    request: Request,
    session: SessionDep,
    launcher: LauncherDep,
    grant: Grant,
    *,
    audit_id: int,
    position: int,
    index: int | None,
    body: RerunIn | None,
) -> RerunQueued:
    return await service.queue_rerun(
        session,
        launcher,
        grant,
        audit_id=audit_id,
        position=position,
        index=index,
        instructions=body.custom_instructions if body else None,
        origin=origin(grant, request, source="rerun"),
    )


@router.post(
    "/{audit_id}/steps/{position}/rerun",
    status_code=202,
    response_model=Envelope[RerunQueued],
    summary="Rerun a step",
    responses=CONFLICT,
)
async def rerun_step(  # noqa: PLR0917 - FastAPI path parameters and dependencies
    audit_id: EntityId,
    position: PositionPath,
    request: Request,
    grant: Rerun,
    session: SessionDep,
    launcher: LauncherDep,
    body: RerunIn | None = None,
) -> Envelope[RerunQueued]:
    """Queues ONE Dagster run analysing the step again (same auditor, transcript mode and evidence gating as an
    audit), with optional instructions put first in its prompt. The result is the step's next revision, compared
    with the previous one; the audit's score is recomputed. Follow `audit.step_*` events with its `rerun_id`."""
    return ok(
        await _rerun(request, session, launcher, grant, audit_id=audit_id, position=position, index=None, body=body)
    )


@router.post(
    "/{audit_id}/steps/{position}/control-points/{index}/rerun",
    status_code=202,
    response_model=Envelope[RerunQueued],
    summary="Rerun one control point of a step",
    responses=CONFLICT,
)
async def rerun_point(  # noqa: PLR0917 - FastAPI path parameters and dependencies
    audit_id: EntityId,
    position: PositionPath,
    index: IndexPath,
    request: Request,
    grant: Rerun,
    session: SessionDep,
    launcher: LauncherDep,
    body: RerunIn | None = None,
) -> Envelope[RerunQueued]:
    """Like the step rerun, for one control point: the new revision keeps the other points and re-derives the
    step from all of them."""
    return ok(
        await _rerun(request, session, launcher, grant, audit_id=audit_id, position=position, index=index, body=body)
    )


@router.get(
    "/{audit_id}/steps/{position}/revisions",
    response_model=Envelope[list[RevisionOut]],
    summary="Every AI revision of a step",
)
async def step_revisions(
    audit_id: EntityId, position: PositionPath, grant: ReadAudits, session: SessionDep
) -> Envelope[list[RevisionOut]]:
    """Revision 1 is the audit's original AI verdict; each rerun adds one. Overrides are not applied here."""
    await service.visible_audit(session, grant, audit_id)
    return ok(await service.domain_call(session, lambda s: service.revisions(s, audit_id, position)))


@router.get("/{audit_id}/trail", response_model=Envelope[TrailOut], summary="Who changed what in an audit")
async def audit_trail(audit_id: EntityId, grant: ReadAudits, session: SessionDep) -> Envelope[TrailOut]:
    """Every override, rerun, metadata edit, soft delete and restore of the audit, from the append-only trails."""
    await service.visible_audit(session, grant, audit_id)
    return ok(await session.run_sync(lambda s: service.trail(s, audit_id)))


@router.post(
    "/{audit_id}/steps/{position}/control-points/{index}/disputes",
    status_code=201,
    response_model=Envelope[DisputeOut],
    summary="Dispute a control point's verdict",
    responses=CONFLICT,
)
async def open_dispute(  # noqa: PLR0917 - FastAPI path parameters and dependencies
    audit_id: EntityId,
    position: PositionPath,
    index: IndexPath,
    body: DisputeIn,
    grant: ReadAudits,
    session: SessionDep,
) -> Envelope[DisputeOut]:
    """Anyone who may read the audit (an agent their own) challenges the point's verdict with a comment; a
    reviewer accepts (an override linked to the dispute) or rejects it."""
    return ok(await service.create_dispute(session, grant, audit_id, position, index=index, comment=body.comment))
