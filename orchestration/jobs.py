"""Every job: one per sales-day stage (CRM refresh, transcription, audit); ad-hoc fetches, transcriptions
and audits of given fiches (API, operators, the watchdog); one automation run of a user schedule.

An ad-hoc job's run config is its request model from `runs.contract`, as a whole (a config mapping
hands it to every op), so launchers never name an op.
"""

import datetime as dt
from collections.abc import Sequence
from typing import Any

import dagster as dg
from redis import Redis

from assets.audits import audits, run_audits
from assets.audits import report_metadata as audit_metadata
from assets.fiches import fiche_details, run_with_crm, sales_fiches, sync_fiche_batch
from assets.stage import MATERIALIZES_TAG
from assets.transcripts import report_metadata, transcribe_fiches, transcripts
from callaudit.pools import CRM_FICHE_FETCH, LLM, STT
from callaudit.secrets import sealer_for
from callaudit.settings import Settings
from domain.audits.store import Trigger
from domain.models.automation import EXTERNAL_API_KEY_PURPOSE, AutomationRun, AutomationSchedule
from domain.outbox import announce
from domain.schedules.debug_log import debug_log_for
from domain.schedules.notifications import TableNotifier
from domain.schedules.runner import AutomationRunner, RunSettings
from resources.crm.resource import CrmResource
from resources.database import DatabaseResource, sync_session_factory
from resources.llm.resource import LlmResource
from resources.redis.resource import RedisResource
from resources.stt.resource import SttResource
from runs.contract import (
    AUDIT_FICHES_JOB,
    AUDIT_SALES_DAY_JOB,
    AUTOMATION_RUN_JOB,
    FETCH_FICHES_JOB,
    SOURCE_TAG,
    SYNC_SALES_DAY_JOB,
    TRANSCRIBE_FICHES_JOB,
    TRANSCRIBE_SALES_DAY_JOB,
    USER_TAG,
    AuditFiches,
    FetchFiches,
    RunAutomation,
    TranscribeFiches,
)
from services.ingestion import FicheSync

#: One run per sales day fetches its sales list, then every listed fiche's details.
sync_sales_day_job = dg.define_asset_job(
    SYNC_SALES_DAY_JOB,
    selection=dg.AssetSelection.assets(sales_fiches, fiche_details),
    description="Search the day's sales in the CRM, then fetch every listed fiche's details.",
    run_tags={MATERIALIZES_TAG: "sales_fiches,fiche_details"},
)

#: One sales day of the transcripts asset per run (the automation sensor asks for them).
transcribe_sales_day_job = dg.define_asset_job(
    TRANSCRIBE_SALES_DAY_JOB,
    selection=dg.AssetSelection.assets(transcripts),
    description="Transcribe one sales day's fetched fiches.",
    run_tags={MATERIALIZES_TAG: "transcripts"},
)

#: One (sales day, scorecard) partition of the audits asset per run.
audit_sales_day_job = dg.define_asset_job(
    AUDIT_SALES_DAY_JOB,
    selection=dg.AssetSelection.assets(audits),
    description="Audit one sales day's transcribed fiches with one scorecard.",
)


@dg.op(
    pool=CRM_FICHE_FETCH,
    description="Fetch the given fiches' details cache-first; per-fiche outcomes in the output metadata.",
)
def fetch_given_fiches(  # noqa: PLR0917 - Dagster resources are parameters
    context: dg.OpExecutionContext,
    config: FetchFiches,
    crm: CrmResource,
    redis: RedisResource,
    database: DatabaseResource,
    settings: dg.ResourceParam[Settings],
) -> dg.Output[dict[str, str]]:
    result = sync_fiche_batch(crm, redis, database, config.fiche_ids, force=config.force, settings=settings)
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
    requester = context.run.tags.get(USER_TAG)  # who asked, as the launch tagged it (`runs.contract.run_tags`)
    report = transcribe_fiches(
        stt,
        redis,
        database,
        config.fiche_ids,
        force=config.force,
        priority=config.priority,
        run_id=context.run_id,
        requester=int(requester) if requester else None,
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
def audit_given_fiches(  # noqa: PLR0917 - Dagster resources are parameters
    context: dg.OpExecutionContext,
    config: AuditFiches,
    llm: LlmResource,
    redis: RedisResource,
    database: DatabaseResource,
    settings: dg.ResourceParam[Settings],
) -> dg.Output[dict[str, str]]:
    trigger = Trigger(source=config.trigger_source, user_id=config.user_id, run_id=context.run_id)
    report = run_audits(
        llm,
        redis,
        database,
        config.fiche_ids,
        scorecard_id=config.scorecard_id,
        trigger=trigger,
        settings=settings,
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


#: One automation run of a user schedule (`domain.schedules.runner`) through the same code as the
#: assets and ad-hoc jobs: the CRM sync with its Redis caps, the transcriber with its locks and
#: provider throttle, the audit engine with gating and tools mode. Its runs are tagged with the
#: schedule (`app/automation_schedule`, `app/automation_run_id`) so the Dagster UI shows them.


class DagsterPipeline:
    """The runner's stages on this run's resources (see `domain.schedules.runner.Pipeline`)."""

    def __init__(
        self,
        context: dg.OpExecutionContext,
        *,
        crm: CrmResource,
        stt: SttResource,
        llm: LlmResource,
        redis: RedisResource,
        database: DatabaseResource,
        settings: Settings,
        automation_run_id: int,
        schedule_id: int,
        crm_token: str | None = None,
    ) -> None:
        self.context = context
        self.crm, self.stt, self.llm, self.redis, self.database = crm, stt, llm, redis, database
        self.settings = settings
        # The schedule's own CRM token, for its sales searches only (as the original's externalApiKey).
        self.search_crm = crm if crm_token is None else crm.model_copy(update={"auth_token": crm_token})
        self.trigger = Trigger(
            source="automation",
            run_id=context.run_id,
            automation_run_id=automation_run_id,
            automation_schedule_id=schedule_id,
        )

    def sync_day(self, day: dt.date) -> None:
        settings = self.settings

        async def work(sync: FicheSync) -> tuple[Any, int]:
            result = await sync.sync_sales_day(day, include_recordings=settings.fiche_sales_include_recordings)
            return result, await sync.link_groups()

        (result, linked), metrics = run_with_crm(self.search_crm, self.redis, self.database, 1, work, settings=settings)
        if day >= settings.sales_partitions_start:
            # The same write as the `sales_fiches` asset: the day's partition shows it in the UI.
            self.context.log_event(
                dg.AssetMaterialization(
                    asset_key="sales_fiches",
                    partition=day.isoformat(),
                    metadata={
                        "fiches": result.fiches,
                        "new_fiches": result.created,
                        "groups_linked": linked,
                        **metrics,
                    },
                )
            )

    def fetch_details(self, fiche_ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
        report = sync_fiche_batch(
            self.crm, self.redis, self.database, list(fiche_ids), force=False, settings=self.settings
        ).report
        return {r.fiche_id: (r.outcome.value, r.reason) for r in report.results}

    def transcribe(self, fiche_ids: Sequence[str], *, force: bool, priority: str) -> dict[str, int]:
        # Not `automated`: the schedule's own maxRecordingsPerFiche screened the fiches already.
        report = transcribe_fiches(
            self.stt,
            self.redis,
            self.database,
            list(fiche_ids),
            force=force,
            priority=priority,
            run_id=self.context.run_id,
        )
        return {f.fiche_id: sum(r.ok and not r.by_another_run for r in f.recordings) for f in report.fiches}

    def audit(self, fiche_ids: Sequence[str], *, scorecard_id: int, use_rlm: bool) -> None:
        run_audits(
            self.llm,
            self.redis,
            self.database,
            list(fiche_ids),
            scorecard_id=scorecard_id,
            trigger=self.trigger,
            settings=self.settings,
            use_rlm=use_rlm,
            force=True,  # like a manual launch; audits this run already made are skipped by the runner
        )


class StreamEvents:
    """`automation.run.*` on the run's topic `job:{automation_run_id}`."""

    def __init__(self, redis: RedisResource, client: Redis, automation_run_id: int) -> None:
        self._publisher = redis.publisher(client)
        self._topic = f"job:{automation_run_id}"

    def publish(self, event: str, payload: dict[str, Any]) -> None:
        self._publisher.publish(self._topic, event, payload)


@dg.op(
    description="Execute one automation run: select, ingest, transcribe, audit, record, notify.",
)
def run_automation(  # noqa: PLR0917 - Dagster resources are parameters
    context: dg.OpExecutionContext,
    config: RunAutomation,
    crm: CrmResource,
    stt: SttResource,
    llm: LlmResource,
    redis: RedisResource,
    database: DatabaseResource,
    settings: dg.ResourceParam[Settings],
) -> dg.Output[str]:
    sessions = sync_session_factory(database.engine)
    with sessions() as session:
        run = session.get(AutomationRun, config.automation_run_id)
        if run is None:
            raise dg.Failure(description=f"automation run {config.automation_run_id} does not exist")
        schedule_id = run.schedule_id
        sealed = session.get_one(AutomationSchedule, schedule_id).external_api_key_sealed
    crm_token = sealer_for(settings, EXTERNAL_API_KEY_PURPOSE).unseal(sealed) if sealed else None
    client = redis.sync_client()
    try:
        runner = AutomationRunner(
            config.automation_run_id,
            sessions=sessions,
            pipeline=DagsterPipeline(
                context,
                crm=crm,
                stt=stt,
                llm=llm,
                redis=redis,
                database=database,
                settings=settings,
                automation_run_id=config.automation_run_id,
                schedule_id=schedule_id,
                crm_token=crm_token,
            ),
            events=StreamEvents(redis, client, config.automation_run_id),
            notifier=lambda session: TableNotifier(session, config.automation_run_id),
            settings=RunSettings(max_recordings_per_fiche=settings.automation_max_recordings_per_fiche),
            dagster_run_id=context.run_id,
            debug_log=debug_log_for(
                settings.automation_debug_log_to_file, settings.callaudit_home, config.automation_run_id
            ),
        )
        status = runner.execute()
    finally:
        client.close()
    with sessions() as session:
        run = session.get_one(AutomationRun, config.automation_run_id)
        metadata: dict[str, Any] = {
            "status": run.status,
            "total_fiches": run.total_fiches,
            "successful_fiches": run.successful_fiches,
            "failed_fiches": run.failed_fiches,
            "ignored_fiches": run.ignored_fiches,
            "transcriptions_run": run.transcriptions_run,
            "audits_run": run.audits_run,
        }
        error = run.error_message
    if error:
        # The run itself failed (not one fiche): the Dagster run says so too.
        raise dg.Failure(description=error, metadata=metadata)
    return dg.Output(status.value, metadata=metadata)


@dg.config_mapping
def _automation_request(request: RunAutomation) -> dg.RunConfig:
    return dg.RunConfig(ops={run_automation.name: request})


@dg.job(
    name=AUTOMATION_RUN_JOB,
    config=_automation_request,
    description="One automation run of a schedule (configured with `automation_run_id`); tagged with its schedule.",
    # Not retried by Dagster: the scheduler sensor resumes a run whose Dagster run ended early, once per
    # resume key (`domain.schedules.scheduler.MAX_RESUMES`); two paths would run it twice.
    tags={SOURCE_TAG: "automation", "dagster/max_retries": "0"},
)
def automation_run_job() -> None:
    run_automation()
