"""Where fiches stand (details, transcription, audits), read from the tables in ONE statement.

One row per visible fiche: the fiche, its recordings joined to their transcripts (aggregated), its
not deleted audits (aggregated), its newest audit (a LATERAL join) and its last transcription run.
Whatever the batch size, a status request costs one query; fiches the caller cannot see are not
read at all (the scope clause is in the same `WHERE`).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy import ARRAY, Select, String, any_, bindparam, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from api.fiches.schemas import FicheStatusOut
from api.security import Grant
from domain.models import Audit, AuditStatus, Fiche, FicheFetchStatus, FicheTranscription, Recording, Scorecard
from domain.models.transcripts import Transcript, TranscriptStatus
from domain.rbac import Scope
from domain.scoping import bound_fiche_scope_clause, scope_parameters

#: The batch's ids, one array parameter for the three places that read them: the statement's text is
#: then the same whatever the batch size (`IN` would expand to one parameter per id and place, a
#: new text per size that SQLAlchemy and psycopg render and parse again on each request).
_IDS = bindparam("fiche_ids", type_=ARRAY(String))


@functools.cache
def _statement(scope: Scope) -> Select[Any]:
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
    return (
        select(
            Fiche.fiche_id,
            Fiche.fetch_status,
            Fiche.fetch_error,
            Fiche.fetched_at,
            Fiche.expires_at,
            Fiche.sales_date,
            Fiche.recordings_count,
            FicheTranscription.status.label("transcription_status"),
            FicheTranscription.run_id.label("transcription_run_id"),
            *(transcripts.c[name].label(f"t_{name}") for name in ("total", "transcribed", "failed")),
            transcripts.c.last_transcribed_at,
            *(c.label(f"a_{c.name}") for c in audits.c if c.name != "fiche_id"),
            *(c.label(f"l_{c.name}") for c in latest.c),
        )
        .outerjoin(FicheTranscription, FicheTranscription.fiche_id == Fiche.fiche_id)
        .outerjoin(transcripts, transcripts.c.fiche_id == Fiche.fiche_id)
        .outerjoin(audits, audits.c.fiche_id == Fiche.fiche_id)
        .outerjoin(latest, true())
        .where(Fiche.fiche_id == ids, bound_fiche_scope_clause(scope))
    )


def status_of(row: Sequence[Any]) -> dict[str, Any]:
    """A fiche's status as `FicheStatusOut`'s fields (plain values, validated with the batch).

    The row is unpacked by position in `_statement()`'s column order: one tuple unpack, where ~40 reads by
    name cost 1.4 ms a batch of 100, the batch's largest Python cost (decision 116)."""
    (
        fiche_id, fetch_status, fetch_error, fetched_at, expires_at, sales_date, recordings_count,
        transcription_status, transcription_run_id, t_total, t_transcribed, t_failed, last_transcribed_at,
        a_total, a_completed, a_pending, a_running, a_failed, a_compliant, a_non_compliant,
        a_average_score, l_id, l_status, l_score_percentage, l_points_earned, l_niveau, l_is_compliant,
        l_completed_at, l_run_id, l_scorecard_id, l_scorecard_name,
    ) = row  # fmt: skip
    total = t_total or 0
    transcribed = t_transcribed or 0
    failed = t_failed or 0
    latest = None
    if l_id is not None:
        latest = {
            "id": l_id,
            "status": l_status,
            "overall_score": l_points_earned,
            "score_percentage": None if l_score_percentage is None else float(l_score_percentage),
            "niveau": l_niveau,
            "is_compliant": l_is_compliant,
            "completed_at": l_completed_at,
            "run_id": l_run_id,
            "scorecard": {"id": l_scorecard_id, "name": l_scorecard_name},
        }
    return {
        "fiche_id": fiche_id,
        "has_data": fetch_status == FicheFetchStatus.DETAILS,
        "fetch_status": fetch_status,
        "fetch_error": fetch_error,
        "fetched_at": fetched_at,
        "expires_at": expires_at,
        "sales_date": sales_date,
        "recordings_count": recordings_count,
        "transcription": {
            "total": total,
            "transcribed": transcribed,
            "pending": total - transcribed - failed,
            "failed": failed,
            "percentage": round(100.0 * transcribed / total, 1) if total else 0.0,
            "is_complete": total > 0 and transcribed == total,
            "last_transcribed_at": last_transcribed_at,
            "status": transcription_status,
            "run_id": transcription_run_id,
        },
        "audit": {
            "total": a_total or 0,
            "completed": a_completed or 0,
            "pending": a_pending or 0,
            "running": a_running or 0,
            "failed": a_failed or 0,
            "compliant": a_compliant or 0,
            "non_compliant": a_non_compliant or 0,
            "average_score": None if a_average_score is None else float(a_average_score),
            "latest_audit": latest,
        },
    }


#: A batch's statuses validated in one call: pydantic-core builds the 100 x 4 models of a batch of 100
#: without a Python `__init__` per model (decision 110).
_BY_ID = TypeAdapter(dict[str, FicheStatusOut])


async def statuses(session: AsyncSession, grant: Grant, fiche_ids: Sequence[str]) -> dict[str, FicheStatusOut]:
    """The status of each visible fiche among `fiche_ids` (missing and invisible ones are absent)."""
    if not fiche_ids:
        return {}
    parameters = {"fiche_ids": list(fiche_ids), **scope_parameters(grant)}
    connection = await session.connection()  # Core rows: the ORM's result machinery adds nothing to columns
    rows = (await connection.execute(_statement(grant.scope), parameters)).all()
    return _BY_ID.validate_python({row[0]: status_of(row) for row in rows})
