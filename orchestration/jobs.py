"""Every job: one per sales-day stage (CRM refresh, transcription, audit); ad-hoc fetches, transcriptions
and audits of given fiches (API, operators, the watchdog).

An ad-hoc job's run config is its request model from `runs.contract`, as a whole (a config mapping
hands it to every op), so launchers never name an op.
"""

import dagster as dg

from assets.audits import audits, run_audits
from assets.audits import report_metadata as audit_metadata
from assets.fiches import fiche_details, sales_fiches, sync_fiche_batch
from assets.transcripts import report_metadata, transcribe_fiches, transcripts
from callaudit.pools import LLM, STT
from domain.audits.store import Trigger
from domain.outbox import announce
from resources.crm.resource import CrmResource
from resources.database import DatabaseResource
from resources.llm.resource import LlmResource
from resources.redis.resource import RedisResource
from resources.stt.resource import SttResource
from runs.contract import (
    AUDIT_FICHES_JOB,
    AUDIT_SALES_DAY_JOB,
    FETCH_FICHES_JOB,
    SOURCE_TAG,
    SYNC_SALES_DAY_JOB,
    TRANSCRIBE_FICHES_JOB,
    TRANSCRIBE_SALES_DAY_JOB,
    AuditFiches,
    FetchFiches,
    TranscribeFiches,
)

#: One run per sales day fetches its sales list, then every listed fiche's details.
sync_sales_day_job = dg.define_asset_job(
    SYNC_SALES_DAY_JOB,
    selection=dg.AssetSelection.assets(sales_fiches, fiche_details),
    description="Search the day's sales in the CRM, then fetch every listed fiche's details.",
)

#: One sales day of the transcripts asset per run (the automation sensor asks for them).
transcribe_sales_day_job = dg.define_asset_job(
    TRANSCRIBE_SALES_DAY_JOB,
    selection=dg.AssetSelection.assets(transcripts),
    description="Transcribe one sales day's fetched fiches.",
)

#: One (sales day, scorecard) partition of the audits asset per run.
audit_sales_day_job = dg.define_asset_job(
    AUDIT_SALES_DAY_JOB,
    selection=dg.AssetSelection.assets(audits),
    description="Audit one sales day's transcribed fiches with one scorecard.",
)


@dg.op(
    pool="crm_fiche_fetch",
    description="Fetch the given fiches' details cache-first; per-fiche outcomes in the output metadata.",
)
def fetch_given_fiches(
    context: dg.OpExecutionContext,
    config: FetchFiches,
    crm: CrmResource,
    redis: RedisResource,
    database: DatabaseResource,
) -> dg.Output[dict[str, str]]:
    result = sync_fiche_batch(crm, redis, database, config.fiche_ids, force=config.force)
    outcomes = {r.fiche_id: r.outcome.value for r in result.report.results}
    return dg.Output(outcomes, metadata=result.metadata())


@dg.config_mapping
def _fetch_request(request: FetchFiches) -> dg.RunConfig:
    return dg.RunConfig(ops={fetch_given_fiches.name: request})


@dg.job(
    name=FETCH_FICHES_JOB,
    config=_fetch_request,
    description="Ad-hoc: fetch given fiches (configured with `fiche_ids`), e.g. from an API request.",
    tags={SOURCE_TAG: "adhoc"},
)
def fetch_fiches_job() -> None:
    fetch_given_fiches()


@dg.op(
    pool=STT,
    description="Transcribe the given fiches' recordings not yet transcribed; outcomes in the output metadata.",
)
def transcribe_given_fiches(
    context: dg.OpExecutionContext,
    config: TranscribeFiches,
    stt: SttResource,
    redis: RedisResource,
    database: DatabaseResource,
) -> dg.Output[dict[str, str]]:
    report = transcribe_fiches(
        stt, redis, database, config.fiche_ids, force=config.force, priority=config.priority, run_id=context.run_id
    )
    statuses = {f.fiche_id: f.status for f in report.fiches}
    return dg.Output(statuses, metadata=report_metadata(report))


@dg.config_mapping
def _transcribe_request(request: TranscribeFiches) -> dg.RunConfig:
    return dg.RunConfig(ops={transcribe_given_fiches.name: request})


@dg.job(
    name=TRANSCRIBE_FICHES_JOB,
    config=_transcribe_request,
    description="Ad-hoc: transcribe given fiches (configured with `fiche_ids`, `priority`), e.g. from an API "
    "request; queue order follows the run's `dagster/priority` tag, set by whoever launches it.",
    tags={SOURCE_TAG: "adhoc"},
)
def transcribe_fiches_job() -> None:
    transcribe_given_fiches()


@dg.op(
    pool=STT,
    description="Transcribe what the given fiches still miss (high priority), so they can be audited.",
)
def transcribe_before_audit(
    context: dg.OpExecutionContext,
    config: AuditFiches,
    stt: SttResource,
    redis: RedisResource,
    database: DatabaseResource,
) -> dg.Output[dict[str, str]]:
    report = transcribe_fiches(stt, redis, database, config.fiche_ids, priority="high", run_id=context.run_id)
    statuses = {f.fiche_id: f.status for f in report.fiches}
    return dg.Output(statuses, metadata=report_metadata(report))


@dg.op(
    pool=LLM,
    ins={"transcribed": dg.In(dg.Nothing)},
    description="Audit the given fiches with the scorecard; outcomes and cost in the output metadata.",
)
def audit_given_fiches(
    context: dg.OpExecutionContext,
    config: AuditFiches,
    llm: LlmResource,
    redis: RedisResource,
    database: DatabaseResource,
) -> dg.Output[dict[str, str]]:
    trigger = Trigger(source=config.trigger_source, user_id=config.user_id, run_id=context.run_id)
    report = run_audits(
        llm,
        redis,
        database,
        config.fiche_ids,
        scorecard_id=config.scorecard_id,
        trigger=trigger,
        use_rlm=config.use_rlm,
        force=config.force,
    )
    outcomes = {f.fiche_id: f.outcome.value for f in report.fiches}
    if config.trigger_source == "batch":
        failed = len(report.failures)
        counts = {"operation_type": "audit", "total": len(config.fiche_ids), "completed": len(report.completed)}
        counts |= {"failed": failed, "scorecard_id": config.scorecard_id, "run_id": context.run_id}
        with database.session() as session:
            announce.batch_completed(session, context.run_id, config.user_id, counts)
    return dg.Output(outcomes, metadata=audit_metadata(report))


@dg.config_mapping
def _audit_request(request: AuditFiches) -> dg.RunConfig:
    return dg.RunConfig(ops={transcribe_before_audit.name: request, audit_given_fiches.name: request})


@dg.job(
    name=AUDIT_FICHES_JOB,
    config=_audit_request,
    description="Ad-hoc: audit given fiches with one scorecard (transcribing first what is missing), e.g. from "
    "`POST /api/audits/run`; queue order follows the run's `dagster/priority` tag.",
    tags={SOURCE_TAG: "adhoc"},
)
def audit_fiches_job() -> None:
    audit_given_fiches(transcribed=transcribe_before_audit())
