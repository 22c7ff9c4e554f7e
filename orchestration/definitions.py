"""The code location's single `Definitions`: every asset, job, schedule, sensor and resource.

The settings are read once, when the code server loads the definitions (`defs`, a lazy
`@dg.definitions` function), not at import: `build_definitions` puts the deployment's values (sales-day
partitions, crons, auditor kind, resource limits) into the definitions declared in `assets/` and
`orchestration/`.
"""

from __future__ import annotations

import dagster as dg

from assets.analytics import (
    agent_scorecards,
    agent_scorecards_complete,
    agent_scorecards_schema_stable,
    audit_facts,
    audit_facts_complete,
    audit_facts_schema_stable,
    audit_facts_scores_add_up,
    audit_facts_valid,
    scorecard_health,
    scorecard_health_complete,
    scorecard_health_schema_stable,
)
from assets.audits import audit_citations_located, audits, audits_cover_the_day, audits_settled
from assets.calibration import audit_calibration
from assets.fiches import fiche_details, fiche_details_settled, sales_fiches
from assets.partitions import for_deployment
from assets.products import every_plan_has_its_guarantee_table, product_catalogue
from assets.transcripts import transcripts
from callaudit.settings import Settings, get_settings
from orchestration.jobs import (
    audit_fiches_job,
    audit_sales_day_job,
    automation_run_job,
    fetch_fiches_job,
    sync_sales_day_job,
    transcribe_fiches_job,
    transcribe_sales_day_job,
)
from orchestration.reruns import rerun_audit_step_job
from orchestration.schedules import build_refresh_today_sales
from orchestration.sensors.automation import (
    audit_automatic_scorecards,
    build_automation_scheduler,
    transcribe_fetched_fiches,
)
from orchestration.sensors.maintenance import audit_watchdog
from orchestration.sensors.partitions import sync_scorecard_partitions
from orchestration.sensors.run_status import publish_run_failures
from resources.crm.resource import CrmResource
from resources.database import DatabaseResource
from resources.llm.resource import LlmResource, auditor_kind
from resources.redis.resource import RedisResource
from resources.stt.resource import SttResource


def build_definitions(settings: Settings) -> dg.Definitions:
    # What audits the day: `openai` (any OpenAI-compatible endpoint) or the `heuristic` auditor.
    audits_here = audits.map_asset_specs(lambda spec: spec.merge_attributes(kinds={auditor_kind(settings)}))
    return dg.Definitions(
        assets=[
            for_deployment(asset, settings)
            for asset in (
                sales_fiches,
                fiche_details,
                transcripts,
                audits_here,
                audit_calibration,
                product_catalogue,
                audit_facts,
                scorecard_health,
                agent_scorecards,
            )
        ],
        asset_checks=[
            fiche_details_settled,
            audit_citations_located,
            audits_cover_the_day,
            audits_settled,
            every_plan_has_its_guarantee_table,
            audit_facts_complete,
            audit_facts_valid,
            audit_facts_schema_stable,
            audit_facts_scores_add_up,
            scorecard_health_complete,
            scorecard_health_schema_stable,
            agent_scorecards_complete,
            agent_scorecards_schema_stable,
        ],
        jobs=[
            sync_sales_day_job,
            fetch_fiches_job,
            transcribe_fiches_job,
            audit_fiches_job,
            transcribe_sales_day_job,
            audit_sales_day_job,
            automation_run_job,
            rerun_audit_step_job,
        ],
        schedules=[build_refresh_today_sales(settings.sales_refresh_cron, settings.sales_timezone)],
        sensors=[
            publish_run_failures,
            sync_scorecard_partitions,
            transcribe_fetched_fiches,
            audit_automatic_scorecards,
            audit_watchdog,
            build_automation_scheduler(settings.automation_scheduler_cron),
        ],
        resources={
            "database": DatabaseResource(url=dg.EnvVar("DATABASE_URL")),
            "redis": RedisResource(
                url=dg.EnvVar("REDIS_URL"),
                event_stream_maxlen=settings.event_stream_maxlen,
                event_stream_ttl_seconds=settings.event_stream_ttl_seconds,
            ),
            # The caps are Redis semaphores shared with the API: same limits from the same settings.
            "crm": CrmResource(
                base_url=dg.EnvVar("FICHE_API_BASE_URL"),
                auth_token=dg.EnvVar("FICHE_API_AUTH_TOKEN") if settings.fiche_api_auth_token else None,
                search_concurrency=settings.fiche_sales_search_concurrency,
                fetch_concurrency=settings.fiche_fetch_concurrency,
            ),
            # Provider from STT_PROVIDER (keys as EnvVar); its Redis semaphore is shared by every run.
            "stt": SttResource.from_settings(settings),
            # The heuristic auditor unless an OpenAI-compatible endpoint is configured (key as EnvVar).
            "llm": LlmResource.from_settings(settings),
            # What the assets, ops and sensors read at run time (not `get_settings()` in their bodies).
            "settings": settings,
        },
        # Runs batch a whole day of fiches with bounded concurrency inside one process; the
        # multiprocess executor would add seconds per step for no benefit (see ARCHITECTURE.md).
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(get_settings())
