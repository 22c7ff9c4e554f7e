"""Transcribing fiches: every recording not yet transcribed (or whose audio changed, or forced).

Shared by the daily `transcripts` asset and the ad-hoc `transcribe_fiches_job`. One recording's
failure is recorded on that recording (status and reason) and never stops the others; a fiche with
a failed recording ends `partial` (or `failed` when nothing succeeded) with the reason. Only what no
recording could survive (the provider-wide Redis cap unavailable) aborts the batch.

A recording is claimed (a Redis lock, renewed while held) before its audio is downloaded: two runs
reaching the same recording (a backfill and an API launch, a retried run) never both pay for it;
the second waits for the first, then finds the recording transcribed and counts it as done by
another run.

Events go to the fiche's topic (`fiche:{id}`): `transcription.started`,
`transcription.recording_completed`, `transcription.recording_failed`, then exactly one terminal
`transcription.completed` (also when there was nothing to do, and for a skipped fiche, with its
`status`) or `transcription.failed`. Publishing is best-effort: Postgres is the record.
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
from typing import Any, TypeVar

from redis.asyncio import Redis as AsyncRedis
from sqlalchemy.orm import Session, sessionmaker

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
from resources.database import in_thread_transaction
from resources.redis import EventPublisher, LockNotAcquired, RedisLock, RedisUnavailable
from resources.stt.base import AudioSource
from resources.stt.client import SttClient, TranscriptionFailed

log = logging.getLogger(__name__)
T = TypeVar("T")
REASON_LIMIT = 1000
# Transcript writes are short transactions: two threads keep up with the provider calls, whereas the
# default pool's (CPUs + 4) threads of ORM work take the GIL from the event loop that starts the next
# calls, which then start late (measured by benchmarks/transcribe.py).
_DB_THREADS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="transcripts-db")
#: A recording claim's life without renewal: how long a dead run's claim blocks the recording.
CLAIM_SECONDS = 60.0


async def _keep_claim(lock: RedisLock) -> None:
    while True:
        await asyncio.sleep(CLAIM_SECONDS / 3)
        try:
            if not await lock.extend():
                log.warning("the claim %s expired while held", lock.key)
                return
        except RedisUnavailable as exc:
            log.warning("the claim %s could not be renewed (%s); retrying", lock.key, exc)


@asynccontextmanager
async def recording_claim(redis: AsyncRedis, recording_id: int, *, wait_timeout: float) -> AsyncIterator[None]:
    """Hold the recording's claim for the block, waiting up to `wait_timeout` for another run's."""
    lock = RedisLock(redis, f"stt:recording:{recording_id}", timeout=CLAIM_SECONDS, wait_timeout=wait_timeout)
    async with lock:
        keeper = asyncio.create_task(_keep_claim(lock))
        try:
            yield
        finally:
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


class FicheTranscriber:
    """Transcribes fiches' recordings through one `SttClient` and one session factory."""

    def __init__(
        self,
        client: SttClient,
        sessions: sessionmaker[Session],
        publisher: EventPublisher | None,
        *,
        claims: AsyncRedis | None,
        max_recordings: int | None,
        priority: str = "normal",
        run_id: str | None = None,
        rules: ChunkingRules | None = None,
        firm_names: Sequence[str] = (),
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.client = client
        self.sessions = sessions
        self.publisher = publisher
        self.claims = claims
        self.max_recordings = max_recordings
        self.priority = priority
        self.run_id = run_id
        self.rules = rules or ChunkingRules()
        self.firm_names = tuple(firm_names)
        self._clock = clock

    async def _db(self, work: Callable[[Session], T]) -> T:
        return await in_thread_transaction(self.sessions, work, _DB_THREADS)

    async def _publish(self, fiche_id: str, event: str, payload: Mapping[str, Any]) -> None:
        if self.publisher is None:
            return
        try:
            await self.publisher.publish(
                f"fiche:{fiche_id}", event, {"fiche_id": fiche_id, "run_id": self.run_id, **payload}
            )
        except RedisUnavailable as exc:
            log.warning("event %s for fiche %s not published: %s", event, fiche_id, exc)

    async def transcribe_fiches(self, fiche_ids: list[str], *, force: bool = False) -> TranscriptionReport:
        started = time.monotonic()
        provider = self.client.provider
        unique = list(dict.fromkeys(fiche_ids))  # a fiche listed twice is still transcribed once
        reports = await asyncio.gather(*(self.transcribe_fiche(fid, force=force) for fid in unique))
        return TranscriptionReport(list(reports), provider.name, provider.model, time.monotonic() - started)

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
        recordings = await self._db(lambda s: self._claim(s, fiche_id, force=force))
        if recordings is None:
            missing = "fiche not in the cache (fetch its details first)"
            await self._publish(fiche_id, "transcription.failed", {"reason": missing})
            return FicheReport(fiche_id, "not_found", missing)
        if self._too_many(recordings):
            too_many = f"too_many_recordings: {len(recordings)} > {self.max_recordings}"
            await self._finish(fiche_id, FicheTranscriptionStatus.SKIPPED, too_many)
            return FicheReport(
                fiche_id, FicheTranscriptionStatus.SKIPPED, too_many, already_transcribed=len(recordings)
            )
        targets = [r for r in recordings if r.needs_transcription(force=force)]
        already = len(recordings) - len(targets)
        if not targets:
            await self._finish(fiche_id, FicheTranscriptionStatus.COMPLETE, None, already_complete=True)
            return FicheReport(fiche_id, FicheTranscriptionStatus.COMPLETE, already_transcribed=already)

        await self._publish(
            fiche_id,
            "transcription.started",
            {"total_recordings": len(recordings), "to_transcribe": len(targets), "priority": self.priority},
        )
        since = self._clock()
        outcomes = await asyncio.gather(*(self._claim_recording(fiche_id, r, force, since) for r in targets))
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
        await self._finish(fiche_id, status, reason)
        return FicheReport(fiche_id, status, reason, list(outcomes), already)

    async def _finish(self, fiche_id: str, status: str, reason: str | None, *, already_complete: bool = False) -> None:
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
            "status": status,
            "reason": reason,
            "total_recordings": counts.total,
            "transcribed": counts.transcribed,
            "failed": counts.failed,
            "priority": self.priority,
        }
        if already_complete:
            payload["already_complete"] = True
        event = "transcription.failed" if status == FicheTranscriptionStatus.FAILED else "transcription.completed"
        await self._publish(fiche_id, event, payload)

    async def _claim_recording(
        self, fiche_id: str, recording: RecordingRef, force: bool, since: dt.datetime
    ) -> RecordingOutcome:
        """Transcribe under the recording's claim, unless the run that held it did it meanwhile."""
        if self.claims is None:
            return await self._transcribe_recording(fiche_id, recording)
        wait = self.client.limits.recording_timeout
        try:
            async with recording_claim(self.claims, recording.id, wait_timeout=wait):
                current = await self._db(lambda s: _reload(s, fiche_id, recording.id))
                if current is not None and _done_meanwhile(current, force=force, since=since):
                    return RecordingOutcome(recording.call_id, True, by_another_run=True)
                return await self._transcribe_recording(fiche_id, current or recording)
        except LockNotAcquired:
            error = f"another run kept this recording claimed for {wait:g} s"
            return RecordingOutcome(recording.call_id, False, error)

    async def _transcribe_recording(self, fiche_id: str, recording: RecordingRef) -> RecordingOutcome:
        provider = self.client.provider
        source = AudioSource(recording.call_id, recording.url, recording.duration_seconds)
        try:
            done = await self.client.transcribe(source)
        except TranscriptionFailed as exc:
            error, attempts = str(exc.error), exc.attempts
            await self._db(
                lambda s: store_failure(s, fiche_id, recording, provider=provider.name, error=error, attempts=attempts)
            )
            await self._publish(
                fiche_id, "transcription.recording_failed", {"call_id": recording.call_id, "error": error}
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
        await self._db(lambda s: store_transcript(s, fiche_id, recording, write, now, firm_names=self.firm_names))
        await self._publish(
            fiche_id,
            "transcription.recording_completed",
            {"call_id": recording.call_id, "chunks": len(write.chunks), "provider": result.provider},
        )
        return RecordingOutcome(
            recording.call_id, True, audio_seconds=result.duration_seconds or 0.0, attempts=done.attempts
        )


def _reload(session: Session, fiche_id: str, recording_id: int) -> RecordingRef | None:
    return next((r for r in load_recordings(session, fiche_id) or [] if r.id == recording_id), None)


def _done_meanwhile(recording: RecordingRef, *, force: bool, since: dt.datetime) -> bool:
    """Transcribed (this audio) while this run waited for the claim; a forced run accepts only a
    transcript made after it started."""
    if recording.needs_transcription(force=False):
        return False
    return not force or (recording.transcribed_at is not None and recording.transcribed_at >= since)
