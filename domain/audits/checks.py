"""Re-checking stored citations against the stored transcript (the `audits` asset check)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.audits.gating import MAX_CONTINUATION_CHUNKS
from domain.audits.matching import locate_quote, tokenise
from domain.models.audits import Audit, AuditCitation, AuditControlPoint, AuditStep
from domain.models.fiches import Fiche
from domain.models.transcripts import TranscriptChunk


def unlocated_citations(session: Session, *, day: dt.date, scorecard_id: int) -> tuple[int, list[dict[str, str]]]:
    """How many citations the latest audits of a (sales day, scorecard) partition hold, and those whose
    quote is not in their chunk any more (with the chunks gating lets a quote run on into,
    `MAX_CONTINUATION_CHUNKS`)."""
    rows = session.execute(
        select(AuditCitation, Audit.fiche_id)
        .join(AuditControlPoint, AuditControlPoint.id == AuditCitation.control_point_id)
        .join(AuditStep, AuditStep.id == AuditControlPoint.step_id)
        .join(Audit, Audit.id == AuditStep.audit_id)
        .join(Fiche, Fiche.fiche_id == Audit.fiche_id)
        .where(
            Fiche.sales_date == day,
            Audit.scorecard_id == scorecard_id,
            Audit.is_latest,
            Audit.deleted_at.is_(None),
        )
    ).all()
    texts = {
        (fiche_id, chunk_id): text
        for fiche_id, chunk_id, text in session.execute(
            select(TranscriptChunk.fiche_id, TranscriptChunk.chunk_id, TranscriptChunk.text).where(
                TranscriptChunk.fiche_id.in_({fiche for _, fiche in rows})
            )
        )
    }
    bad: list[dict[str, str]] = []
    for citation, fiche_id in rows:
        text = texts.get((fiche_id, citation.chunk_id))
        following = (
            texts.get((fiche_id, f"{citation.call_id}:{citation.chunk_index + n}"), "")
            for n in range(1, MAX_CONTINUATION_CHUNKS + 1)
        )
        haystack = None if text is None else " ".join([text, *following])
        if haystack is None or locate_quote(tokenise(citation.texte), tokenise(haystack)) is None:
            bad.append({"fiche_id": fiche_id, "chunk_id": citation.chunk_id, "quote": citation.texte[:200]})
    return len(rows), bad
