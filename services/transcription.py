"""Transcribing fiches: every recording not yet transcribed (or whose audio changed, or forced).

Shared by the daily `transcripts` asset and the ad-hoc `transcribe_fiches_job`. One recording's
failure is recorded on that recording (status and reason) and never stops the others; a fiche with
a failed recording ends `partial` (or `failed` when nothing succeeded) with the reason. Only what no
recording could survive (the provider-wide Redis cap unavailable) aborts the batch.

A recording is claimed (a Redis lock, renewed while held) before its audio is downloaded: two runs
reaching the same recording (a backfill and an API launch, a retried run) never both pay for it;
the second waits for the first, then finds the recording transcribed and counts it as done by
another run.

Events go to the fiche's topic (`fiche:{id}`, catalogue in `domain.events`): `transcription.started`
and `.status_check`, per recording `.recording_started` then `.recording_completed` or
`.recording_failed` followed by `.progress`, then exactly one terminal `transcription.completed`
(also when there was nothing to do, and for a skipped fiche, its `outcome` saying so) or
`transcription.failed`; and, in a run, `batch.progress` / `batch.completed` on the run's job topic.
Publishing is best-effort: Postgres is the record.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from domain.errors import LockHeld, UnavailableError
from domain.events import BatchProgress, Event, fiche_topic
from domain.models.transcripts import FicheTranscriptionStatus
from domain.outbox import announce
from domain.transcripts.chunking import ChunkingRules, build_chunks
from domain.transcripts.store import (
    Coverage,
    RecordingRef,
    TranscriptWrite,
    coverage,
    load_recordings,
    set_fiche_status,
    store_failure,
    store_transcript,
)
from domain.upstream import TranscriptionFailed
from services.base import StageService, utc_now
from services.drain import Feed, drain
from services.ports import AudioSource, Claim, Claims, Publisher, Transcriber

log = logging.getLogger(__name__)
REASON_LIMIT = 1000
# Transcript writes are short transactions: two threads keep up with the provider calls, whereas the
# default pool's (CPUs + 4) threads of ORM work take the GIL from the event loop that starts the next
# calls, which then start late (measured by benchmarks/transcribe.py).
_DB_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="transcripts-db")
#: A recording claim's life without renewal: how long a dead run's claim blocks the recording.
CLAIM_SECONDS = 60.0
RENEW_SECONDS = CLAIM_SECONDS / 3


async def _keep_claim(lock: Claim, done: asyncio.Event) -> None:
    """Renew the claim until its holder is `done`.

    The event, not the cancellation alone, ends the loop: a cancel that lands while `extend` awaits
    Redis can be lost in the client, and the holder, which waits for this task before releasing, then
    waited for ever while the claim was renewed every RENEW_SECONDS and every other run waited on it
    (benchmarks/scale.py, four hosts on one day's recordings)."""
    while not done.is_set():
        await asyncio.sleep(RENEW_SECONDS)
        if done.is_set():
            return
        try:
            if not await lock.extend():
                log.warning("the claim %s expired while held", lock.key)
                return
        except UnavailableError as exc:
            log.warning("the claim %s could not be renewed (%s); retrying", lock.key, exc)


@asynccontextmanager
async def recording_claim(claims: Claims, recording_id: int, *, wait_timeout: float) -> AsyncIterator[None]:
    """Hold the recording's claim for the block, waiting up to `wait_timeout` for another run's."""
    lock = claims(f"stt:recording:{recording_id}", timeout=CLAIM_SECONDS, wait_timeout=wait_timeout)
    async with lock:
        done = asyncio.Event()
        keeper = asyncio.create_task(_keep_claim(lock, done))
        try:
            yield
        finally:
            done.set()
            keeper.cancel()
            await asyncio.wait([keeper])


@dataclass(frozen=True)
class RecordingOutcome:
    call_id: str
    ok: bool
    error: str | None = None
    audio_seconds: float = 0.0
    attempts: int = 0
    by_another_run: bool = False  # transcribed meanwhile by the run whose claim this one waited for


@dataclass(frozen=True)
class FicheReport:
    fiche_id: str
    status: str  # a FicheTranscriptionStatus, or "not_found" for a fiche not in the cache
    reason: str | None = None
    recordings: list[RecordingOutcome] = field(default_factory=list)
    already_transcribed: int = 0


@dataclass
class TranscriptionReport:
    fiches: list[FicheReport] = field(default_factory=list)
    provider: str = ""
    model: str = ""
    seconds: float = 0.0

    def _outcomes(self) -> list[RecordingOutcome]:
        return [r for f in self.fiches for r in f.recordings]

    @property
    def transcribed(self) -> int:
        return sum(r.ok and not r.by_another_run for r in self._outcomes())

    @property
    def failed(self) -> int:
        return sum(not r.ok for r in self._outcomes())

    @property
    def skipped(self) -> int:
        """Recordings not sent: already transcribed (before or by another run), or of a skipped fiche."""
        return sum(f.already_transcribed for f in self.fiches) + sum(r.by_another_run for r in self._outcomes())

    @property
    def audio_seconds(self) -> float:
        return sum(r.audio_seconds for r in self._outcomes())

    @property
    def fiche_statuses(self) -> Counter[str]:
        return Counter(f.status for f in self.fiches)

    @property
    def failures(self) -> dict[str, str]:
        return {f"{f.fiche_id}/{r.call_id}": r.error or "" for f in self.fiches for r in f.recordings if not r.ok}

    def metadata(self) -> dict[str, Any]:
        return {
            "fiches": len(self.fiches),
            **{f"fiches_{s.value}": self.fiche_statuses.get(s.value, 0) for s in FicheTranscriptionStatus},
            "recordings_transcribed": self.transcribed,
            "recordings_skipped": self.skipped,
            "recordings_failed": self.failed,
            "audio_minutes": round(self.audio_seconds / 60, 2),
            "cost_units": round(self.audio_seconds, 1),
            "cost_unit": "audio_seconds",
            "provider": self.provider,
            "model": self.model,
            "seconds": round(self.seconds, 3),
        }


class FicheTranscriber(StageService):
    """Transcribes fiches' recordings through one `Transcriber` and one session factory."""

    def __init__(
        self,
        client: Transcriber,
        sessions: sessionmaker[Session],
        publisher: Publisher | None,
        *,
        claims: Claims | None,
        max_recordings: int | None,
        priority: str = "normal",
        run_id: str | None = None,
        requester: int | None = None,
        rules: ChunkingRules | None = None,
        firm_names: Sequence[str] = (),
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        super().__init__(sessions, publisher, clock=clock, db_executor=_DB_THREADS)
        self.client = client
        self.claims = claims
        self.max_recordings = max_recordings
        self.priority = priority
        self.run_id = run_id
        self.requester = requester
        self.rules = rules or ChunkingRules()
        self.firm_names = tuple(firm_names)

    async def _event(self, fiche_id: str, event: str, payload: Mapping[str, Any]) -> None:
        await self._publish([fiche_topic(fiche_id)], event, {"fiche_id": fiche_id, "run_id": self.run_id, **payload})

    async def transcribe_fiches(self, fiches: list[str] | Feed, *, force: bool = False) -> TranscriptionReport:
        """The given fiches, or a day run's: every fiche the `Feed` lists until its upstream is done."""
        started = time.monotonic()
        provider = self.client.provider
        fed = isinstance(fiches, Feed)
        unique = [] if isinstance(fiches, Feed) else list(dict.fromkeys(fiches))  # a fiche listed twice: once
        batch = None
        if self.run_id:
            batch = BatchProgress(
                self._emit, self.run_id, "transcription", len(unique), growing=fed, requester=self.requester
            )

        async def one(fiche_id: str) -> FicheReport:
            if batch is not None and fed:
                batch.expect(1)
            report = await self.transcribe_fiche(fiche_id, force=force)
            if batch is not None:
                await batch.settled(ok=report.status not in {FicheTranscriptionStatus.FAILED, "not_found"})
            return report

        if isinstance(fiches, Feed):
            reports = list((await drain(fiches, one)).values())
            if batch is not None:
                await batch.close()
        else:
            reports = await asyncio.gather(*(one(fid) for fid in unique))
        return TranscriptionReport(reports, provider.name, provider.model, time.monotonic() - started)

    def _claim(self, session: Session, fiche_id: str, *, force: bool) -> list[RecordingRef] | None:
        """The fiche's recordings, and the fiche marked `running` when some are to be sent: one trip to
        the database per fiche, so a day's first recordings are not queued behind every fiche's reads."""
        recordings = load_recordings(session, fiche_id)
        if (
            recordings
            and not self._too_many(recordings)
            and any(r.needs_transcription(force=force) for r in recordings)
        ):
            set_fiche_status(
                session,
                fiche_id,
                FicheTranscriptionStatus.RUNNING,
                reason=None,
                counts=coverage(session, fiche_id),
                priority=self.priority,
                run_id=self.run_id,
                now=self._clock(),
                finished=False,
            )
        return recordings

    def _too_many(self, recordings: list[RecordingRef]) -> bool:
        return self.max_recordings is not None and len(recordings) > self.max_recordings

    async def transcribe_fiche(self, fiche_id: str, *, force: bool = False) -> FicheReport:
        began = time.monotonic()
        recordings = await self._db(lambda s: self._claim(s, fiche_id, force=force))
        if recordings is None:
            missing = "fiche not in the cache (fetch its details first)"
            failure = {"error": missing, "reason": missing, "failed_at": self._clock(), "status": "failed"}
            await self._event(fiche_id, Event.TRANSCRIPTION_FAILED, failure)
            return FicheReport(fiche_id, "not_found", missing)
        if self._too_many(recordings):
            too_many = f"too_many_recordings: {len(recordings)} > {self.max_recordings}"
            await self._finish(fiche_id, FicheTranscriptionStatus.SKIPPED, too_many, began=began)
            return FicheReport(
                fiche_id, FicheTranscriptionStatus.SKIPPED, too_many, already_transcribed=len(recordings)
            )
        targets = [r for r in recordings if r.needs_transcription(force=force)]
        already = len(recordings) - len(targets)
        since = self._clock()
        await self._event(
            fiche_id,
            Event.TRANSCRIPTION_STARTED,
            {
                "total_recordings": len(recordings),
                "to_transcribe": len(targets),
                "priority": self.priority,
                "started_at": since,
                "status": "started",
            },
        )
        await self._event(
            fiche_id,
            Event.TRANSCRIPTION_STATUS_CHECK,
            {
                "total_recordings": len(recordings),
                "already_transcribed": already,
                "needs_transcription": len(targets),
                "is_complete": not targets,
                "status": "checked",
            },
        )
        if not targets:
            await self._finish(fiche_id, FicheTranscriptionStatus.COMPLETE, None, began=began, already_complete=True)
            return FicheReport(fiche_id, FicheTranscriptionStatus.COMPLETE, already_transcribed=already)

        progress = _Progress(len(recordings), already, len(targets))
        outcomes = await asyncio.gather(
            *(self._recording(fiche_id, r, force, since, _Slot(i, progress)) for i, r in enumerate(targets, start=1))
        )
        failed = [o for o in outcomes if not o.ok]
        reason: str | None = None
        if not failed:
            status = FicheTranscriptionStatus.COMPLETE
        else:
            status = (
                FicheTranscriptionStatus.FAILED if len(failed) == len(outcomes) else FicheTranscriptionStatus.PARTIAL
            )
            detail = "; ".join(f"{o.call_id}: {o.error}" for o in failed)
            reason = f"{len(failed)} of {len(recordings)} recording(s) failed: {detail}"[:REASON_LIMIT]
        await self._finish(fiche_id, status, reason, began=began)
        return FicheReport(fiche_id, status, reason, list(outcomes), already)

    async def _finish(
        self, fiche_id: str, status: str, reason: str | None, *, began: float, already_complete: bool = False
    ) -> None:
        now = self._clock()

        def write(session: Session) -> Coverage:
            counts = coverage(session, fiche_id)
            set_fiche_status(
                session,
                fiche_id,
                status,
                reason=reason,
                counts=counts,
                priority=self.priority,
                run_id=self.run_id,
                now=now,
                finished=True,
            )
            summary = {"status": status, "reason": reason, "total_recordings": counts.total, "run_id": self.run_id}
            summary |= {"transcribed": counts.transcribed, "failed": counts.failed}
            announce.transcription_finished(session, fiche_id, status == FicheTranscriptionStatus.FAILED, summary)
            return counts

        counts = await self._db(write)
        payload: dict[str, Any] = {
            "outcome": status,
            "reason": reason,
            "total_recordings": counts.total,
            "transcribed": counts.transcribed,
            "failed": counts.failed,
            "priority": self.priority,
        }
        if already_complete:
            payload["already_complete"] = True
        if status == FicheTranscriptionStatus.FAILED:
            failure = {"error": reason or status, "failed_at": now, "status": "failed"}
            await self._event(fiche_id, Event.TRANSCRIPTION_FAILED, {**payload, **failure})
        else:
            done = {"duration_seconds": round(time.monotonic() - began, 3), "completed_at": now, "status": "completed"}
            await self._event(fiche_id, Event.TRANSCRIPTION_COMPLETED, {**payload, **done})

    async def _recording(
        self, fiche_id: str, recording: RecordingRef, force: bool, since: dt.datetime, slot: _Slot
    ) -> RecordingOutcome:
        outcome = await self._claim_recording(fiche_id, recording, force, since, slot)
        await self._event(fiche_id, Event.TRANSCRIPTION_PROGRESS, slot.progress.settled(ok=outcome.ok))
        return outcome

    async def _claim_recording(
        self, fiche_id: str, recording: RecordingRef, force: bool, since: dt.datetime, slot: _Slot
    ) -> RecordingOutcome:
        """Transcribe under the recording's claim, unless the run that held it did it meanwhile."""
        if self.claims is None:
            return await self._transcribe_recording(fiche_id, recording, slot)
        wait = self.client.limits.recording_timeout
        try:
            async with recording_claim(self.claims, recording.id, wait_timeout=wait):
                current = await self._db(lambda s: _reload(s, fiche_id, recording.id))
                if current is not None and _done_meanwhile(current, force=force, since=since):
                    return RecordingOutcome(recording.call_id, True, by_another_run=True)
                return await self._transcribe_recording(fiche_id, current or recording, slot)
        except LockHeld:
            error = f"another run kept this recording claimed for {wait:g} s"
            return RecordingOutcome(recording.call_id, False, error)

    async def _transcribe_recording(self, fiche_id: str, recording: RecordingRef, slot: _Slot) -> RecordingOutcome:
        provider = self.client.provider
        source = AudioSource(recording.call_id, recording.url, recording.duration_seconds)
        position = {"call_id": recording.call_id, **slot.position()}
        await self._event(fiche_id, Event.TRANSCRIPTION_RECORDING_STARTED, {**position, "status": "processing"})
        try:
            done = await self.client.transcribe(source)
        except TranscriptionFailed as exc:
            error, attempts = str(exc.error), exc.attempts
            await self._db(
                lambda s: store_failure(s, fiche_id, recording, provider=provider.name, error=error, attempts=attempts)
            )
            await self._event(
                fiche_id, Event.TRANSCRIPTION_RECORDING_FAILED, {**position, "error": error, "status": "failed"}
            )
            return RecordingOutcome(recording.call_id, False, error, attempts=attempts)
        result = done.result
        write = TranscriptWrite(
            provider=result.provider,
            model=result.model,
            text=result.text,
            words=result.words,
            chunks=build_chunks(recording.call_id, result.words, self.rules),
            language=result.language,
            language_probability=result.language_probability,
            duration_seconds=result.duration_seconds,
            provider_transcript_id=result.provider_transcript_id,
            attempts=done.attempts,
        )
        now = self._clock()

        def store(session: Session) -> int:
            transcript = store_transcript(session, fiche_id, recording, write, now, firm_names=self.firm_names)
            session.flush()
            return transcript.id

        transcription_id = await self._db(store)
        await self._event(
            fiche_id,
            Event.TRANSCRIPTION_RECORDING_COMPLETED,
            {
                **position,
                "transcription_id": transcription_id,
                "chunks": len(write.chunks),
                "provider": result.provider,
                "status": "completed",
            },
        )
        return RecordingOutcome(
            recording.call_id, True, audio_seconds=result.duration_seconds or 0.0, attempts=done.attempts
        )


@dataclass
class _Progress:
    """A fiche's recordings while its transcription runs, for `transcription.progress`."""

    total_recordings: int
    transcribed: int  # already before the run, then as recordings succeed
    to_transcribe: int
    failed: int = 0

    def settled(self, *, ok: bool) -> dict[str, Any]:
        if ok:
            self.transcribed += 1
        else:
            self.failed += 1
        done = self.transcribed + self.failed
        return {
            "total_recordings": self.total_recordings,
            "transcribed": self.transcribed,
            "pending": self.total_recordings - done,
            "failed": self.failed,
            "progress_percentage": round(100 * done / self.total_recordings) if self.total_recordings else 100,
            "status": "in_progress",
        }


@dataclass(frozen=True)
class _Slot:
    """One recording's place in its fiche's run (1-based index among those to transcribe)."""

    index: int
    progress: _Progress

    def position(self) -> dict[str, int]:
        return {"recording_index": self.index, "total_to_transcribe": self.progress.to_transcribe}


def _reload(session: Session, fiche_id: str, recording_id: int) -> RecordingRef | None:
    return next((r for r in load_recordings(session, fiche_id) or [] if r.id == recording_id), None)


def _done_meanwhile(recording: RecordingRef, *, force: bool, since: dt.datetime) -> bool:
    """Transcribed (this audio) while this run waited for the claim; a forced run accepts only a
    transcript made after it started."""
    if recording.needs_transcription(force=False):
        return False
    return not force or (recording.transcribed_at is not None and recording.transcribed_at >= since)
