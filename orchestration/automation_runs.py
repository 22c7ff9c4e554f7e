"""User automation schedules in Dagster: the scheduler sensor and the job that executes one automation run.

* `automation_scheduler` (every AUTOMATION_SCHEDULER_CRON tick) reconciles runs left behind, creates
  the runs that are due (catch-up within AUTOMATION_SCHEDULER_WINDOW_MINUTES, older due times
  recorded as `missed`) and requests them with `run_key = sched:{id}:{due_at}`.
* `automation_run_job` executes one run (`domain.schedules.runner`) through the same code as the
  assets and ad-hoc jobs: the CRM sync with its Redis caps, the transcriber with its locks and
  provider throttle, the audit engine with gating and tools mode. Its runs are tagged with the
  schedule (`app/automation_schedule`, `app/automation_run_id`) so the Dagster UI shows them.

The zero-config automation stays: `refresh_today_sales` and the automatic-audit sensors
(`orchestration.automation`) need no schedule; a schedule can replace them for chosen groups.
"""

import datetime as dt
from collections.abc import Sequence
from typing import Any

import dagster as dg
from redis import Redis

from assets.audits import run_audits
from assets.fiches import run_with_crm, sync_fiche_batch
from assets.transcripts import transcribe_fiches
from callaudit.secrets import sealer_for
from callaudit.settings import get_settings
from domain.audits.store import Trigger
from domain.automation import database_now
from domain.models.automation import EXTERNAL_API_KEY_PURPOSE, AutomationRun, AutomationSchedule
from domain.schedules.debug_log import debug_log_for
from domain.schedules.notifications import TableNotifier
from domain.schedules.runner import AutomationRunner, RunSettings
from domain.schedules.scheduler import TickSettings, tick
from domain.schedules.timing import tick_seconds
from resources.crm.resource import CrmResource
from resources.database import DatabaseResource, sync_session_factory
from resources.llm.resource import LlmResource
from resources.redis.resource import RedisResource
from resources.stt.resource import SttResource
from runs.contract import AUTOMATION_RUN_JOB, SOURCE_TAG, RunAutomation, automation_tags
from services.ingestion import FicheSync


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
        automation_run_id: int,
        schedule_id: int,
        crm_token: str | None = None,
    ) -> None:
        self.context = context
        self.crm, self.stt, self.llm, self.redis, self.database = crm, stt, llm, redis, database
        # The schedule's own CRM token, for its sales searches only (as the original's externalApiKey).
        self.search_crm = crm if crm_token is None else crm.model_copy(update={"auth_token": crm_token})
        self.trigger = Trigger(
            source="automation",
            run_id=context.run_id,
            automation_run_id=automation_run_id,
            automation_schedule_id=schedule_id,
        )

    def sync_day(self, day: dt.date) -> None:
        settings = get_settings()

        async def work(sync: FicheSync) -> tuple[Any, int]:
            result = await sync.sync_sales_day(day, include_recordings=settings.fiche_sales_include_recordings)
            return result, await sync.link_groups()

        (result, linked), metrics = run_with_crm(self.search_crm, self.redis, self.database, 1, work)
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
        report = sync_fiche_batch(self.crm, self.redis, self.database, list(fiche_ids), force=False).report
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
) -> dg.Output[str]:
    sessions = sync_session_factory(database.engine)
    with sessions() as session:
        run = session.get(AutomationRun, config.automation_run_id)
        if run is None:
            raise dg.Failure(description=f"automation run {config.automation_run_id} does not exist")
        schedule_id = run.schedule_id
        sealed = session.get_one(AutomationSchedule, schedule_id).external_api_key_sealed
    crm_token = sealer_for(get_settings(), EXTERNAL_API_KEY_PURPOSE).unseal(sealed) if sealed else None
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
                automation_run_id=config.automation_run_id,
                schedule_id=schedule_id,
                crm_token=crm_token,
            ),
            events=StreamEvents(redis, client, config.automation_run_id),
            notifier=lambda session: TableNotifier(session, config.automation_run_id),
            settings=RunSettings(max_recordings_per_fiche=get_settings().automation_max_recordings_per_fiche),
            dagster_run_id=context.run_id,
            debug_log=debug_log_for(
                get_settings().automation_debug_log_to_file, get_settings().callaudit_home, config.automation_run_id
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


def _dagster_status(instance: dg.DagsterInstance, run_id: str) -> str | None:
    run = instance.get_run_by_id(run_id)
    return run.status.value if run is not None else None


_settings = get_settings()


@dg.sensor(
    job=automation_run_job,
    description="Runs the automation schedules stored in the database when they are due (catch-up within "
    "AUTOMATION_SCHEDULER_WINDOW_MINUTES, older due times recorded as missed) and reconciles runs left behind.",
    minimum_interval_seconds=tick_seconds(_settings.automation_scheduler_cron),
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def automation_scheduler(context: dg.SensorEvaluationContext, database: DatabaseResource) -> dg.SensorResult:
    settings = get_settings()
    tick_settings = TickSettings(
        window=dt.timedelta(minutes=settings.automation_scheduler_window_minutes),
        stale_after=dt.timedelta(
            milliseconds=settings.automation_stale_threshold_ms + settings.automation_scheduler_stale_grace_ms
        ),
    )
    with database.session() as session:
        now = database_now(session)
        due = tick(
            session, now=now, settings=tick_settings, dagster_status=lambda i: _dagster_status(context.instance, i)
        )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=d.key,
                run_config=RunAutomation(automation_run_id=d.run_id).run_config(),
                tags={
                    **automation_tags(
                        d.run_id,
                        d.schedule_id,
                        d.schedule_name,
                        source="schedule",
                        priority=d.priority,
                        max_concurrent_runs=d.max_concurrent_runs,
                    ),
                    **({"app/due_at": d.due_at.isoformat()} if d.due_at else {}),
                },
            )
            for d in due
        ]
    )
