"""`/api/audits`: read audits (lists, groupings, detail, by fiche) and edit their metadata.

Reads need `audits.read`, edits `audits.write`; both are scoped by that grant through the audit's
fiche (GROUP: its CRM group, SELF: its attribution), in SQL, and an audit or fiche outside the
scope is a 404 like a missing one. The control-point status list only needs a signed-in caller.
Static paths are declared before `/{audit_id}`; launch routes (`POST /run`, `/run-latest`,
`/batch`) join this router.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Path, Query

from api.audits import service
from api.audits.filters import MAX_INT4
from api.audits.schemas import (
    AuditDetail,
    AuditFicheGroupsQuery,
    AuditGroupedQuery,
    AuditListQuery,
    AuditListResponse,
    AuditPatch,
    AuditSummary,
    ByFicheResponse,
    ControlPointStatusOut,
    FicheGroupsResponse,
    GroupedMeta,
    GroupedResponse,
    OffsetPagination,
    StatusesOut,
)
from api.deps import SessionDep, SettingsDep
from api.fiches.reads import visible_or_404
from api.fiches.schemas import FICHE_ID_PATTERN
from api.schemas import Envelope, ok
from api.security import CanonicalPathInt, CurrentPrincipal, EntityId, Grant, require
from api.sql_json import JSONText, array_text, object_text
from callaudit.settings import Settings
from domain.audits.schema import PointStatus

router = APIRouter(prefix="/audits", tags=["audits"])

ReadAudits = Annotated[Grant, Depends(require("audits", "read"))]
WriteAudits = Annotated[Grant, Depends(require("audits", "write"))]
FicheIdPath = Annotated[str, Path(pattern=FICHE_ID_PATTERN, description="CRM fiche id")]
PositionPath = Annotated[int, CanonicalPathInt, Path(ge=1, le=MAX_INT4, description="1-based step position")]
IndexPath = Annotated[int, CanonicalPathInt, Path(ge=1, le=MAX_INT4, description="1-based control point index")]


def _tz(settings: Settings) -> ZoneInfo:
    return ZoneInfo(settings.sales_timezone)


@router.get("", response_model=AuditListResponse, summary="Audits, filtered, sorted and paginated")
async def list_audits(
    grant: ReadAudits, session: SessionDep, settings: SettingsDep, query: Annotated[AuditListQuery, Query()]
) -> JSONText:
    """Latest audit per (fiche, scorecard) by default (`latest_only=false` for every attempt);
    soft-deleted audits only with `include_deleted=true`."""
    data, total = await service.list_audits(session, grant, query, _tz(settings))
    pagination = OffsetPagination.of(total, query).model_dump_json()
    return JSONText(object_text([("success", "true"), ("data", array_text(data)), ("pagination", pagination)]))


@router.get("/grouped-by-fiches", response_model=FicheGroupsResponse, summary="Audits grouped per fiche")
async def grouped_by_fiches(
    grant: ReadAudits, session: SessionDep, settings: SettingsDep, query: Annotated[AuditFicheGroupsQuery, Query()]
) -> FicheGroupsResponse:
    """Paginated over fiches, newest matching audit first; each with its matching audits."""
    data, total = await service.audits_by_fiche_groups(session, grant, query, _tz(settings))
    return FicheGroupsResponse(data=data, pagination=OffsetPagination.of(total, query))


@router.get("/grouped", response_model=GroupedResponse, summary="Audit counts and scores per group (dashboards)")
async def grouped(
    grant: ReadAudits, session: SessionDep, settings: SettingsDep, query: Annotated[AuditGroupedQuery, Query()]
) -> GroupedResponse:
    """Computed by the database over every matching audit (no row cap). `created_day` and
    `score_bucket` groups come in key order, the others largest first. Score buckets are
    `low-high` with `high` exclusive, except that the last bucket includes 100."""
    data, total = await service.grouped(session, grant, query, _tz(settings))
    return GroupedResponse(
        data=data,
        pagination=OffsetPagination.of(total, query),
        meta=GroupedMeta(group_by=query.group_by, bucket_size=query.bucket_size),
    )


@router.get("/control-points/statuses", response_model=Envelope[StatusesOut], summary="Control point statuses")
async def control_point_statuses(principal: CurrentPrincipal) -> Envelope[StatusesOut]:
    """The statuses a control point can have (`PRESENT`, `ABSENT`, `PARTIEL`, `NON_APPLICABLE`) with their meaning."""
    return ok(StatusesOut(statuses=[status.value for status in PointStatus]))


@router.get("/by-fiche/{fiche_id}", response_model=ByFicheResponse, summary="Latest audits of a fiche")
async def audits_of_fiche(fiche_id: FicheIdPath, grant: ReadAudits, session: SessionDep) -> ByFicheResponse:
    """One per scorecard (the latest, not deleted), newest first, with their steps; 404 when the
    fiche is unknown or outside the caller's scope."""
    await visible_or_404(session, grant, fiche_id)
    data = await service.audits_of_fiche(session, grant, fiche_id)
    return ByFicheResponse(data=data, count=len(data))


@router.get("/{audit_id}", response_model=Envelope[AuditDetail], summary="An audit with steps, points and citations")
async def audit_detail(audit_id: EntityId, grant: ReadAudits, session: SessionDep) -> Envelope[AuditDetail]:
    """The audit with its steps (positions 1..N), control points (indices 1..N within a step), citations located in
    the transcript, gating statistics, tokens and cost. 404 when missing or out of the caller's scope."""
    return ok(await service.audit_detail(session, grant, audit_id))


@router.get(
    "/{audit_id}/steps/{position}/control-points/{index}",
    response_model=Envelope[ControlPointStatusOut],
    summary="Current status of one control point",
)
async def control_point(
    audit_id: EntityId, position: PositionPath, index: IndexPath, grant: ReadAudits, session: SessionDep
) -> Envelope[ControlPointStatusOut]:
    """One control point of one step, addressed by the step's 1-based `position` and the point's 1-based `index`
    within it: its status, comment and citations."""
    return ok(await service.control_point(session, grant, audit_id, position, index))


@router.patch(
    "/{audit_id}",
    response_model=Envelope[AuditSummary],
    summary="Edit an audit's metadata; soft delete or restore it",
    responses={409: {"description": "Deleting an audit still running, or a concurrent change"}},
)
async def update_audit(
    audit_id: EntityId, body: AuditPatch, grant: WriteAudits, session: SessionDep
) -> Envelope[AuditSummary]:
    """`deleted=true` soft-deletes (the audit leaves lists and `is_latest` moves to the newest
    completed, not deleted audit of the same fiche and scorecard); `deleted=false` restores and
    recomputes `is_latest`. Publishes no event."""
    return ok(await service.update_audit(session, grant, audit_id, body, dt.datetime.now(dt.UTC)))


@router.delete(
    "/{audit_id}",
    response_model=Envelope[AuditSummary],
    summary="Soft-delete an audit (restore with PATCH deleted=false)",
    responses={409: {"description": "The audit is still running"}},
)
async def delete_audit(audit_id: EntityId, grant: WriteAudits, session: SessionDep) -> Envelope[AuditSummary]:
    """Soft delete: the audit is hidden from lists and loses `is_latest` to the newest completed audit of the same
    fiche and scorecard. 409 while it is running. Restore with `PATCH {deleted: false}`."""
    patch = AuditPatch(deleted=True)
    return ok(await service.update_audit(session, grant, audit_id, patch, dt.datetime.now(dt.UTC)))
