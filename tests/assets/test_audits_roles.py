"""Speaker roles computed when transcripts are stored, read back into timelines (the simulator's
calls: `speaker_0` is always the agent there), and inferred for transcripts stored before roles."""

from __future__ import annotations

from typing import Any

import dagster as dg
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, selectinload

from assets.audits import audits
from domain.audits.speakers import speaker_allowed
from domain.audits.timeline_store import load_timeline
from domain.models import (
    AuditCitation,
    AuditControlPoint,
    AuditStep,
    FicheInformation,
    Transcript,
    TranscriptChunk,
)
from domain.scorecards.service import current_spec
from domain.transcripts.roles import as_role
from tests.fixtures.audit_day import DAY


def test_transcription_stores_each_speakers_role(transcribed_day: list[str], sync_engine: Engine) -> None:
    with Session(sync_engine) as session:
        transcripts = session.scalars(select(Transcript).options(selectinload(Transcript.chunks))).all()
        rows = session.execute(select(FicheInformation.fiche_id, FicheInformation.attribution_user_nom)).all()
    advisors = dict(rows)

    assert transcripts
    named = 0
    for transcript in transcripts:
        stored = transcript.speaker_roles
        assert stored is not None
        assert set(stored["roles"]) == {c.speaker for c in transcript.chunks}
        # Never the wrong way round; a short call without a decisive cue may stay unknown.
        assert stored["roles"].get("speaker_0", "agent") in {"agent", "unknown"}
        assert stored["roles"].get("speaker_1", "client") in {"client", "unknown"}
        assert all(c.role == stored["roles"][c.speaker] for c in transcript.chunks)
        named += any("advisor's name" in cue for cue in stored["cues"])
        assert advisors.get(transcript.fiche_id)  # the CRM's advisor is there to be matched
    assert named  # the fiche's advisor name (CRM) was recognised in some calls
    decided = [t for t in transcripts if t.speaker_roles and t.speaker_roles["confidence"] > 0]
    assert len(decided) >= 0.9 * len(transcripts)


def test_timelines_carry_roles_stored_or_inferred_for_older_transcripts(
    transcribed_day: list[str], sync_engine: Engine
) -> None:
    fiche_id = transcribed_day[0]
    with Session(sync_engine) as session:
        stored = load_timeline(session, fiche_id)
    with Session(sync_engine) as session, session.begin():  # as a transcript written before roles existed
        session.execute(update(Transcript).where(Transcript.fiche_id == fiche_id).values(speaker_roles=None))
        session.execute(update(TranscriptChunk).where(TranscriptChunk.fiche_id == fiche_id).values(role=None))
    with Session(sync_engine) as session:
        inferred = load_timeline(session, fiche_id)

    assert stored.recordings
    for recording in stored.recordings:
        assert recording.role_confidence is not None
        assert {c.role for c in recording.chunks if c.speaker == "speaker_0"} <= {"agent", "unknown"}
    # Inferred on the fly from the same words and CRM cues (only the firm's names are not known then).
    assert [[c.role for c in r.chunks] for r in inferred.recordings] == [
        [c.role for c in r.chunks] for r in stored.recordings
    ]
    assert any(c.role == "agent" for c in inferred.chunks())


def test_stored_citations_carry_their_role_and_respect_each_points_rule(
    instance: dg.DagsterInstance,
    audit_resources: dict[str, Any],
    transcribed_day: list[str],
    scorecard_id: int,
    sync_engine: Engine,
) -> None:
    instance.add_dynamic_partitions("scorecards", [str(scorecard_id)])
    assert dg.materialize(
        [audits],
        partition_key=dg.MultiPartitionKey({"sales_day": DAY, "scorecard": str(scorecard_id)}),
        resources=audit_resources,
        instance=instance,
    ).success

    with Session(sync_engine) as session:
        spec = current_spec(session, scorecard_id)
        rows = session.execute(
            select(AuditStep.position, AuditControlPoint.index, AuditCitation.role)
            .join(AuditControlPoint, AuditControlPoint.step_id == AuditStep.id)
            .join(AuditCitation, AuditCitation.control_point_id == AuditControlPoint.id)
        ).all()
    assert rows
    assert {role for _, _, role in rows} <= {"agent", "client", "unknown"}
    assert any(role == "agent" for _, _, role in rows)
    for position, index, role in rows:
        assert speaker_allowed(spec.step(position).speaker_rule(index - 1), as_role(role))
