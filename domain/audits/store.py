"""Reading and writing audits: start (one in flight per fiche and scorecard), results, failure, watchdog.

Every function takes a sync `Session` inside the caller's transaction. `is_latest` follows the
newest completed, not deleted audit of a (fiche, scorecard) pair (`choose_latest`, also applied by
the API's soft delete and restore), so a failed re-audit never hides the last good verdict.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from domain.audits.auditor import TranscriptMode, Usage
from domain.audits.gating import GatedStep
from domain.audits.review import review_flag
from domain.audits.scorecard import ScorecardSpec
from domain.audits.scoring import Compliance
from domain.models.audits import IN_FLIGHT_INDEX, Audit, AuditCitation, AuditControlPoint, AuditStatus, AuditStep
from domain.models.transcripts import FicheTranscription, FicheTranscriptionStatus

ERROR_LIMIT = 2000
MAX_INT4 = 2**31 - 1


@dataclass(frozen=True)
class AuditInputs:
    """What an audit reads; equal inputs mean an incremental run has nothing to redo."""

    scorecard_version_id: int
    transcript_version: str
    auditor: str
    model: str | None
    prompt_version: str
    transcript_mode: TranscriptMode

    @property
    def key(self) -> str:
        parts = (
            self.scorecard_version_id,
            self.transcript_version,
            self.auditor,
            self.model or "",
            self.prompt_version,
            self.transcript_mode,
        )
        return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Trigger:
    source: str = "api"  # api | batch | schedule | automation | demo
    user_id: int | None = None
    run_id: str | None = None
    automation_run_id: int | None = None
    automation_schedule_id: int | None = None


def transcription_ready(session: Session, fiche_id: str) -> str | None:
    """None when every recording of the fiche is transcribed, else why the fiche cannot be audited yet."""
    status = session.get(FicheTranscription, fiche_id)
    if status is None:
        return "not transcribed yet"
    if status.status != FicheTranscriptionStatus.COMPLETE:
        return f"transcription {status.status}" + (f": {status.reason}" if status.reason else "")
    return None


def already_audited(session: Session, fiche_id: str, scorecard_id: int, inputs: AuditInputs) -> int | None:
    """The id of a completed, not deleted audit of the fiche made from the same inputs, if any."""
    return session.scalar(
        select(Audit.id)
        .where(
            Audit.fiche_id == fiche_id,
            Audit.scorecard_id == scorecard_id,
            Audit.input_key == inputs.key,
            Audit.status == AuditStatus.COMPLETED,
            Audit.deleted_at.is_(None),
        )
        .limit(1)
    )


def _next_audit(session: Session, fiche_id: str, spec: ScorecardSpec, trigger: Trigger, **fields: Any) -> Audit:
    """The pair's next audit version (the latest flag only if the pair has none yet), not added."""
    pair = (Audit.fiche_id == fiche_id, Audit.scorecard_id == spec.scorecard_id)
    previous = session.scalar(select(func.max(Audit.version)).where(*pair))
    has_latest = session.scalar(select(Audit.id).where(*pair, Audit.is_latest))
    return Audit(
        fiche_id=fiche_id,
        scorecard_id=spec.scorecard_id,
        scorecard_version_id=spec.version_id,
        version=(previous or 0) + 1,
        is_latest=has_latest is None,
        trigger_source=trigger.source,
        trigger_user_id=trigger.user_id,
        run_id=trigger.run_id,
        automation_run_id=trigger.automation_run_id,
        automation_schedule_id=trigger.automation_schedule_id,
        steps_total=len(spec.steps),
        points_total=spec.total_weight,
        **fields,
    )


def queue_audits(
    session: Session, fiche_ids: Sequence[str], spec: ScorecardSpec, trigger: Trigger, *, use_rlm: bool
) -> list[int]:
    """`pending` audits of the run just launched (`trigger.run_id`), so lists show them from the 202
    on; the run takes each over when it starts it (`start_audit`). A fiche with an audit of the
    scorecard already in flight gets none (that one is what lists show)."""
    queued = []
    for fiche_id in fiche_ids:
        audit = _next_audit(
            session,
            fiche_id,
            spec,
            trigger,
            status=AuditStatus.PENDING,
            auditor="",  # known when the run starts it
            prompt_version="",
            use_rlm=use_rlm,
        )
        try:
            with session.begin_nested():
                session.add(audit)
                session.flush()
        except IntegrityError:
            continue  # in flight already, or a version race with a run: nothing to show twice
        queued.append(audit.id)
    return queued


def _take_over_queued(
    session: Session, fiche_id: str, spec: ScorecardSpec, inputs: AuditInputs, *, trigger: Trigger, now: dt.datetime
) -> int | None:
    """The `pending` audit this run was launched with (`queue_audits`), now started; None if none."""
    if trigger.run_id is None:
        return None
    audit = session.scalar(
        select(Audit)
        .where(
            Audit.fiche_id == fiche_id,
            Audit.scorecard_id == spec.scorecard_id,
            Audit.status == AuditStatus.PENDING,
            Audit.run_id == trigger.run_id,
        )
        .with_for_update()
    )
    if audit is None:
        return None
    audit.status = AuditStatus.RUNNING
    audit.scorecard_version_id = spec.version_id
    audit.steps_total = len(spec.steps)
    audit.points_total = spec.total_weight
    audit.auditor = inputs.auditor
    audit.model = inputs.model
    audit.transcript_mode = inputs.transcript_mode
    audit.prompt_version = inputs.prompt_version
    audit.transcript_version = inputs.transcript_version
    audit.input_key = inputs.key
    audit.started_at = audit.heartbeat_at = now
    session.flush()
    return audit.id


def fail_queued(
    session: Session, fiche_id: str, scorecard_id: int, *, run_id: str | None, error: str, now: dt.datetime
) -> None:
    """The run will not audit the fiche (not ready): its queued audit says why instead of waiting."""
    if run_id is None:
        return
    ids = session.scalars(
        select(Audit.id).where(
            Audit.fiche_id == fiche_id,
            Audit.scorecard_id == scorecard_id,
            Audit.status == AuditStatus.PENDING,
            Audit.run_id == run_id,
        )
    )
    for audit_id in list(ids):
        fail_audit(session, audit_id, error, phase="transcription_check", now=now)


def start_audit(
    session: Session,
    fiche_id: str,
    spec: ScorecardSpec,
    inputs: AuditInputs,
    trigger: Trigger,
    *,
    use_rlm: bool,
    now: dt.datetime,
    stale_before: dt.datetime | None = None,
    unless_audited: AuditInputs | None = None,
) -> int | None:
    """Insert a `running` audit and return its id; None when one is already in flight for the pair
    (or, with `unless_audited`, when one from those inputs has completed).

    The partial unique index `uq_audits_in_flight` decides, so two concurrent launches (a retried
    run, an API click during a backfill) cannot both start. Losing a race on the version number or
    the latest flag (another audit of the pair started and finished meanwhile) reads them again.
    An audit in flight whose last heartbeat is before `stale_before` belongs to a worker that died:
    it is failed here and this one takes over, instead of the pair waiting for the watchdog.
    """
    queued = _take_over_queued(session, fiche_id, spec, inputs, trigger=trigger, now=now)
    if queued is not None:
        return queued
    if stale_before is not None:
        _fail_stale(
            session, (Audit.fiche_id == fiche_id, Audit.scorecard_id == spec.scorecard_id), stale_before, now, trigger
        )
    for _ in range(3):
        audit = _next_audit(
            session,
            fiche_id,
            spec,
            trigger,
            status=AuditStatus.RUNNING,
            auditor=inputs.auditor,
            model=inputs.model,
            transcript_mode=inputs.transcript_mode,
            use_rlm=use_rlm,
            prompt_version=inputs.prompt_version,
            transcript_version=inputs.transcript_version,
            input_key=inputs.key,
            started_at=now,
            heartbeat_at=now,
        )
        try:
            with session.begin_nested() as savepoint:
                session.add(audit)
                session.flush()
                # Checked after the insert: an audit completed between the caller's check and this
                # insert (the in-flight index no longer stopping it) is seen here, not done twice.
                if unless_audited is not None and already_audited(session, fiche_id, spec.scorecard_id, unless_audited):
                    savepoint.rollback()
                    return None
        except IntegrityError as exc:
            if getattr(getattr(exc.orig, "diag", None), "constraint_name", None) == IN_FLIGHT_INDEX:
                return None
            continue
        return audit.id
    return None


def auditing_run(session: Session, fiche_id: str, scorecard_id: int) -> str | None:
    """The run holding the pair's audit in flight (pending or running), if any."""
    return session.scalar(
        select(Audit.run_id).where(
            Audit.fiche_id == fiche_id,
            Audit.scorecard_id == scorecard_id,
            Audit.status.in_([AuditStatus.PENDING, AuditStatus.RUNNING]),
        )
    )


def settled_by(session: Session, fiche_id: str, scorecard_id: int, run_id: str) -> tuple[int, str, str | None] | None:
    """(id, status, error) of the pair's audit that run made, once it has ended (completed or failed)."""
    row = session.execute(
        select(Audit.id, Audit.status, Audit.error)
        .where(Audit.fiche_id == fiche_id, Audit.scorecard_id == scorecard_id, Audit.run_id == run_id)
        .order_by(Audit.id.desc())
        .limit(1)
    ).first()
    if row is None or row.status not in {AuditStatus.COMPLETED, AuditStatus.FAILED}:
        return None
    return row.id, row.status, row.error


def heartbeat(session: Session, audit_id: int, now: dt.datetime) -> None:
    session.execute(update(Audit).where(Audit.id == audit_id).values(heartbeat_at=now))


def step_row(step: GatedStep, mode: TranscriptMode, usage: Usage, *, run_id: str | None = None) -> AuditStep:
    return AuditStep(
        run_id=run_id,
        position=step.position,
        name=step.name,
        severity=step.severity,
        is_critical=step.is_critical,
        weight=step.weight,
        traite=step.traite,
        conforme=step.conforme,
        score=step.score,
        niveau_conformite=step.niveau_conformite,
        commentaire_global=step.commentaire_global,
        mots_cles_trouves=list(step.mots_cles_trouves),
        minutages=list(step.minutages),
        erreurs_transcription_tolerees=step.erreurs_transcription_tolerees,
        total_citations=sum(len(p.citations) for p in step.points),
        failed=step.failed,
        error=(step.error or None) and step.error[:ERROR_LIMIT],
        transcript_mode=mode,
        input_tokens=usage.input_tokens,
        cached_input_tokens=usage.cached_input_tokens,
        output_tokens=usage.output_tokens,
        cost_usd=usage.cost_usd,
        gating=step.stats.as_json(),
        control_points=[
            AuditControlPoint(
                index=point.index,
                point=point.point,
                statut=point.statut,
                commentaire=point.commentaire,
                minutages=list(point.minutages),
                erreur_transcription_notee=point.erreur_transcription_notee,
                variation_phonetique_utilisee=point.variation_phonetique_utilisee,
                downgraded=point.downgraded,
                confidence=point.confidence,
                decision_rule=point.rule,
                citations=[
                    AuditCitation(
                        index=i,
                        texte=c.texte,
                        chunk_id=c.chunk_id,
                        call_id=c.call_id,
                        recording_index=c.recording_index,
                        chunk_index=c.chunk_index,
                        speaker=c.speaker,
                        role=c.role,
                        start_seconds=c.start_seconds,
                        end_seconds=c.end_seconds,
                        minutage=c.minutage,
                        recording_date=c.recording_date,
                        recording_time=c.recording_time,
                        recording_url=c.recording_url,
                        match=c.match,
                        similarity=c.similarity,
                    )
                    for i, c in enumerate(point.citations, start=1)
                ],
            )
            for point in step.points
        ],
    )


@dataclass(frozen=True)
class StepRecord:
    step: GatedStep
    mode: TranscriptMode
    usage: Usage


def complete_audit(
    session: Session,
    audit_id: int,
    steps: Sequence[StepRecord],
    compliance: Compliance,
    *,
    recordings: int,
    chunks: int,
    audited_seconds: float,
    transcript_mode: TranscriptMode,
    now: dt.datetime,
) -> None:
    """Write the steps and the verdict in one transaction, then make this audit the latest."""
    audit = session.get_one(Audit, audit_id)
    lock_pair(session, audit.fiche_id, audit.scorecard_id)
    session.refresh(audit)
    usage = sum((s.usage for s in steps), Usage())
    audit.steps = [step_row(s.step, s.mode, s.usage, run_id=audit.run_id) for s in steps]
    audit.status = AuditStatus.COMPLETED
    # The watchdog may have failed a slow (not dead) worker's audit: its verdict is real, the failure is not.
    audit.error = audit.failed_phase = None
    audit.transcript_mode = transcript_mode
    audit.score_percentage = Decimal(compliance.score_percentage)
    audit.points_earned = compliance.earned
    audit.points_total = compliance.total
    audit.niveau = compliance.niveau
    audit.is_compliant = compliance.is_compliant
    audit.critical_passed = compliance.critical_passed
    audit.critical_total = compliance.critical_total
    audit.successful_steps = sum(1 for s in steps if not s.step.failed)
    audit.failed_steps = sum(1 for s in steps if s.step.failed)
    audit.recordings_count = recordings
    audit.timeline_chunks = chunks
    audit.audited_seconds = audited_seconds
    audit.input_tokens = usage.input_tokens
    audit.cached_input_tokens = usage.cached_input_tokens
    audit.output_tokens = usage.output_tokens
    audit.cost_usd = usage.cost_usd
    audit.gating = summarise_gating(steps)
    flag = review_flag([s.step for s in steps])
    audit.needs_review = flag.needs_review
    audit.review_reasons = list(flag.reasons)
    audit.completed_at = now
    audit.heartbeat_at = now
    if audit.started_at is not None:
        audit.duration_ms = int((now - audit.started_at).total_seconds() * 1000)
    refresh_latest(session, audit.fiche_id, audit.scorecard_id)


@dataclass(frozen=True)
class LatestCandidate:
    id: int
    version: int
    status: str
    deleted: bool
    is_latest: bool


def choose_latest(candidates: Sequence[LatestCandidate]) -> int | None:
    """Which audit of one (fiche, scorecard) holds `is_latest`: the newest completed, not deleted
    one; with none completed, the current holder keeps it, else the newest not deleted attempt."""
    alive = [c for c in candidates if not c.deleted]
    completed = [c for c in alive if c.status == AuditStatus.COMPLETED]
    if completed:
        return max(completed, key=lambda c: c.version).id
    holder = next((c for c in alive if c.is_latest), None)
    if holder is not None:
        return holder.id
    return max(alive, key=lambda c: c.version).id if alive else None


def lock_pair(session: Session, fiche_id: str, scorecard_id: int) -> None:
    """Lock every audit of a (fiche, scorecard) pair in id order: whoever moves `is_latest` (an
    audit completing, a soft delete or restore) takes this first, so two of them never deadlock."""
    session.execute(
        select(Audit.id)
        .where(Audit.fiche_id == fiche_id, Audit.scorecard_id == scorecard_id)
        .order_by(Audit.id)
        .with_for_update()
    )


def refresh_latest(session: Session, fiche_id: str, scorecard_id: int) -> None:
    """Move `is_latest` of the pair to `choose_latest`'s pick: clear first, then set (the partial
    unique index `uq_audits_latest` is checked per statement). The pair's rows are locked so two
    writers of the same pair serialise."""
    pair = (Audit.fiche_id == fiche_id, Audit.scorecard_id == scorecard_id)
    session.flush()
    rows = session.execute(
        select(Audit.id, Audit.version, Audit.status, Audit.deleted_at, Audit.is_latest)
        .where(*pair)
        .order_by(Audit.id)
        .with_for_update()
    )
    candidates = [LatestCandidate(r.id, r.version, r.status, r.deleted_at is not None, r.is_latest) for r in rows]
    target = choose_latest(candidates)
    if [c.id for c in candidates if c.is_latest] == ([target] if target else []):
        return
    session.execute(update(Audit).where(*pair, Audit.is_latest, Audit.id != target).values(is_latest=False))
    if target is not None:
        session.execute(update(Audit).where(Audit.id == target).values(is_latest=True))
    session.expire_all()


_COUNTS = (
    "citations_total",
    "citations_valid",
    "citations_removed",
    "citations_tolerant",
    "citations_repointed",
    "citations_spanning_chunks",
    "points_downgraded",
    "points_missing",
)


def summarise_gating(steps: Sequence[StepRecord]) -> dict[str, Any]:
    """The audit's totals of what gating kept, removed, re-pointed and lowered, with removal reasons."""
    totals: dict[str, Any] = {key: sum(getattr(r.step.stats, key) for r in steps) for key in _COUNTS}
    reasons: Counter[str] = Counter()
    for record in steps:
        reasons.update({str(k): v for k, v in record.step.stats.removed_by_reason.items()})
    totals["removed_by_reason"] = dict(reasons)
    totals["steps_score_lowered"] = sum(1 for r in steps if r.step.stats.score_lowered)
    totals["steps_conformity_lowered"] = sum(1 for r in steps if r.step.stats.conformity_lowered)
    return totals


def fail_audit(session: Session, audit_id: int, error: str, *, phase: str, now: dt.datetime) -> None:
    audit = session.get_one(Audit, audit_id, with_for_update=True)
    if audit.status not in (AuditStatus.RUNNING, AuditStatus.PENDING):
        return
    audit.status = AuditStatus.FAILED
    audit.error = error[:ERROR_LIMIT]
    audit.failed_phase = phase
    audit.completed_at = now
    if audit.started_at is not None:
        # An audit failed long after it started (a dead worker found late) must still fit the int4 column.
        audit.duration_ms = min(int((now - audit.started_at).total_seconds() * 1000), MAX_INT4)


def _fail_stale(
    session: Session, pair: tuple[Any, ...], stale_before: dt.datetime, now: dt.datetime, trigger: Trigger
) -> None:
    stale = session.scalars(
        select(Audit.id)
        .where(
            *pair,
            # a `pending` audit waits for its run in Dagster's queue: the watchdog asks Dagster about it
            Audit.status == AuditStatus.RUNNING,
            func.coalesce(Audit.heartbeat_at, Audit.started_at, Audit.created_at) < stale_before,
        )
        .with_for_update(skip_locked=True)
    ).all()
    for audit_id in stale:
        taker = f" by run {trigger.run_id}" if trigger.run_id else ""
        fail_audit(session, audit_id, f"no progress from its worker; taken over{taker}", phase="takeover", now=now)


def stale_pending_runs(session: Session, *, stale_before: dt.datetime) -> set[str]:
    """Run ids of `pending` audits older than `stale_before`: is their run still waiting to start?"""
    rows = session.scalars(
        select(Audit.run_id).where(
            Audit.status == AuditStatus.PENDING, Audit.run_id.is_not(None), Audit.created_at < stale_before
        )
    )
    return {run_id for run_id in rows if run_id is not None}


def fail_stuck_audits(
    session: Session, *, stale_before: dt.datetime, now: dt.datetime, queued_runs: Collection[str] = ()
) -> list[Audit]:
    """Mark failed the running audits whose worker stopped sending heartbeats (the original had no
    watchdog), and the pending ones whose run will not start; a pending audit of a run still in
    Dagster's queue (`queued_runs`) waits, however long the queue."""
    waiting = and_(Audit.status == AuditStatus.PENDING, Audit.run_id.in_(sorted(queued_runs)))
    stuck = list(
        session.scalars(
            select(Audit)
            .where(
                Audit.status.in_((AuditStatus.RUNNING, AuditStatus.PENDING)),
                func.coalesce(Audit.heartbeat_at, Audit.started_at, Audit.created_at) < stale_before,
                ~waiting,
            )
            .with_for_update(skip_locked=True)
        )
    )
    for audit in stuck:
        fail_audit(
            session,
            audit.id,
            "no progress from the worker (stuck audit; the watchdog failed it)",
            phase="watchdog",
            now=now,
        )
    return stuck
