"""Sensors: publish run failures where the API's realtime streams can see them (the run's job topic)."""

from __future__ import annotations

import datetime as dt

import dagster as dg
from dagster_shared.error import SerializableErrorInfo

from assets.fiches import announce_fetch_progress
from callaudit.logging import redact
from callaudit.settings import Settings
from domain.events import Event, job_topic, run_failed_notification, user_topic
from resources.database import DatabaseResource
from resources.redis.resource import RedisResource
from runs.contract import APP_TAG_PREFIX


def _root_cause(error: SerializableErrorInfo) -> str:
    """The user's own exception, not Dagster's "error occurred while executing op" wrapper."""
    while error.cause is not None:
        error = error.cause
    return str(error.message).strip()


@dg.run_failure_sensor(
    name="publish_run_failures",
    description="Publishes `run.failed` on the run's job topic (and the progressive fetch's, when tagged, "
    "whose day it settles as failed: the job concludes, and its webhook is queued, when that was its last day; "
    "else a `notification` to the user who launched it).",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
)
def publish_run_failures(
    context: dg.RunFailureSensorContext,
    redis: RedisResource,
    database: DatabaseResource,
    settings: dg.ResourceParam[Settings],
) -> None:
    run = context.dagster_run
    app_tags = {k.removeprefix(APP_TAG_PREFIX): v for k, v in run.tags.items() if k.startswith(APP_TAG_PREFIX)}
    step_errors = [
        f"{event.step_key}: {_root_cause(event.step_failure_data.error)}"
        for event in context.get_step_failure_events()
        if event.step_failure_data.error is not None
    ]
    # Step errors quote upstream answers; they go through the same scrubber as log lines.
    payload = {
        "run_id": run.run_id,
        "job_name": run.job_name,
        "error": redact(context.failure_event.message or "run failed"),
        "step_errors": [redact(e) for e in step_errors],
        "tags": app_tags,
    }
    client = redis.sync_client()
    try:
        publisher = redis.publisher(client)
        # No global topic: who may follow a run is decided on the run's own topic (see api.realtime).
        publisher.publish(job_topic(run.run_id), Event.RUN_FAILED, payload)
        if "job_id" in app_tags:
            publisher.publish(job_topic(app_tags["job_id"]), Event.RUN_FAILED, payload)
        elif "user" in app_tags:
            # Whoever launched it hears of it wherever they are; a progressive fetch's requester hears
            # once, when the job concludes (`announce_fetch_progress`), not once per failed day.
            publisher.publish(user_topic(app_tags["user"]), Event.NOTIFICATION, run_failed_notification(payload))
    finally:
        client.close()
    partition = run.tags.get("dagster/partition")
    if "job_id" in app_tags and partition:
        # A progressive fetch's day whose run failed is settled, as failed: the job may end here.
        day = dt.date.fromisoformat(partition)
        announce_fetch_progress(
            database, redis, app_tags["job_id"], day, run.run_id, base_url=settings.api_base_url, run_failed=True
        )
