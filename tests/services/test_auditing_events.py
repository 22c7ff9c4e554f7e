"""Stages announce their outcomes through the outbox, in the transaction of the outcome itself."""

from __future__ import annotations

import asyncio
from typing import Any

import dagster as dg
import redis
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from domain.audits.gating import GatingRules
from domain.audits.heuristic import HeuristicAuditor
from domain.audits.store import Trigger
from domain.models import Audit, Fiche, FicheTranscription, OutboxEvent, User, UserStatus
from orchestration.jobs import audit_fiches_job
from resources.database import sync_session_factory
from runs.contract import AuditFiches
from services.auditing import AuditEngine, Outcome
from tests.fixtures.audit_runs import materialize_audits, scorecard_spec
from tests.fixtures.realtime_catalogue import catalogued


def _events(sync_engine: Engine) -> list[OutboxEvent]:
    with Session(sync_engine) as session:
        return list(session.scalars(select(OutboxEvent).order_by(OutboxEvent.id)))


def test_a_day_announces_each_transcription_and_each_completed_audit(
    instance: dg.DagsterInstance,
    audit_resources: dict[str, Any],
    transcribed_day: list[str],
    scorecard_id: int,
    sync_engine: Engine,
) -> None:
    transcribed = [e for e in _events(sync_engine) if e.event_type.startswith("transcription.")]
    assert sorted(e.fiche_id or "" for e in transcribed) == sorted(transcribed_day)
    assert {e.event_type for e in transcribed} == {"transcription.completed"}
    materialize_audits(instance, audit_resources, scorecard_id)
    completed = [e for e in _events(sync_engine) if e.event_type == "audit.completed"]
    with Session(sync_engine) as session:
        audits = {a.fiche_id: a for a in session.scalars(select(Audit).where(Audit.status == "completed"))}
    assert sorted(e.fiche_id or "" for e in completed) == sorted(audits)
    for event in completed:
        audit = audits[event.fiche_id or ""]
        assert event.payload["audit_id"] == audit.id
        assert event.payload["niveau"] == audit.niveau
        assert event.payload["scorecard_id"] == scorecard_id


def test_a_failed_audit_is_announced_once(scorecard_id: int, sync_engine: Engine) -> None:
    with Session(sync_engine) as session, session.begin():
        session.add(Fiche(fiche_id="F-QUIET", fetch_status="details"))
        session.flush()
        session.add(FicheTranscription(fiche_id="F-QUIET", status="complete"))
    engine = AuditEngine(
        HeuristicAuditor(), sync_session_factory(sync_engine), None, rules=GatingRules(), trigger=Trigger(source="test")
    )
    result = asyncio.run(engine.audit_fiche("F-QUIET", scorecard_spec(sync_engine, scorecard_id)))
    assert result.outcome == Outcome.FAILED
    [event] = _events(sync_engine)
    assert (event.event_type, event.fiche_id, event.payload["audit_id"]) == ("audit.failed", "F-QUIET", result.audit_id)
    assert event.payload["failed_phase"] == "timeline"
    # failing it again (a watchdog after the fact) changes nothing and announces nothing
    asyncio.run(engine._fail("F-QUIET", result.audit_id or 0, "late", "analysis"))
    assert len(_events(sync_engine)) == 1


def test_a_batch_run_announces_its_completion(
    audit_resources: dict[str, Any],
    transcribed_day: list[str],
    scorecard_id: int,
    sync_engine: Engine,
    redis_client: redis.Redis,
) -> None:
    with Session(sync_engine) as session, session.begin():
        requester = User(email="batch-requester@example.test", status=UserStatus.ACTIVE)
        session.add(requester)
        session.flush()
        requester_id = requester.id
    fiches = transcribed_day[:2]
    request = AuditFiches(fiche_ids=fiches, scorecard_id=scorecard_id, trigger_source="batch", user_id=requester_id)
    result = audit_fiches_job.execute_in_process(run_config=request.run_config(), resources=audit_resources)
    assert result.success
    [batch] = [e for e in _events(sync_engine) if e.event_type == "batch.completed"]
    assert batch.job_id == result.run_id
    assert (batch.payload["total"], batch.payload["completed"], batch.payload["failed"]) == (2, 2, 0)
    assert batch.payload["operation_type"] == "audit"
    # The requester's front end hears of it wherever they are, once.
    [(event, notice)] = catalogued(redis_client, f"user:{requester_id}")
    assert (event, notice["type"], notice["batch_id"]) == ("notification", "success", result.run_id)
    assert notice["description"] == "2 fiche(s) auditée(s) sur 2, 0 en échec."
