"""Sensors: publish run failures where the API's realtime streams can see them."""

from __future__ import annotations

import dagster as dg
from dagster_shared.error import SerializableErrorInfo

from callaudit.logging import redact
from resources.redis.resource import RedisResource
from runs.contract import APP_TAG_PREFIX

RUNS_TOPIC = "runs"


def _root_cause(error: SerializableErrorInfo) -> str:
    """The user's own exception, not Dagster's "error occurred while executing op" wrapper."""
    while error.cause is not None:
        error = error.cause
    return str(error.message).strip()


@dg.run_failure_sensor(
    name="publish_run_failures",
    description="Publishes `run.failed` on the `runs` stream (and the request's own stream when tagged).",
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=15,
)
def publish_run_failures(context: dg.RunFailureSensorContext, redis: RedisResource) -> None:
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
        publisher.publish(RUNS_TOPIC, "run.failed", payload)
        if "request_id" in app_tags:
            publisher.publish(f"request:{app_tags['request_id']}", "run.failed", payload)
    finally:
        client.close()
