"""`/api/analytics`: the analytics facts for analysts without database access.

`GET /audit-facts` needs `audits.read` and is scoped like the audits (GROUP: the fiches of the caller's
teams' CRM groups, SELF: the fiches attributed to them), in SQL; it streams rows of
`analytics.audit_facts`, which the `audit_facts` asset builds per sales day.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from api.analytics import service
from api.analytics.schemas import EXPORT_RESPONSE, ExportFormat
from api.chat.service import Sessions
from api.deps import StateDep
from api.schemas import IsoDay
from api.security import Grant, require

router = APIRouter(prefix="/analytics", tags=["analytics"])

ReadAudits = Annotated[Grant, Depends(require("audits", "read"))]


def get_export_sessions(state: StateDep) -> Sessions:
    """The sessions the stream reads with once the request's own session is gone (tests override it)."""
    return state.sessionmaker


@router.get(
    "/audit-facts",
    response_class=StreamingResponse,
    responses=EXPORT_RESPONSE,
    summary="Audit facts of a sales-day range, as Parquet or CSV",
)
async def audit_facts(
    grant: ReadAudits,
    sessions: Annotated[Sessions, Depends(get_export_sessions)],
    first: Annotated[IsoDay, Query(alias="from", description="First sales day (YYYY-MM-DD)")],
    last: Annotated[IsoDay, Query(alias="to", description="Last sales day, included (at most 366 days after `from`)")],
    fmt: Annotated[ExportFormat, Query(alias="format", description="`parquet` (default) or `csv`")] = (
        ExportFormat.PARQUET
    ),
) -> StreamingResponse:
    """One row per latest audit x control point of the days, in the caller's scope only, ordered by day,
    audit, step and point: the columns and types of the `audit_facts` Parquet files (README, "Analytics
    for data teams"). Streamed as it is read; rows appear once the asset has built their day."""
    service.check_range(first, last)
    filename = f"audit_facts_{first}_{last}.{fmt.value}"
    return StreamingResponse(
        service.export_facts(sessions, grant, first, last, fmt),
        media_type=fmt.media_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
