"""Transcription asset: every recording of the day's fiches, once, cut into speaker-turn chunks.

Partitioned like the ingestion assets and incremental: a re-run sends only recordings never
transcribed, failed last time, or whose audio changed (`domain.transcripts.store.audio_key`).
"""

import datetime as dt
from functools import partial
from typing import Any

import dagster as dg
from redis.asyncio import Redis as AsyncRedis

from assets.fiches import fiche_details
from assets.metadata import failures_table
from assets.partitions import DECLARED_SALES_DAYS
from assets.stage import day_feed, run_stage
from callaudit.pools import STT
from callaudit.settings import Settings
from domain import stages
from domain.partitions import day_transcription
from resources.database import DatabaseResource, sync_session_factory
from resources.redis import RedisLock, RedisUnavailable
from resources.redis.resource import RedisResource
from resources.stt.errors import SttAuthError
from resources.stt.resource import SttResource
from services.drain import Feed
from services.transcription import FicheTranscriber, TranscriptionReport


def transcribe_fiches(
    stt: SttResource,
    redis: RedisResource,
    database: DatabaseResource,
    fiches: list[str] | Feed,
    *,
    force: bool = False,
    priority: str = "normal",
    run_id: str | None = None,
    requester: int | None = None,
    automated: bool = False,
) -> TranscriptionReport:
    """Transcribe the given fiches (or a day run's `Feed`) in a fresh event loop; `dg.Failure` when
    nothing can run. `automated` runs skip fiches over AUTOMATION_MAX_RECORDINGS_PER_FICHE recordings;
    `requester`: who asked, told by a `notification` when the run's fiches are settled."""

    async def main(client_redis: AsyncRedis) -> TranscriptionReport:
        async with stt.client(client_redis) as client:
            transcriber = FicheTranscriber(
                client,
                sync_session_factory(database.engine),
                redis.async_publisher(client_redis),
                claims=partial(RedisLock, client_redis),
                max_recordings=stt.max_recordings(automated=automated),
                firm_names=tuple(stt.firm_names),
                priority=priority,
                run_id=run_id,
                requester=requester,
            )
            return await transcriber.transcribe_fiches(fiches, force=force)

    return run_stage(redis, main, fatal=(SttAuthError, RedisUnavailable))


def report_metadata(report: TranscriptionReport) -> dict[str, Any]:
    return {**report.metadata(), "failures": failures_table(report.failures, "fiche/call")}


@dg.asset(
    partitions_def=DECLARED_SALES_DAYS,
    deps=[fiche_details],
    group_name="transcription",
    kinds={"python", "postgres"},
    code_version="1",
    pool=STT,
)
def transcripts(
    context: dg.AssetExecutionContext,
    stt: SttResource,
    redis: RedisResource,
    database: DatabaseResource,
    settings: dg.ResourceParam[Settings],
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """Transcripts of every recording of the day's fiches (with details), as speaker-turn chunks.

    Recordings already transcribed are not sent again; one recording's failure is recorded on it
    and its fiche ends `partial`; fiches with more recordings than
    AUTOMATION_MAX_RECORDINGS_PER_FICHE are recorded as skipped. While a run fetching the day's
    details is under way, fiches are taken as their details land (`services.drain`).
    """
    day = dt.date.fromisoformat(context.partition_key)
    feed = day_feed(context, database, settings, stages.ready_to_transcribe(day), {fiche_details.key})
    report = transcribe_fiches(stt, redis, database, feed, run_id=context.run.run_id, automated=True)
    if report.failed:
        context.log.warning("%d recording(s) failed; first: %s", report.failed, next(iter(report.failures.items())))
    with database.session() as session:
        day_state = day_transcription(session, day)
    # The day's state after the run (`day_*`) beside what this run did.
    return dg.MaterializeResult(metadata={**day_state.metadata(), **report_metadata(report)})
