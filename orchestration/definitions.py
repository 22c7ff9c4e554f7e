"""The code location's single `Definitions`: every asset, job, schedule, sensor and resource."""

from __future__ import annotations

import dagster as dg

from assets.analytics import (
    agent_scorecards,
    audit_facts,
    audit_facts_complete,
    audit_facts_schema_stable,
    audit_facts_valid,
    scorecard_health,
)
from assets.audits import audit_citations_located, audits, audits_cover_the_day, audits_settled
from assets.calibration import audit_calibration
from assets.fiches import fiche_details, fiche_details_settled, sales_fiches
from assets.transcripts import transcripts
from callaudit.settings import get_settings
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
from orchestration.schedules import refresh_today_sales
from orchestration.sensors.automation import (
    audit_automatic_scorecards,
    automation_scheduler,
    transcribe_fetched_fiches,
)
from orchestration.sensors.maintenance import audit_watchdog
from orchestration.sensors.partitions import sync_scorecard_partitions
from orchestration.sensors.run_status import publish_run_failures
from resources.crm.resource import CrmResource
from resources.database import DatabaseResource
from resources.llm.resource import LlmResource
from resources.redis.resource import RedisResource
from resources.stt.resource import SttResource

_settings = get_settings()

defs = dg.Definitions(
    assets=[
        sales_fiches,
        fiche_details,
        transcripts,
        audits,
        audit_calibration,
        audit_facts,
        scorecard_health,
        agent_scorecards,
    ],
    asset_checks=[
        fiche_details_settled,
        audit_citations_located,
        audits_cover_the_day,
        audits_settled,
        audit_facts_complete,
        audit_facts_valid,
        audit_facts_schema_stable,
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
    schedules=[refresh_today_sales],
    sensors=[
        publish_run_failures,
        sync_scorecard_partitions,
        transcribe_fetched_fiches,
        audit_automatic_scorecards,
        audit_watchdog,
        automation_scheduler,
    ],
    resources={
        "database": DatabaseResource(url=dg.EnvVar("DATABASE_URL")),
        "redis": RedisResource(
            url=dg.EnvVar("REDIS_URL"),
            event_stream_maxlen=_settings.event_stream_maxlen,
            event_stream_ttl_seconds=_settings.event_stream_ttl_seconds,
        ),
        # The caps are Redis semaphores shared with the API: same limits from the same settings.
        "crm": CrmResource(
            base_url=dg.EnvVar("FICHE_API_BASE_URL"),
            auth_token=dg.EnvVar("FICHE_API_AUTH_TOKEN") if _settings.fiche_api_auth_token else None,
            search_concurrency=_settings.fiche_sales_search_concurrency,
            fetch_concurrency=_settings.fiche_fetch_concurrency,
        ),
        # Provider from STT_PROVIDER (keys as EnvVar); its Redis semaphore is shared by every run.
        "stt": SttResource.from_settings(_settings),
        # The heuristic auditor unless an OpenAI-compatible endpoint is configured (key as EnvVar).
        "llm": LlmResource.from_settings(_settings),
    },
    # Runs batch a whole day of fiches with bounded concurrency inside one process; the
    # multiprocess executor would add seconds per step for no benefit (see ARCHITECTURE.md).
    executor=dg.in_process_executor,
)
