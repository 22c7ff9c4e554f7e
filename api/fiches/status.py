"""Where fiches stand (details, transcription, audits), read from the tables in ONE statement.

One row per visible fiche: the fiche, its recordings joined to their transcripts (aggregated), its
not deleted audits (aggregated), its newest audit (a LATERAL join) and its last transcription run.
Whatever the batch size, a status request costs one query; fiches the caller cannot see are not
read at all (the scope clause is in the same `WHERE`). Each row's status is `FicheStatusOut`'s JSON,
written by Postgres (`api.sql_json`): decoding, validating and serialising the batch's ~40 columns a
fiche in the API took a third of its CPU there (decision 125).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Float,
    Select,
    String,
    Text,
    and_,
    any_,
    bindparam,
    case,
    cast,
    func,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from api.fiches.schemas import (
    FicheAuditStatus,
    FicheStatusOut,
    FicheTranscriptionProgress,
    LatestAuditOut,
    ScorecardName,
)
from api.security import Grant
from api.sql_json import json_object, number
from domain.models import Audit, AuditStatus, Fiche, FicheFetchStatus, FicheTranscription, Recording, Scorecard
from domain.models.transcripts import Transcript, TranscriptStatus
from domain.rbac import Scope
from domain.scoping import bound_fiche_scope_clause, scope_parameters

#: The batch's ids, one array parameter for the three places that read them: the statement's text is
#: then the same whatever the batch size (`IN` would expand to one parameter per id and place, a
#: new text per size that SQLAlchemy and psycopg render and parse again on each request).
_IDS = bindparam("fiche_ids", type_=ARRAY(String))
_FLOAT8 = Float(53)
_AUDIT_COUNTS = ("total", "completed", "pending", "running", "failed", "compliant", "non_compliant")


@functools.cache
def _statement(scope: Scope) -> Select[str, str]:
    """Built once per scope: the statement does not depend on the request, only its parameters do (the
    batch's ids and the subject's, decision 122)."""
    ids = any_(_IDS)
    transcripts = (
        select(
            Recording.fiche_id.label("fiche_id"),
            func.count(Recording.id).label("total"),
            func.count(Transcript.id).filter(Transcript.status == TranscriptStatus.COMPLETED).label("transcribed"),
            func.count(Transcript.id).filter(Transcript.status == TranscriptStatus.FAILED).label("failed"),
            func.max(Transcript.transcribed_at).label("last_transcribed_at"),
        )
        .outerjoin(Transcript, Transcript.recording_id == Recording.id)
        .where(Recording.fiche_id == ids)
        .group_by(Recording.fiche_id)
        .subquery("t")
    )
    done = Audit.status == AuditStatus.COMPLETED
    audits = (
        select(
            Audit.fiche_id.label("fiche_id"),
            func.count(Audit.id).label("total"),
            func.count(Audit.id).filter(done).label("completed"),
            func.count(Audit.id).filter(Audit.status == AuditStatus.PENDING).label("pending"),
            func.count(Audit.id).filter(Audit.status == AuditStatus.RUNNING).label("running"),
            func.count(Audit.id).filter(Audit.status == AuditStatus.FAILED).label("failed"),
            func.count(Audit.id).filter(done, Audit.is_compliant.is_(True)).label("compliant"),
            func.count(Audit.id).filter(done, Audit.is_compliant.is_(False)).label("non_compliant"),
            func.round(func.avg(Audit.score_percentage).filter(done), 2).label("average_score"),
        )
        .where(Audit.fiche_id == ids, Audit.deleted_at.is_(None))
        .group_by(Audit.fiche_id)
        .subquery("a")
    )
    latest = (
        select(
            Audit.id,
            Audit.status,
            Audit.score_percentage,
            Audit.points_earned,
            Audit.niveau,
            Audit.is_compliant,
            Audit.completed_at,
            Audit.run_id,
            Audit.scorecard_id,
            Scorecard.name.label("scorecard_name"),
        )
        .join(Scorecard, Scorecard.id == Audit.scorecard_id)
        .where(Audit.fiche_id == Fiche.fiche_id, Audit.deleted_at.is_(None))
        .order_by(Audit.created_at.desc(), Audit.id.desc())
        .limit(1)
        .lateral("latest")
    )
    total = func.coalesce(transcripts.c.total, 0)
    transcribed = func.coalesce(transcripts.c.transcribed, 0)
    failed = func.coalesce(transcripts.c.failed, 0)
    transcription = json_object(
        FicheTranscriptionProgress,
        {
            "total": total,
            "transcribed": transcribed,
            "pending": total - transcribed - failed,
            "failed": failed,
            "percentage": percentage(transcribed, total),
            "is_complete": and_(total > 0, transcribed == total),
            "last_transcribed_at": transcripts.c.last_transcribed_at,
            "status": FicheTranscription.status,
            "run_id": FicheTranscription.run_id,
        },
    )
    latest_audit = json_object(
        LatestAuditOut,
        {
            "id": latest.c.id,
            "status": latest.c.status,
            "overall_score": latest.c.points_earned,
            "score_percentage": latest.c.score_percentage,
            "niveau": latest.c.niveau,
            "is_compliant": latest.c.is_compliant,
            "completed_at": latest.c.completed_at,
            "run_id": latest.c.run_id,
            "scorecard": json_object(ScorecardName, {"id": latest.c.scorecard_id, "name": latest.c.scorecard_name}),
        },
    )
    counts = {name: func.coalesce(audits.c[name], 0) for name in _AUDIT_COUNTS}
    audit = json_object(
        FicheAuditStatus,
        {
            **counts,
            "average_score": number(audits.c.average_score),  # `round` loses the type
            "latest_audit": case((latest.c.id.is_not(None), latest_audit)),
        },
    )
    fiche = json_object(
        FicheStatusOut,
        {
            "fiche_id": Fiche.fiche_id,
            "has_data": Fiche.fetch_status == FicheFetchStatus.DETAILS,
            "fetch_status": Fiche.fetch_status,
            "fetch_error": Fiche.fetch_error,
            "fetched_at": Fiche.fetched_at,
            "expires_at": Fiche.expires_at,
            "sales_date": Fiche.sales_date,
            "recordings_count": Fiche.recordings_count,
            "transcription": transcription,
            "audit": audit,
        },
    )
    return (
        select(Fiche.fiche_id, cast(fiche, Text))
        .outerjoin(FicheTranscription, FicheTranscription.fiche_id == Fiche.fiche_id)
        .outerjoin(transcripts, transcripts.c.fiche_id == Fiche.fiche_id)
        .outerjoin(audits, audits.c.fiche_id == Fiche.fiche_id)
        .outerjoin(latest, true())
        .where(Fiche.fiche_id == ids, bound_fiche_scope_clause(scope))
    )


def percentage(part: ColumnElement[int], whole: ColumnElement[int]) -> ColumnElement[float]:
    """Python's `round(100.0 * part / whole, 1)` (0 when `whole` is 0): float8's `round` breaks ties
    to even as Python's does; the two agree for every `whole` under 2,000 (a fiche's recordings)."""
    tenths = func.round(cast(part, _FLOAT8) * 1000 / cast(whole, _FLOAT8))
    return case((whole > 0, tenths / cast(10, _FLOAT8)), else_=cast(0, _FLOAT8))


def empty_status(fiche_id: str) -> str:
    """The status of a fiche that is not stored or not visible: the model's defaults."""
    return FicheStatusOut(fiche_id=fiche_id).model_dump_json()


async def statuses(session: AsyncSession, grant: Grant, fiche_ids: Sequence[str]) -> dict[str, str]:
    """The status of each visible fiche among `fiche_ids`, as `FicheStatusOut`'s JSON written by
    Postgres (`api.sql_json`; missing and invisible fiches are absent)."""
    if not fiche_ids:
        return {}
    parameters = {"fiche_ids": list(fiche_ids), **scope_parameters(grant)}
    connection = await session.connection()  # Core rows: the ORM's result machinery adds nothing to columns
    rows = await connection.execute(_statement(grant.scope), parameters)
    return dict(rows.all())
