"""What the pipeline should do next, read from the application's own tables.

The automation sensors ask these questions on every tick, so the chain details → transcripts →
automatic audits follows the data whichever way a stage ran (the sales schedule, a backfill from
the Dagster UI, an ad-hoc job launched by the API): every one of them writes the same rows.

Only days that are partitions count (`first_day` .. `last_day`, today in the sales time zone): a
fiche dated in the future by the CRM must not make a sensor request an unknown partition.
Both questions look at rows changed since a watermark (`since`): automation follows what arrives
once it is on, and history is a backfill. The sensors keep the watermark a grace period behind
the newest row seen, so a transaction that committed late is still found; what has already been
done (a transcription newer than the details, an audit newer than the transcript) is filtered
out here, so looking twice at a row never asks for the work twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, exists, func, or_, select
from sqlalchemy.orm import Session

from domain.models.audits import Audit
from domain.models.fiches import Fiche, FicheFetchStatus, Recording
from domain.models.scorecards import Scorecard
from domain.models.transcripts import FicheTranscription, FicheTranscriptionStatus, Transcript


@dataclass(frozen=True)
class DayWork:
    """Fiches of one sales day waiting for a stage; `newest` (their latest change) keys the run request."""

    day: dt.date
    fiches: int
    newest: dt.datetime


@dataclass(frozen=True)
class AuditWork:
    day: dt.date
    scorecard_id: int
    fiches: int
    newest: dt.datetime


def days_to_transcribe(session: Session, *, since: dt.datetime, first_day: dt.date, last_day: dt.date) -> list[DayWork]:
    """Days with fiches whose details arrived after `since` and that no transcription run has seen
    since (never transcribed, or details fetched again after the last run, recordings maybe new)."""
    statement = (
        select(Fiche.sales_date, func.count(Fiche.id), func.max(Fiche.fetched_at))
        .outerjoin(FicheTranscription, FicheTranscription.fiche_id == Fiche.fiche_id)
        .where(
            Fiche.fetch_status == FicheFetchStatus.DETAILS,
            Fiche.fetched_at > since,
            Fiche.sales_date.between(first_day, last_day),
            or_(FicheTranscription.fiche_id.is_(None), FicheTranscription.updated_at < Fiche.fetched_at),
        )
        .group_by(Fiche.sales_date)
        .order_by(Fiche.sales_date)
    )
    # The WHERE clause excludes NULL days and fetch times; the checks only narrow the types.
    return [
        DayWork(day, int(n), newest)
        for day, n, newest in session.execute(statement)
        if day is not None and newest is not None
    ]


def automatic_scorecards(session: Session) -> list[int]:
    """Active scorecards flagged to run automatically that have a version to audit with."""
    return list(
        session.scalars(
            select(Scorecard.id)
            .where(Scorecard.is_active, Scorecard.run_automatically, Scorecard.current_version_id.is_not(None))
            .order_by(Scorecard.id)
        )
    )


def audits_to_run(
    session: Session, scorecard_ids: Sequence[int], *, since: dt.datetime, first_day: dt.date, last_day: dt.date
) -> list[AuditWork]:
    """(day, scorecard) pairs with fiches fully transcribed after `since` and not audited with that
    scorecard since their newest transcript was written (in flight, done or failed alike)."""
    if not scorecard_ids:
        return []
    newest_transcript = (
        select(func.max(Transcript.transcribed_at))
        .join(Recording, Recording.id == Transcript.recording_id)
        .where(Recording.fiche_id == FicheTranscription.fiche_id)
        .scalar_subquery()
    )
    # A fiche without recordings has no transcript: it is ready since its status row was first written.
    ready_at = func.coalesce(newest_transcript, FicheTranscription.created_at)
    scorecard = Scorecard.id
    audited = exists().where(
        Audit.fiche_id == FicheTranscription.fiche_id,
        Audit.scorecard_id == scorecard,
        Audit.deleted_at.is_(None),
        Audit.created_at >= ready_at,
    )
    statement = (
        select(Fiche.sales_date, scorecard, func.count(Fiche.id), func.max(FicheTranscription.updated_at))
        .select_from(FicheTranscription)
        .join(Fiche, Fiche.fiche_id == FicheTranscription.fiche_id)
        .join(Scorecard, Scorecard.id.in_(list(scorecard_ids)))
        .where(
            and_(
                FicheTranscription.status == FicheTranscriptionStatus.COMPLETE,
                FicheTranscription.updated_at > since,
                Fiche.fetch_status == FicheFetchStatus.DETAILS,
                Fiche.sales_date.between(first_day, last_day),
            ),
            ~audited,
        )
        .group_by(Fiche.sales_date, scorecard)
        .order_by(Fiche.sales_date, scorecard)
    )
    return [AuditWork(day, int(sid), int(n), newest) for day, sid, n, newest in session.execute(statement) if day]


def database_now(session: Session) -> dt.datetime:
    """The database's clock: the sensors' watermark is compared with timestamps it wrote."""
    now: dt.datetime = session.execute(select(func.now())).scalar_one()
    return now
