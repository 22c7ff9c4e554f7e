"""Which fiches of a sales day each stage works on: the named selections the assets (and the
day's state in `domain.partitions`) share, so "ready" is decided in one place.

Only fiches with their details are ready for transcription and audit: a summary-only fiche has no
recordings yet, and one whose fetch failed or that the CRM does not know must not be sent on. The
audit engine further refuses, fiche by fiche, any whose transcription is not complete.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from domain.models.fiches import Fiche, FicheFetchStatus
from domain.models.transcripts import FicheTranscription, FicheTranscriptionStatus


def listed_on(day: dt.date) -> Select[str]:
    """Every fiche the day's sales search listed: what the details stage fetches (cache-first)."""
    return select(Fiche.fiche_id).where(Fiche.sales_date == day).order_by(Fiche.fiche_id)


def ready_to_transcribe(day: dt.date) -> Select[str]:
    """Fiches of the day whose details are fetched."""
    return listed_on(day).where(Fiche.fetch_status == FicheFetchStatus.DETAILS)


def ready_to_audit(day: dt.date) -> Select[str]:
    """Fiches of the day an audit run hands to the engine: those with details (the engine then
    refuses, per fiche, any whose transcription is not complete)."""
    return ready_to_transcribe(day)


def transcribed(day: dt.date) -> Select[str]:
    """Fiches of the day with details whose transcription is complete: what a day's audit run takes
    as they arrive (the others would only be refused)."""
    complete = select(FicheTranscription.fiche_id).where(FicheTranscription.status == FicheTranscriptionStatus.COMPLETE)
    return ready_to_audit(day).where(Fiche.fiche_id.in_(complete))


def fiche_ids(session: Session, selection: Select[str]) -> list[str]:
    return list(session.scalars(selection))
