"""Jobs: the daily CRM refresh; ad-hoc fetches, transcriptions and audits of given fiches (API, operators)."""

import dagster as dg
from pydantic import Field

from assets.audits import report_metadata as audit_metadata
from assets.audits import run_audits
from assets.fiches import fiche_details, sales_fiches, sync_fiche_batch
from assets.transcripts import report_metadata, transcribe_fiches
from callaudit.pools import LLM, STT
from domain.audits.store import Trigger
from domain.outbox import announce
from domain.transcripts.priority import Priority
from resources.crm.resource import CrmResource
from resources.database import DatabaseResource
from resources.llm.resource import LlmResource
from resources.redis.resource import RedisResource
from resources.stt.resource import SttResource

#: One run per sales day fetches its sales list, then every listed fiche's details.
sync_sales_day_job = dg.define_asset_job(
    "sync_sales_day",
    selection=dg.AssetSelection.assets(sales_fiches, fiche_details),
    description="Search the day's sales in the CRM, then fetch every listed fiche's details.",
)


class FetchFichesConfig(dg.Config):
    fiche_ids: list[str] = Field(min_length=1, max_length=5000, description="CRM fiche ids")
    force: bool = Field(False, description="Refetch even fresh details (the refresh cooldown still applies)")


@dg.op(
    pool="crm_fiche_fetch",
    description="Fetch the given fiches' details cache-first; per-fiche outcomes in the output metadata.",
)
def fetch_given_fiches(
    context: dg.OpExecutionContext,
    config: FetchFichesConfig,
    crm: CrmResource,
    redis: RedisResource,
    database: DatabaseResource,
) -> dg.Output[dict[str, str]]:
    result = sync_fiche_batch(crm, redis, database, config.fiche_ids, force=config.force)
    outcomes = {r.fiche_id: r.outcome.value for r in result.report.results}
    return dg.Output(outcomes, metadata=result.metadata())


@dg.job(
    description="Ad-hoc: fetch given fiches (configured with `fiche_ids`), e.g. from an API request.",
    tags={"app/source": "adhoc"},
)
def fetch_fiches_job() -> None:
    fetch_given_fiches()


class TranscribeFichesConfig(dg.Config):
    fiche_ids: list[str] = Field(min_length=1, max_length=5000, description="CRM fiche ids")
    priority: Priority = Field(
        "normal", description="Carried on events and fiche status; launch with the matching `dagster/priority` tag"
    )
    force: bool = Field(False, description="Transcribe again recordings already transcribed")


@dg.op(
    pool=STT,
    description="Transcribe the given fiches' recordings not yet transcribed; outcomes in the output metadata.",
)
def transcribe_given_fiches(
    context: dg.OpExecutionContext,
    config: TranscribeFichesConfig,
    stt: SttResource,
    redis: RedisResource,
    database: DatabaseResource,
) -> dg.Output[dict[str, str]]:
    report = transcribe_fiches(
        stt, redis, database, config.fiche_ids, force=config.force, priority=config.priority, run_id=context.run_id
    )
    statuses = {f.fiche_id: f.status for f in report.fiches}
    return dg.Output(statuses, metadata=report_metadata(report))


@dg.job(
    description="Ad-hoc: transcribe given fiches (configured with `fiche_ids`, `priority`), e.g. from an API "
    "request; queue order follows the run's `dagster/priority` tag, set by whoever launches it.",
    tags={"app/source": "adhoc"},
)
def transcribe_fiches_job() -> None:
    transcribe_given_fiches()


class AuditFichesConfig(dg.Config):
    fiche_ids: list[str] = Field(min_length=1, max_length=5000, description="CRM fiche ids")
    scorecard_id: int = Field(description="Scorecard whose current version the fiches are audited with")
    use_rlm: bool = Field(False, description="Transcript tools mode instead of the whole transcript in the prompt")
    force: bool = Field(True, description="Audit again even when an audit from the same inputs exists")
    trigger_source: str = Field("api", description="api | batch | automation | demo …, recorded on each audit")
    user_id: int | None = Field(None, description="The user who asked, recorded on each audit")


@dg.op(
    pool=STT,
    description="Transcribe what the given fiches still miss (high priority), so they can be audited.",
)
def transcribe_before_audit(
    context: dg.OpExecutionContext,
    config: AuditFichesConfig,
    stt: SttResource,
    redis: RedisResource,
    database: DatabaseResource,
) -> dg.Output[dict[str, object]]:
    report = transcribe_fiches(stt, redis, database, config.fiche_ids, priority="high", run_id=context.run_id)
    return dg.Output(config.model_dump(), metadata=report_metadata(report))


@dg.op(pool=LLM, description="Audit the given fiches with the scorecard; outcomes and cost in the output metadata.")
def audit_given_fiches(
    context: dg.OpExecutionContext,
    request: dict[str, object],
    llm: LlmResource,
    redis: RedisResource,
    database: DatabaseResource,
) -> dg.Output[dict[str, str]]:
    config = AuditFichesConfig.model_validate(request)
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


@dg.job(
    description="Ad-hoc: audit given fiches with one scorecard (transcribing first what is missing), e.g. from "
    "`POST /api/audits/run`; queue order follows the run's `dagster/priority` tag.",
    tags={"app/source": "adhoc"},
)
def audit_fiches_job() -> None:
    audit_given_fiches(transcribe_before_audit())
