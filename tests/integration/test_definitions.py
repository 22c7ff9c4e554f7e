"""The single Definitions loads, and its sensors do their work against a real Redis."""

from __future__ import annotations

import json
from typing import cast

import dagster as dg
import redis

from domain.events import validate_event
from orchestration.definitions import defs
from orchestration.sensors.run_status import publish_run_failures
from resources.database import DatabaseResource
from resources.redis import stream_key
from resources.redis.resource import RedisResource


def test_definitions_load() -> None:
    dg.Definitions.validate_loadable(defs)
    assert {s.name for s in defs.sensors or []} >= {"publish_run_failures"}
    assert set(defs.resources or {}) >= {"database", "redis"}


@dg.op
def explode() -> None:
    raise RuntimeError("upstream said: Authorization: Bearer sk-abcdefghijkl")


@dg.job(tags={"app/request_id": "req-42", "app/source": "api", "app/job_id": "fetch-42"})
def doomed() -> None:
    explode()


def test_run_failure_sensor_publishes_a_scrubbed_event(
    redis_url: str, redis_client: redis.Redis, database_url: str
) -> None:
    with dg.instance_for_test() as instance:
        result = doomed.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        with dg.build_run_status_sensor_context(
            sensor_name="publish_run_failures",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=failure,
            resources={"redis": RedisResource(url=redis_url), "database": DatabaseResource(url=database_url)},
        ) as context:
            publish_run_failures(context.for_run_failure())

    for topic in (f"job:{result.run_id}", "job:fetch-42"):
        entries = cast(list[tuple[str, dict[str, str]]], redis_client.xrange(stream_key(topic)))
        assert len(entries) == 1, topic
        fields = entries[0][1]
        assert fields["type"] == "run.failed"
        payload = validate_event(fields["type"], topic, json.loads(fields["data"])).model_dump()
        assert payload["run_id"] == result.run_id
        assert payload["job_name"] == "doomed"
        assert payload["tags"] == {"request_id": "req-42", "source": "api", "job_id": "fetch-42"}
        [step_error] = payload["step_errors"]
        assert step_error.startswith("explode: RuntimeError: upstream said: Authorization:")
        assert "[REDACTED]" in step_error
        assert "sk-abcdefghijkl" not in fields["data"]
