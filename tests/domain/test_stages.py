"""The stage selections: which fiches of a day the transcripts and audits assets hand on.

A summary-only fiche has no recordings yet; a failed or unknown one must wait for its details: none
of them may slip into a transcription or an audit run, nor a fiche of another day.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from domain import stages
from domain.models.fiches import Fiche, FicheFetchStatus
from domain.partitions import day_transcription, fetch_status_counts

DAY = dt.date(2025, 3, 4)


def _fiches(session: Session) -> None:
    session.add_all(
        [
            Fiche(fiche_id="F-DETAILS", sales_date=DAY, fetch_status=FicheFetchStatus.DETAILS),
            Fiche(fiche_id="F-SUMMARY", sales_date=DAY, fetch_status=FicheFetchStatus.SUMMARY),
            Fiche(fiche_id="F-FAILED", sales_date=DAY, fetch_status=FicheFetchStatus.FAILED),
            Fiche(fiche_id="F-GONE", sales_date=DAY, fetch_status=FicheFetchStatus.NOT_FOUND),
            Fiche(fiche_id="F-ALSO", sales_date=DAY, fetch_status=FicheFetchStatus.DETAILS),
            Fiche(fiche_id="F-NEXT-DAY", sales_date=DAY + dt.timedelta(days=1), fetch_status=FicheFetchStatus.DETAILS),
        ]
    )
    session.flush()


def test_only_fiches_with_details_are_ready_to_transcribe(db_session: Session) -> None:
    _fiches(db_session)
    assert stages.fiche_ids(db_session, stages.ready_to_transcribe(DAY)) == ["F-ALSO", "F-DETAILS"]


def test_only_fiches_with_details_are_ready_to_audit(db_session: Session) -> None:
    _fiches(db_session)
    assert stages.fiche_ids(db_session, stages.ready_to_audit(DAY)) == ["F-ALSO", "F-DETAILS"]


def test_the_details_stage_takes_every_fiche_the_day_listed(db_session: Session) -> None:
    _fiches(db_session)
    assert stages.fiche_ids(db_session, stages.listed_on(DAY)) == [
        "F-ALSO",
        "F-DETAILS",
        "F-FAILED",
        "F-GONE",
        "F-SUMMARY",
    ]


def test_the_day_state_counts_the_same_fiches(db_session: Session) -> None:
    _fiches(db_session)
    assert day_transcription(db_session, DAY).fiches == 2


def test_the_details_check_counts_the_day_or_every_day(db_session: Session) -> None:
    _fiches(db_session)
    assert fetch_status_counts(db_session, DAY) == {"details": 2, "summary": 1, "failed": 1, "not_found": 1}
    assert fetch_status_counts(db_session, None)["details"] == 3
