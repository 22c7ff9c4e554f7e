"""Running audits: one fiche against one frozen scorecard version, steps concurrently, then gating,
scoring and one write. Used by the `audits` asset and the ad-hoc audit job alike.

The database is reached through a session factory on worker threads and the event stream through
an optional publisher, so the flow reads top to bottom and tests drive it with real Postgres and
Redis. An auditor never raises for a provider failure (it returns a failed analysis); anything
else that goes wrong fails the audit row with its phase, and the other fiches carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import enum
import functools
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from domain.audits.auditor import Auditor, PreparesTimeline, StepAnalysis, TranscriptMode, Usage
from domain.audits.gating import GatingRules, gate_step
from domain.audits.schema import fallback_step
from domain.audits.scorecard import ScorecardSpec, StepSpec
from domain.audits.scoring import compute_compliance
from domain.audits.store import (
    AuditInputs,
    StepRecord,
    Trigger,
    already_audited,
    auditing_run,
    complete_audit,
    fail_audit,
    fail_queued,
    heartbeat,
    settled_by,
    start_audit,
    transcription_ready,
)
from domain.audits.timeline import Timeline, timeline_tokens, warm_token_count
from domain.audits.timeline_store import load_timeline
from domain.errors import UnavailableError
from domain.events import BatchProgress, Event, audit_topic, fiche_topic
from domain.models.audits import AuditStatus
from domain.outbox import announce
from domain.products.audit_link import link_audit, record_checks
from domain.products.claims import apply_check, check_claims, for_step
from domain.products.facts import ProductFacts
from domain.transcripts.store import coverage, store_analyses
from services.base import StageService, utc_now
from services.drain import Feed, drain
from services.ports import Publisher

log = logging.getLogger(__name__)


#: A worker beats when it starts an audit and every third of this while its steps run (not after
#: every step: a write per model call, for no fresher a sign of life, decision 111); none for this long
#: means it died, and the next run auditing the pair takes over.
STALE_HEARTBEAT = dt.timedelta(minutes=5)


class Outcome(enum.StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    UNCHANGED = "unchanged"  # audited before from the same inputs
    NOT_READY = "not_ready"  # transcription not complete: never audit half a conversation
    IN_FLIGHT = "in_flight"  # another run is auditing this fiche with this scorecard


@dataclass(frozen=True)
class FicheAudit:
    fiche_id: str
    outcome: Outcome
    audit_id: int | None = None
    score: float | None = None
    niveau: str | None = None
    error: str | None = None
    usage: Usage = field(default_factory=Usage)
    audited_seconds: float = 0.0
    citations: int = 0
    citations_removed: int = 0


@dataclass(frozen=True)
class _Run:
    """One audit under way: what every phase needs."""

    fiche_id: str
    audit_id: int
    spec: ScorecardSpec
    timeline: Timeline
    mode: TranscriptMode
    facts: ProductFacts | None = None  # the matched plan, for `verify_product_info` steps
    product_checks: dict[int, dict[str, Any]] = field(default_factory=dict)  # by step position


@dataclass
class AuditReport:
    scorecard: ScorecardSpec
    auditor: str
    model: str | None
    fiches: list[FicheAudit] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, outcome: Outcome) -> int:
        return sum(1 for f in self.fiches if f.outcome == outcome)

    @property
    def completed(self) -> list[FicheAudit]:
        return [f for f in self.fiches if f.outcome == Outcome.COMPLETED]

    @property
    def failures(self) -> dict[str, str]:
        return {f.fiche_id: f.error or "" for f in self.fiches if f.outcome == Outcome.FAILED}

    def metadata(self) -> dict[str, Any]:
        """What a data team reads in the Dagster UI for one run."""
        done = self.completed
        usage = sum((f.usage for f in done), Usage())
        minutes = sum(f.audited_seconds for f in done) / 60
        scores = [f.score for f in done if f.score is not None]
        citations = sum(f.citations for f in done)
        removed = sum(f.citations_removed for f in done)
        return {
            "scorecard": f"{self.scorecard.name} v{self.scorecard.version}",
            "auditor": self.auditor if self.model is None else f"{self.auditor} ({self.model})",
            "fiches": len(self.fiches),
            "audited": len(done),
            "failed": self.count(Outcome.FAILED),
            "unchanged": self.count(Outcome.UNCHANGED),
            "not_ready": self.count(Outcome.NOT_READY),
            "in_flight": self.count(Outcome.IN_FLIGHT),
            "average_score": round(sum(scores) / len(scores), 2) if scores else None,
            "levels": dict(Counter(f.niveau for f in done if f.niveau)),
            "citations_kept": citations,
            "citations_removed_by_gating": removed,
            "input_tokens": usage.input_tokens,
            "cached_input_tokens": usage.cached_input_tokens,
            "output_tokens": usage.output_tokens,
            "cost_usd": round(usage.cost_usd, 4),
            "cost_usd_per_audited_minute": round(usage.cost_usd / minutes, 5) if minutes else 0.0,
            "seconds": round(self.seconds, 2),
        }


class AuditEngine(StageService):
    def __init__(
        self,
        auditor: Auditor,
        sessions: sessionmaker[Session],
        publisher: Publisher | None,
        *,
        rules: GatingRules,
        trigger: Trigger,
        step_concurrency: int = 10,
        fiche_concurrency: int = 4,
        prompt_token_budget: int | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
        stale_after: dt.timedelta = STALE_HEARTBEAT,
    ) -> None:
        super().__init__(sessions, publisher, clock=clock)
        self.auditor = auditor
        self.rules = rules
        self.trigger = trigger
        self.step_concurrency = step_concurrency
        self.fiche_concurrency = fiche_concurrency
        self.prompt_token_budget = prompt_token_budget
        self.stale_after = stale_after

    async def _event(self, fiche_id: str, audit_id: int | None, event: str, payload: Mapping[str, Any]) -> None:
        body = {"fiche_id": fiche_id, "audit_id": audit_id, "run_id": self.trigger.run_id, **payload}
        topics = [fiche_topic(fiche_id)] + ([audit_topic(audit_id)] if audit_id is not None else [])
        await self._publish(topics, event, body)

    async def audit_fiches(
        self, fiches: Sequence[str] | Feed, spec: ScorecardSpec, *, use_rlm: bool = False, force: bool = False
    ) -> AuditReport:
        """The given fiches, or a day run's: every fiche the `Feed` lists until its upstream is done; a
        fiche another run is auditing is then looked at again until that run has settled it, unless
        that run has ended (its audit is then the watchdog's, and this run reports it in flight)."""
        started = time.monotonic()
        batch = _AuditBatch(self, spec, fiches, use_rlm=use_rlm, force=force)
        results = await batch.run()
        return AuditReport(spec, self.auditor.name, self.auditor.model, results, time.monotonic() - started)

    async def audit_fiche(
        self, fiche_id: str, spec: ScorecardSpec, *, use_rlm: bool = False, force: bool = False
    ) -> FicheAudit:
        not_ready = await self._db(lambda s: transcription_ready(s, fiche_id))
        if not_ready is not None:
            now = self._clock()
            error = f"not audited: {not_ready}"
            run_id = self.trigger.run_id
            await self._db(lambda s: fail_queued(s, fiche_id, spec.scorecard_id, run_id=run_id, error=error, now=now))
            counts = await self._db(lambda s: coverage(s, fiche_id))
            check = {
                "total_recordings": counts.total,
                "transcribed": counts.transcribed,
                "needs_transcription": counts.total - counts.transcribed,
                "is_complete": False,
                "reason": not_ready,
                "status": "checked",
            }
            await self._event(fiche_id, None, Event.AUDIT_TRANSCRIPTION_CHECK, check)
            return FicheAudit(fiche_id, Outcome.NOT_READY, error=not_ready)
        timeline = await self._db(lambda s: load_timeline(s, fiche_id))
        mode = transcript_mode_for(use_rlm, timeline, self.prompt_token_budget)
        inputs = AuditInputs(
            spec.version_id, timeline.version, self.auditor.name, self.auditor.model, self.auditor.prompt_version, mode
        )
        if not force:
            previous = await self._db(lambda s: already_audited(s, fiche_id, spec.scorecard_id, inputs))
            if previous is not None:
                return FicheAudit(fiche_id, Outcome.UNCHANGED, audit_id=previous)
        if isinstance(self.auditor, PreparesTimeline):  # parse once: later audits read the stored analysis
            fresh = await asyncio.to_thread(self.auditor.prepare, timeline)
            if fresh:
                await self._db(lambda s: store_analyses(s, fiche_id, fresh))
        now = self._clock()
        audit_id = await self._db(
            lambda s: start_audit(
                s,
                fiche_id,
                spec,
                inputs,
                self.trigger,
                use_rlm=use_rlm,
                now=now,
                stale_before=now - self.stale_after,
                unless_audited=None if force else inputs,
            )
        )
        if audit_id is None:
            if not force and (
                done := await self._db(lambda s: already_audited(s, fiche_id, spec.scorecard_id, inputs))
            ):
                return FicheAudit(fiche_id, Outcome.UNCHANGED, audit_id=done)
            return FicheAudit(fiche_id, Outcome.IN_FLIGHT)
        await self._event(
            fiche_id,
            audit_id,
            "audit.config_loaded",
            {
                "config_id": spec.scorecard_id,
                "config_name": spec.name,
                "version": spec.version,
                "steps_count": len(spec.steps),
                "status": "loaded",
            },
        )
        await self._event(
            fiche_id,
            audit_id,
            "audit.transcription_check",
            {
                "total_recordings": len(timeline.recordings),
                "transcribed": len(timeline.recordings),
                "needs_transcription": 0,
                "is_complete": True,
                "status": "checked",
            },
        )
        await self._event(
            fiche_id,
            audit_id,
            "audit.started",
            {
                "audit_config_id": spec.scorecard_id,
                "audit_config_name": spec.name,
                "scorecard_version": spec.version,
                "started_at": now,
                "total_steps": len(spec.steps),
                "approach": {"use_rlm": use_rlm, "transcript_mode": mode.value},
                "status": "started",
            },
        )
        facts = None
        if any(step.verify_product_info for step in spec.steps):
            facts = await self._db(lambda s: link_audit(s, fiche_id, audit_id))
        try:
            return await self._run(_Run(fiche_id, audit_id, spec, timeline, mode, facts))
        except UnavailableError as exc:  # the global caps cannot hold: no model call may proceed
            await self._fail(fiche_id, audit_id, f"Redis unavailable: {exc}", "analysis")
            raise
        except Exception as exc:  # one fiche's failure must not stop the others
            log.exception("audit %s of fiche %s failed", audit_id, fiche_id)
            return await self._fail(fiche_id, audit_id, f"{type(exc).__name__}: {exc}", "analysis")

    async def _fail(self, fiche_id: str, audit_id: int, error: str, phase: str) -> FicheAudit:
        now = self._clock()
        failure = {"error": error, "failed_phase": phase, "run_id": self.trigger.run_id, "status": "failed"}
        await self._db(
            lambda s: announce.fail_audit_and_announce(
                s, fiche_id, audit_id, lambda: fail_audit(s, audit_id, error, phase=phase, now=now), failure
            )
        )
        await self._event(
            fiche_id,
            audit_id,
            "audit.failed",
            {"error": error, "failed_phase": phase, "failed_at": now, "status": "failed"},
        )
        return FicheAudit(fiche_id, Outcome.FAILED, audit_id=audit_id, error=error)

    async def _run(self, run: _Run) -> FicheAudit:
        fiche_id, audit_id, spec, timeline, mode = run.fiche_id, run.audit_id, run.spec, run.timeline, run.mode
        started = time.monotonic()
        if timeline.is_empty:
            return await self._fail(fiche_id, audit_id, "no transcribed speech in the fiche's recordings", "timeline")
        await self._event(
            fiche_id,
            audit_id,
            "audit.timeline_generated",
            {
                "recordings_count": len(timeline.recordings),
                "total_chunks": timeline.total_chunks,
                "status": "generated",
            },
        )
        await self._event(
            fiche_id,
            audit_id,
            "audit.analysis_started",
            {"total_steps": len(spec.steps), "model": self.auditor.model or self.auditor.name, "status": "analyzing"},
        )
        async with self._beating(audit_id):
            records = await self._analyse_steps(run)
        compliance = compute_compliance([r.step for r in records], spec)
        audited_seconds = sum(r.duration_seconds or 0.0 for r in timeline.recordings)
        effective = records[0].mode if records else mode
        now = self._clock()
        completion = {
            "scorecard_id": spec.scorecard_id,
            "score_percentage": float(compliance.score_percentage),
            "niveau": compliance.niveau,
            "is_compliant": compliance.is_compliant,
            "run_id": self.trigger.run_id,
            "status": "completed",
        }

        def complete(s: Session) -> None:
            complete_audit(
                s,
                audit_id,
                records,
                compliance,
                recordings=len(timeline.recordings),
                chunks=timeline.total_chunks,
                audited_seconds=audited_seconds,
                transcript_mode=effective,
                now=now,
            )
            announce.audit_completed(s, fiche_id, audit_id, completion)
            if run.product_checks:
                record_checks(s, audit_id, run.product_checks)

        await self._db(complete)
        usage = sum((r.usage for r in records), Usage())
        failed_steps = sum(1 for r in records if r.step.failed)
        await self._event(
            fiche_id,
            audit_id,
            "audit.compliance_calculated",
            {
                "overall_score": compliance.earned,
                "score_percentage": float(compliance.score_percentage),
                "niveau": compliance.niveau,
                "is_compliant": compliance.is_compliant,
                "critical_issues": list(compliance.critical_issues),
                "status": "calculated",
            },
        )
        await self._event(
            fiche_id,
            audit_id,
            "audit.completed",
            {
                "overall_score": compliance.earned,
                "score_percentage": float(compliance.score_percentage),
                "niveau": compliance.niveau,
                "is_compliant": compliance.is_compliant,
                "successful_steps": len(records) - failed_steps,
                "failed_steps": failed_steps,
                "total_tokens": usage.total_tokens,
                "cost_usd": usage.cost_usd,
                "duration_seconds": round(time.monotonic() - started, 3),
                "completed_at": now,
                "status": "completed",
            },
        )
        return FicheAudit(
            fiche_id,
            Outcome.COMPLETED,
            audit_id=audit_id,
            score=float(compliance.score_percentage),
            niveau=compliance.niveau,
            usage=usage,
            audited_seconds=audited_seconds,
            citations=sum(r.step.stats.citations_valid for r in records),
            citations_removed=sum(r.step.stats.citations_removed for r in records),
        )

    @asynccontextmanager
    async def _beating(self, audit_id: int) -> AsyncIterator[None]:
        """Beats the heartbeat every third of `stale_after` while the steps run: one step's model
        calls (retries, a 429 cool-down, tools mode) can outlast it, and a run that sees a stale
        heartbeat takes the audit over."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.stale_after.total_seconds() / 3)
                try:
                    await self._db(functools.partial(heartbeat, audit_id=audit_id, now=self._clock()))
                except Exception as exc:  # the next beat, or the step's own write, will say more
                    log.warning("heartbeat of audit %s not written: %s", audit_id, exc)

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _analyse_steps(self, run: _Run) -> list[StepRecord]:
        fiche_id, audit_id, spec = run.fiche_id, run.audit_id, run.spec
        limit = asyncio.Semaphore(self.step_concurrency)
        done = failed = 0

        async def one(step: StepSpec) -> StepRecord:
            nonlocal done, failed
            async with limit:
                record = await self._analyse_step(run, step)
            done += 1
            failed += record.step.failed
            await self._event(
                fiche_id,
                audit_id,
                "audit.progress",
                {
                    "completed_steps": done,
                    "total_steps": len(spec.steps),
                    "failed_steps": failed,
                    "progress_percentage": round(100 * done / max(1, len(spec.steps))),
                    "current_phase": "analysis",
                    "status": "in_progress",
                },
            )
            return record

        steps = list(spec.steps)
        first: list[StepRecord] = []
        if self.auditor.shares_prompt_prefix and run.mode == TranscriptMode.PROMPT and len(steps) > 1:
            # One step first so the provider caches the shared prefix the others then reuse.
            first = [await one(steps[0])]
            steps = steps[1:]
        try:
            # A task group, so Redis failing under one step cancels its siblings instead of leaving
            # them calling the model (and beating the heartbeat) for an audit already failed.
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(one(step)) for step in steps]
        except BaseExceptionGroup as failures:
            raise failures.exceptions[0] from None
        return sorted([*first, *(t.result() for t in tasks)], key=lambda r: r.step.position)

    async def _analyse_step(self, run: _Run, step: StepSpec) -> StepRecord:
        fiche_id, audit_id, spec, timeline, mode = run.fiche_id, run.audit_id, run.spec, run.timeline, run.mode
        base = {"step_position": step.position, "step_name": step.name}
        await self._event(
            fiche_id,
            audit_id,
            "audit.step_started",
            {
                **base,
                "total_steps": len(spec.steps),
                "step_weight": step.weight,
                "is_critical": step.is_critical,
                "status": "processing",
            },
        )
        record, check = await analyse_checked_step(
            self.auditor, spec, step, timeline, mode=mode, rules=self.rules, facts=run.facts, audit_id=audit_id
        )
        if check is not None:
            run.product_checks[step.position] = check
        gated = record.step
        if gated.failed:
            await self._event(
                fiche_id, audit_id, "audit.step_failed", {**base, "error": gated.error, "status": "failed"}
            )
        else:
            await self._event(
                fiche_id,
                audit_id,
                "audit.step_completed",
                {
                    **base,
                    "score": gated.score,
                    "max_score": step.weight,
                    "conforme": gated.conforme,
                    "total_citations": gated.stats.citations_valid,
                    "tokens_used": record.usage.total_tokens,
                    "status": "completed",
                },
            )
        return record


class _AuditBatch:
    """One `AuditEngine.audit_fiches` call: its fiches audited `fiche_concurrency` at a time, its
    progress events, and, for a day run (a `Feed`), the fiches another live run holds, looked at again
    (`drain`'s `again`) until that run has settled them."""

    def __init__(
        self, engine: AuditEngine, spec: ScorecardSpec, fiches: Sequence[str] | Feed, *, use_rlm: bool, force: bool
    ) -> None:
        self.engine = engine
        self.spec = spec
        self.fiches = fiches
        self.use_rlm = use_rlm
        self.force = force
        self.gate = asyncio.Semaphore(engine.fiche_concurrency)
        self.fed = isinstance(fiches, Feed)
        run_id = engine.trigger.run_id
        total = 0 if isinstance(fiches, Feed) else len(fiches)
        requester = engine.trigger.user_id if engine.trigger.source == "batch" else None
        self.progress = (
            BatchProgress(engine._emit, run_id, "audit", total, growing=self.fed, requester=requester)
            if run_id
            else None
        )
        self.taken: set[str] = set()
        self.waiting: dict[str, str] = {}  # fiche -> the run auditing it, not ended: looked at again

    async def run(self) -> list[FicheAudit]:
        if isinstance(self.fiches, Feed):
            # A day run is up before its first transcript: the token count's encoding loads meanwhile,
            # not on the first audit's path (decision 115).
            budget = self.engine.prompt_token_budget is not None
            warming = asyncio.create_task(asyncio.to_thread(warm_token_count)) if budget else None
            try:
                results = list((await drain(self.fiches, self.one, again=self.again)).values())
            finally:
                if warming is not None:
                    await warming
            if self.progress is not None:
                await self.progress.close()
            return results
        settled = await asyncio.gather(*(self.one(f) for f in self.fiches), return_exceptions=True)
        # Redis unreachable stops the run (every fiche would fail the same way), once all have settled.
        for outcome in settled:
            if isinstance(outcome, BaseException):
                raise outcome
        return [r for r in settled if isinstance(r, FicheAudit)]

    def again(self, audited: FicheAudit) -> bool:
        return audited.fiche_id in self.waiting

    async def one(self, fiche_id: str) -> FicheAudit:
        if self.progress is not None and self.fed and fiche_id not in self.taken:
            self.progress.expect(1)
        self.taken.add(fiche_id)
        audited = await self._audit(fiche_id)
        if self.fed and audited.outcome is Outcome.IN_FLIGHT:
            if holder := await self._holder_alive(fiche_id):
                self.waiting[fiche_id] = holder
                return audited
            # No live run holds it any more: the holder may have settled it between the two looks,
            # and its audit is then this run's answer (a dead holder's is left to the watchdog).
            audited = await self._audit(fiche_id)
        if self.progress is not None:
            await self.progress.settled(ok=audited.outcome not in {Outcome.FAILED, Outcome.NOT_READY})
        return audited

    async def _audit(self, fiche_id: str) -> FicheAudit:
        scorecard_id = self.spec.scorecard_id
        holder = self.waiting.pop(fiche_id, None)
        if holder is not None:  # the run waited for may have settled it: its audit is the fiche's
            done = await self.engine._db(lambda s: settled_by(s, fiche_id, scorecard_id, holder))
            if done is not None:
                audit_id, status, error = done
                outcome = Outcome.UNCHANGED if status == AuditStatus.COMPLETED else Outcome.FAILED
                return FicheAudit(fiche_id, outcome, audit_id=audit_id, error=error)
        async with self.gate:
            return await self.engine.audit_fiche(fiche_id, self.spec, use_rlm=self.use_rlm, force=self.force)

    async def _holder_alive(self, fiche_id: str) -> str | None:
        holder = await self.engine._db(lambda s: auditing_run(s, fiche_id, self.spec.scorecard_id))
        feed = self.fiches
        alive = isinstance(feed, Feed) and holder is not None and await asyncio.to_thread(feed.run_active, holder)
        return holder if alive else None


def transcript_mode_for(use_rlm: bool, timeline: Timeline, prompt_token_budget: int | None) -> TranscriptMode:
    """Tools mode when asked, or when the transcript is too long to send whole (the model reads it with the tools)."""
    if use_rlm:
        return TranscriptMode.TOOLS
    if prompt_token_budget is not None and timeline_tokens(timeline) > prompt_token_budget:
        return TranscriptMode.TOOLS
    return TranscriptMode.PROMPT


async def analyse_checked_step(
    auditor: Auditor,
    spec: ScorecardSpec,
    step: StepSpec,
    timeline: Timeline,
    *,
    mode: TranscriptMode,
    rules: GatingRules,
    facts: ProductFacts | None,
    audit_id: int | None = None,
) -> tuple[StepRecord, dict[str, Any] | None]:
    """`analyse_step`, and for a product-verification step whose fiche matched a plan: the plan's facts
    in the prompt, then the amounts and durations stated in the call (of the topics the step names, or
    all) checked against the plan whatever the auditor said (the check, as stored, beside the record)."""
    if facts is None or not step.verify_product_info:
        return await analyse_step(auditor, spec, step, timeline, mode=mode, rules=rules, audit_id=audit_id), None
    asked = dataclasses.replace(step, product_context=facts.prompt_block())
    record = await analyse_step(auditor, spec, asked, timeline, mode=mode, rules=rules, audit_id=audit_id)
    check = for_step(check_claims(timeline, facts, offline=auditor.model is None), step)
    return dataclasses.replace(record, step=apply_check(record.step, check)), check.as_json()


async def analyse_step(
    auditor: Auditor,
    spec: ScorecardSpec,
    step: StepSpec,
    timeline: Timeline,
    *,
    mode: TranscriptMode,
    rules: GatingRules,
    audit_id: int | None = None,
) -> StepRecord:
    """One step analysed and its evidence gated: a first audit's steps and reruns alike."""
    try:
        analysis = await auditor.analyze_step(spec, step, timeline, mode=mode)
    except UnavailableError:
        raise  # not the step's failure: storing a zero for it would be a false verdict
    except Exception as exc:  # a step's failure becomes its fallback; the audit finishes
        log.exception("step %s of audit %s raised", step.position, audit_id)
        error = f"{type(exc).__name__}: {exc}"
        analysis = StepAnalysis(fallback_step(step.control_points, error), Usage(), mode, failed=True, error=error)
    gated = gate_step(
        step,
        analysis.output,
        timeline,
        rules,
        failed=analysis.failed,
        error=analysis.error,
        assessments=analysis.assessments,
    )
    return StepRecord(gated, analysis.transcript_mode, analysis.usage)
