"""The audit engine on a transcribed day: the OpenAI path end to end, failures, races, the watchdog."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import re
from typing import Any, cast

import dagster as dg
import pytest
import redis
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session, selectinload

from domain.audits.auditor import StepAnalysis, TranscriptMode
from domain.audits.checks import unlocated_citations
from domain.audits.gating import GatingRules
from domain.audits.heuristic import HeuristicAuditor
from domain.audits.scorecard import ScorecardSpec, StepSpec
from domain.audits.scoring import compute_compliance
from domain.audits.store import (
    AuditInputs,
    Trigger,
    complete_audit,
    fail_stuck_audits,
    queue_audits,
    start_audit,
)
from domain.audits.timeline import Timeline, timeline_tokens
from domain.audits.timeline_store import load_timeline
from domain.models import Audit, AuditCitation, AuditControlPoint, AuditStep, Fiche, FicheTranscription
from domain.models.transcripts import TranscriptChunk
from orchestration.jobs import audit_fiches_job
from orchestration.sensors.maintenance import audit_watchdog
from resources.database import DatabaseResource, sync_session_factory
from resources.llm.resource import LlmResource
from resources.redis import SemaphoreUnavailable
from resources.redis.client import create_async_redis
from resources.redis.resource import RedisResource
from services.auditing import STALE_HEARTBEAT, AuditEngine, FicheAudit, Outcome
from tests.fixtures.audit_day import DAY
from tests.fixtures.audit_runs import FailingStep, audit_engine, materialize_audits, scorecard_spec
from tests.fixtures.realtime_catalogue import catalogued
from tests.fixtures.standins.llm import OpenAiStandIn, Reply, control_points, step_answer

_CHUNK = re.compile(r"Enregistrement #1\n.*?─── Chunk 1 ───\n.*?\n.*?\n(speaker_\w+|\w+): (.+?)\n", re.S)
INVENTED = "le client confirme avoir reçu toutes les conditions générales par courrier"
PARTITION_DAY = dt.date.fromisoformat(DAY)


def _cite_first_chunk(body: dict[str, Any]) -> Reply:
    """Point 1 cites the first chunk's opening words (real); point 2 claims an invented quote."""
    prompt = "\n".join(m.get("content") or "" for m in body["messages"] if m["role"] == "user")
    match = _CHUNK.search(prompt)
    assert match, "the timeline is in the prompt"
    speaker, text = match.groups()
    real = {
        "texte": " ".join(text.split()[:8]),
        "minutage": "00:00",
        "minutage_secondes": 0.0,
        "speaker": speaker,
        "recording_index": 0,
        "chunk_index": 0,
        "recording_date": "N/A",
        "recording_time": "N/A",
        "recording_url": "N/A",
    }
    answer = step_answer(control_points(body), score=9, citations=[real])
    if len(answer["points_controle"]) > 1:
        answer["points_controle"][1].update(statut="PRESENT", citations=[{**real, "texte": INVENTED}])
    return Reply(content=json.dumps(answer, ensure_ascii=False))


def test_the_openai_path_audits_a_day_with_gated_citations_usage_and_cost(
    instance: dg.DagsterInstance,
    audit_resources: dict[str, Any],
    transcribed_day: list[str],
    scorecard_id: int,
    sync_engine: Engine,
) -> None:
    with OpenAiStandIn(model="gpt-test") as server:
        server.responder = _cite_first_chunk
        llm = LlmResource(
            kind="openai",
            api_key=server.key,
            base_url=server.base_url,
            model="gpt-test",
            max_attempts=2,
            prices_json=json.dumps({"gpt-test": {"input": 2.0, "cached_input": 0.5, "output": 8.0}}),
        )
        figures = materialize_audits(instance, {**audit_resources, "llm": llm}, scorecard_id)
    assert server.violations == []
    assert figures["audited"] == len(transcribed_day)
    assert figures["failed"] == 0
    assert figures["citations_removed_by_gating"] >= len(transcribed_day)  # one invented quote per multi-point step
    assert figures["cached_input_tokens"] > 0  # the steps after the first found the shared prefix cached
    assert figures["cost_usd"] > 0
    with Session(sync_engine) as session:
        audit = session.scalars(
            select(Audit).options(
                selectinload(Audit.steps)
                .selectinload(AuditStep.control_points)
                .selectinload(AuditControlPoint.citations)
            )
        ).first()
        assert audit is not None
        assert (audit.auditor, audit.model, audit.transcript_mode) == ("openai", "gpt-test", "prompt")
        assert audit.input_tokens > audit.cached_input_tokens > 0
        assert audit.gating["citations_removed"] >= 1
        assert audit.gating["removed_by_reason"]
        step = next(s for s in audit.steps if len(s.control_points) > 1)
        first, second = step.control_points[0], step.control_points[1]
        assert first.statut == "PRESENT"
        [citation] = first.citations
        assert citation.end_seconds >= citation.start_seconds >= 0
        assert citation.chunk_id.endswith(":0")
        assert (second.statut, second.downgraded, second.citations) == ("ABSENT", True, [])
        assert step.score <= step.weight


def test_a_step_that_raises_gets_the_fallback_and_the_audit_still_completes(
    transcribed_day: list[str], scorecard_id: int, sync_engine: Engine
) -> None:
    spec = scorecard_spec(sync_engine, scorecard_id)
    result = asyncio.run(audit_engine(sync_engine, FailingStep(broken=2)).audit_fiche(transcribed_day[0], spec))
    assert result.outcome == Outcome.COMPLETED
    with Session(sync_engine) as session:
        audit = session.get_one(Audit, result.audit_id)
        broken = next(s for s in audit.steps if s.position == 2)
        assert (audit.failed_steps, audit.successful_steps) == (1, len(spec.steps) - 1)
        assert (broken.failed, broken.score, broken.traite) == (True, 0, False)
        assert "analysis exploded" in (broken.error or "")
        assert {p.statut for p in broken.control_points} == {"ABSENT"}


def test_two_engines_racing_on_one_fiche_make_one_audit(
    transcribed_day: list[str], scorecard_id: int, sync_engine: Engine
) -> None:
    spec = scorecard_spec(sync_engine, scorecard_id)
    fiche = transcribed_day[0]

    async def race() -> list[FicheAudit]:
        engines = [audit_engine(sync_engine, FailingStep(broken=0)) for _ in range(2)]
        return list(await asyncio.gather(*(e.audit_fiche(fiche, spec, force=True) for e in engines)))

    outcomes = sorted(r.outcome for r in asyncio.run(race()))
    assert outcomes == [Outcome.COMPLETED, Outcome.IN_FLIGHT]
    with Session(sync_engine) as session:
        assert len(session.scalars(select(Audit.id).where(Audit.fiche_id == fiche)).all()) == 1


def test_a_transcribed_fiche_without_speech_fails_with_its_phase(
    scorecard_id: int, sync_engine: Engine, redis_url: str
) -> None:
    with Session(sync_engine) as session, session.begin():
        session.add(Fiche(fiche_id="F-SILENT", fetch_status="details"))
        session.flush()
        session.add(FicheTranscription(fiche_id="F-SILENT", status="complete"))
    spec = scorecard_spec(sync_engine, scorecard_id)

    async def run() -> FicheAudit:
        client = create_async_redis(redis_url)
        try:
            engine = AuditEngine(
                HeuristicAuditor(),
                sync_session_factory(sync_engine),
                RedisResource(url=redis_url).async_publisher(client),
                rules=GatingRules(),
                trigger=Trigger(source="test"),
            )
            return await engine.audit_fiche("F-SILENT", spec)
        finally:
            await client.aclose()

    result = asyncio.run(run())
    assert result.outcome == Outcome.FAILED
    with Session(sync_engine) as session:
        audit = session.get_one(Audit, result.audit_id)
        assert (audit.status, audit.failed_phase) == ("failed", "timeline")
        assert "no transcribed speech" in (audit.error or "")


@pytest.mark.usefixtures("clean_tables")
def test_the_watchdog_fails_audits_without_heartbeat(
    scorecard_id: int, sync_engine: Engine, database_url: str, redis_url: str, redis_client: redis.Redis
) -> None:
    spec = scorecard_spec(sync_engine, scorecard_id)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    inputs = AuditInputs(spec.version_id, "t", "heuristic", None, "p", TranscriptMode.PROMPT)
    with Session(sync_engine) as session, session.begin():
        session.add_all([Fiche(fiche_id="F-STUCK", fetch_status="details"), Fiche(fiche_id="F-BUSY")])
        session.flush()
        stuck = start_audit(session, "F-STUCK", spec, inputs, Trigger(), use_rlm=False, now=long_ago)
        busy = start_audit(session, "F-BUSY", spec, inputs, Trigger(), use_rlm=False, now=dt.datetime.now(dt.UTC))
    resources = {"database": DatabaseResource(url=database_url), "redis": RedisResource(url=redis_url)}
    with dg.build_sensor_context(resources=resources) as context:
        result = audit_watchdog(context)
    with Session(sync_engine) as session:
        assert session.get_one(Audit, stuck).status == "failed"
        assert session.get_one(Audit, stuck).failed_phase == "watchdog"
        assert session.get_one(Audit, busy).status == "running"
    [(event, payload)] = catalogued(redis_client, f"audit:{stuck}")
    assert (event, payload["failed_phase"], payload["fiche_id"]) == ("audit.failed", "watchdog", "F-STUCK")
    # drill 3: nothing audited those fiches again; now the watchdog asks for it, once
    assert isinstance(result, dg.SensorResult)
    [request] = result.run_requests or []
    assert request.run_key == f"watchdog:{stuck}"
    config = request.run_config
    assert (config["fiche_ids"], config["scorecard_id"], config["trigger_source"]) == (
        ["F-STUCK"],
        scorecard_id,
        "watchdog",
    )
    dg.validate_run_config(audit_fiches_job, request.run_config)  # the job accepts it as is


@pytest.mark.usefixtures("clean_tables")
def test_a_run_takes_over_an_audit_whose_worker_died(scorecard_id: int, sync_engine: Engine) -> None:
    """Drill 3: a worker killed mid-audit left the pair `running` for 30 minutes; later runs skipped it."""
    spec = scorecard_spec(sync_engine, scorecard_id)
    now = dt.datetime.now(dt.UTC)
    inputs = AuditInputs(spec.version_id, "t", "heuristic", None, "p", TranscriptMode.PROMPT)
    with Session(sync_engine) as session, session.begin():
        session.add_all([Fiche(fiche_id="F-DEAD", fetch_status="details"), Fiche(fiche_id="F-ALIVE")])
        session.flush()
        dead = start_audit(session, "F-DEAD", spec, inputs, Trigger(), use_rlm=False, now=now - STALE_HEARTBEAT * 2)
        alive = start_audit(session, "F-ALIVE", spec, inputs, Trigger(), use_rlm=False, now=now)
    stale_before = now - STALE_HEARTBEAT
    with Session(sync_engine) as session, session.begin():
        trigger = Trigger(run_id="run-2")
        taken = start_audit(session, "F-DEAD", spec, inputs, trigger, use_rlm=False, now=now, stale_before=stale_before)
        busy = start_audit(session, "F-ALIVE", spec, inputs, trigger, use_rlm=False, now=now, stale_before=stale_before)
    assert taken is not None
    assert busy is None  # a worker that is alive keeps its audit
    with Session(sync_engine) as session:
        old = session.get_one(Audit, dead)
        assert (old.status, old.failed_phase) == ("failed", "takeover")
        assert "run-2" in (old.error or "")
        assert session.get_one(Audit, taken).status == "running"
        assert session.get_one(Audit, alive).status == "running"


@pytest.mark.usefixtures("clean_tables")
def test_a_late_completion_after_the_watchdog_leaves_no_stale_failure(scorecard_id: int, sync_engine: Engine) -> None:
    spec = scorecard_spec(sync_engine, scorecard_id)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    inputs = AuditInputs(spec.version_id, "t", "heuristic", None, "p", TranscriptMode.PROMPT)
    with Session(sync_engine) as session, session.begin():
        session.add(Fiche(fiche_id="F-SLOW", fetch_status="details"))
        session.flush()
        audit_id = start_audit(session, "F-SLOW", spec, inputs, Trigger(), use_rlm=False, now=long_ago)
        assert audit_id is not None
    now = dt.datetime.now(dt.UTC)
    with Session(sync_engine) as session, session.begin():
        assert [a.id for a in fail_stuck_audits(session, stale_before=now - dt.timedelta(minutes=30), now=now)] == [
            audit_id
        ]
    with Session(sync_engine) as session, session.begin():  # the slow worker finishes after all
        complete_audit(
            session,
            audit_id,
            [],
            compute_compliance([], spec),
            recordings=0,
            chunks=0,
            audited_seconds=0.0,
            transcript_mode=TranscriptMode.PROMPT,
            now=now,
        )
    with Session(sync_engine) as session:
        audit = session.get_one(Audit, audit_id)
        assert (audit.status, audit.error, audit.failed_phase, audit.is_latest) == ("completed", None, None, True)


def test_the_citation_check_finds_a_quote_no_longer_in_its_chunk(
    transcribed_day: list[str], scorecard_id: int, sync_engine: Engine
) -> None:
    spec = scorecard_spec(sync_engine, scorecard_id)
    engine = AuditEngine(
        HeuristicAuditor(), sync_session_factory(sync_engine), None, rules=GatingRules(), trigger=Trigger(run_id="r-1")
    )
    asyncio.run(engine.audit_fiches(transcribed_day[:2], spec))
    with Session(sync_engine) as session, session.begin():
        total, bad = unlocated_citations(session, day=PARTITION_DAY, scorecard_id=scorecard_id)
        assert total > 0
        assert bad == []
        citation = session.scalars(select(AuditCitation).order_by(AuditCitation.id)).first()
        assert citation is not None
        citation.texte = INVENTED
        chunk_id = citation.chunk_id
    with Session(sync_engine) as session:
        [(fiche, chunk, quote)] = [
            tuple(b.values()) for b in unlocated_citations(session, day=PARTITION_DAY, scorecard_id=scorecard_id)[1]
        ]
    assert (chunk, quote) == (chunk_id, INVENTED)
    assert fiche in transcribed_day[:2]


class _NoRedis(FailingStep):
    """An auditor whose global cap cannot be held: Redis is unreachable."""

    async def analyze_step(
        self, scorecard: ScorecardSpec, step: StepSpec, timeline: Timeline, *, mode: TranscriptMode
    ) -> StepAnalysis:
        raise SemaphoreUnavailable("Redis is unreachable (ConnectionError)")


def test_redis_unreachable_fails_the_audits_and_stops_the_run_instead_of_storing_zeros(
    transcribed_day: list[str], scorecard_id: int, sync_engine: Engine
) -> None:
    spec = scorecard_spec(sync_engine, scorecard_id)
    with pytest.raises(SemaphoreUnavailable):
        asyncio.run(audit_engine(sync_engine, _NoRedis(broken=0)).audit_fiches(transcribed_day[:2], spec))
    with Session(sync_engine) as session:
        audits = session.scalars(select(Audit)).all()
        assert len(audits) == 2
        assert {(a.status, a.failed_phase) for a in audits} == {("failed", "analysis")}
        assert all("Redis unavailable" in (a.error or "") for a in audits)
        assert session.scalars(select(AuditStep.id)).all() == []


def test_the_heuristic_auditors_confidence_rule_and_review_flag_are_stored(
    transcribed_day: list[str], scorecard_id: int, sync_engine: Engine
) -> None:
    spec = scorecard_spec(sync_engine, scorecard_id)
    result = asyncio.run(
        audit_engine(sync_engine, HeuristicAuditor()).audit_fiche(transcribed_day[0], spec, force=True)
    )
    assert result.outcome == Outcome.COMPLETED
    with Session(sync_engine) as session:
        audit = session.get_one(Audit, result.audit_id)
        points = [p for s in audit.steps for p in s.control_points]
        assert points
        assert all(p.decision_rule and p.confidence is not None for p in points)
        assert all(0.0 <= (p.confidence or 0.0) <= 1.0 for p in points)
        present = [p for p in points if p.statut == "PRESENT"]
        assert present
        assert {p.decision_rule for p in present} <= {"evidence", "answer_to_question"}
        assert all(p.citations for p in present)
        assert audit.needs_review == bool(audit.review_reasons)


def test_a_transcript_is_parsed_by_its_first_audit_only(
    transcribed_day: list[str], scorecard_id: int, sync_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from domain.language import utterances
    from domain.language.analysis import ANALYSIS_VERSION

    spec = scorecard_spec(sync_engine, scorecard_id)
    fiche_id = transcribed_day[1]
    with Session(sync_engine) as session:
        session.execute(update(TranscriptChunk).where(TranscriptChunk.fiche_id == fiche_id).values(analysis=None))
        session.commit()
    first = asyncio.run(audit_engine(sync_engine, HeuristicAuditor()).audit_fiche(fiche_id, spec, force=True))
    assert first.outcome == Outcome.COMPLETED
    with Session(sync_engine) as session:
        stored = session.scalars(select(TranscriptChunk.analysis).where(TranscriptChunk.fiche_id == fiche_id)).all()
        assert stored
        assert all(a is not None and a["version"] == ANALYSIS_VERSION for a in stored)

    def no_parse(texts: Any, batch_size: int = 64) -> list[Any]:
        assert not list(texts), "a stored analysis is read, not parsed again"
        return []

    monkeypatch.setattr(utterances, "parse", no_parse)
    second = asyncio.run(audit_engine(sync_engine, HeuristicAuditor()).audit_fiche(fiche_id, spec, force=True))
    assert second.outcome == Outcome.COMPLETED

    def verdicts(audit_id: int | None) -> list[tuple[int, str]]:
        with Session(sync_engine) as session:
            audit = session.get_one(Audit, audit_id)
            return [(s.position, p.statut) for s in audit.steps for p in s.control_points]

    assert verdicts(second.audit_id) == verdicts(first.audit_id)


@pytest.mark.usefixtures("clean_tables")
def test_the_watchdog_lets_audits_of_a_queued_run_wait_and_fails_those_of_a_dead_run(
    scorecard_id: int, sync_engine: Engine, database_url: str, redis_url: str
) -> None:
    spec = scorecard_spec(sync_engine, scorecard_id)
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    with dg.instance_for_test() as instance:
        # Not started yet (a queued run needs a code location to be stored; both wait alike).
        queued_run = instance.add_run(
            dg.DagsterRun(job_name="audit_fiches_job", status=dg.DagsterRunStatus.NOT_STARTED)
        )
        canceled = instance.add_run(dg.DagsterRun(job_name="audit_fiches_job", status=dg.DagsterRunStatus.CANCELED))
        with Session(sync_engine) as session, session.begin():
            session.add_all([Fiche(fiche_id="F-WAIT", fetch_status="details"), Fiche(fiche_id="F-DEAD")])
            session.flush()
            [waiting] = queue_audits(session, ["F-WAIT"], spec, Trigger(run_id=queued_run.run_id), use_rlm=False)
            [dead] = queue_audits(session, ["F-DEAD"], spec, Trigger(run_id=canceled.run_id), use_rlm=False)
            session.execute(update(Audit).values(created_at=long_ago))  # queued two hours ago
        resources = {"database": DatabaseResource(url=database_url), "redis": RedisResource(url=redis_url)}
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            audit_watchdog(context)
    with Session(sync_engine) as session:
        assert session.get_one(Audit, waiting).status == "pending"
        assert session.get_one(Audit, dead).status == "failed"


def test_a_fiche_whose_timeline_exceeds_the_prompt_budget_is_audited_in_tools_mode(
    transcribed_day: list[str], scorecard_id: int, sync_engine: Engine
) -> None:
    spec = scorecard_spec(sync_engine, scorecard_id)
    sessions = sync_session_factory(sync_engine)
    with Session(sync_engine) as session:
        sizes = {f: timeline_tokens(load_timeline(session, f)) for f in transcribed_day[:2]}
    short, long = sorted(sizes, key=sizes.__getitem__)
    assert sizes[short] < sizes[long]
    engine = AuditEngine(
        HeuristicAuditor(), sessions, None, rules=GatingRules(), trigger=Trigger(), prompt_token_budget=sizes[short]
    )
    asyncio.run(engine.audit_fiches([short, long], spec))
    with Session(sync_engine) as session:
        rows = session.execute(select(Audit.fiche_id, Audit.transcript_mode)).all()
    modes = {row.fiche_id: row.transcript_mode for row in rows}
    assert modes == {short: "prompt", long: "tools"}


class _SlowStep(FailingStep):
    """One long step (model retries, a 429 cool-down): notes the heartbeat its audit has when it ends."""

    def __init__(self, sync_engine: Engine) -> None:
        super().__init__(broken=0)
        self.engine = sync_engine
        self.seen: list[tuple[dt.datetime | None, dt.datetime | None]] = []

    async def analyze_step(
        self, scorecard: ScorecardSpec, step: StepSpec, timeline: Timeline, *, mode: TranscriptMode
    ) -> StepAnalysis:
        await asyncio.sleep(1.0)
        with Session(self.engine) as session:
            audit = session.scalars(select(Audit).where(Audit.status == "running")).one()
            self.seen.append((audit.started_at, audit.heartbeat_at))
        return await self.inner.analyze_step(scorecard, step, timeline, mode=mode)


@pytest.mark.usefixtures("clean_tables")
def test_a_long_step_keeps_its_audits_heartbeat_fresh(
    transcribed_day: list[str], scorecard_id: int, sync_engine: Engine
) -> None:
    """A step longer than the stale threshold must not let another run take a live audit over."""
    spec = scorecard_spec(sync_engine, scorecard_id)
    auditor = _SlowStep(sync_engine)
    engine = AuditEngine(
        cast(Any, auditor),
        sync_session_factory(sync_engine),
        None,
        rules=GatingRules(),
        trigger=Trigger(source="test"),
        step_concurrency=1,
        stale_after=dt.timedelta(seconds=0.3),
    )
    one_step = dataclasses.replace(spec, steps=spec.steps[:1])
    result = asyncio.run(engine.audit_fiche(transcribed_day[0], one_step))
    assert result.outcome == Outcome.COMPLETED
    [(started, beat)] = auditor.seen
    assert started is not None
    assert beat is not None
    assert beat - started >= dt.timedelta(seconds=0.5)  # beaten during the step, not only after it
