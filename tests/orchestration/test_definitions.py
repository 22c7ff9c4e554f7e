"""The single Definitions loads, and its sensors do their work against a real Redis."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from typing import Any, cast

import dagster as dg
import pytest
import redis

from callaudit.settings import get_settings, load_settings
from domain.events import validate_event
from orchestration.definitions import build_definitions, defs
from orchestration.sensors.run_status import publish_run_failures
from resources.database import DatabaseResource
from resources.redis import stream_key
from resources.redis.resource import RedisResource


def test_definitions_load() -> None:
    definitions = defs()
    dg.Definitions.validate_loadable(definitions)
    assert {s.name for s in definitions.sensors or []} >= {"publish_run_failures"}
    assert set(definitions.resources or {}) >= {"database", "redis"}


def test_the_deployment_settings_shape_the_definitions_when_they_are_built() -> None:
    settings = load_settings(
        sales_partitions_start=dt.date(2024, 6, 1),
        sales_timezone="America/Martinique",
        sales_refresh_cron="15 */2 * * *",
        automation_scheduler_cron="*/5 * * * *",
    )
    definitions = build_definitions(settings)
    assert (definitions.resources or {})["settings"] is settings  # what assets, ops and sensors read
    graph = definitions.resolve_asset_graph()
    for key in ("sales_fiches", "fiche_details", "transcripts"):
        days = graph.get(dg.AssetKey(key)).partitions_def
        assert isinstance(days, dg.DailyPartitionsDefinition)
        assert (days.start.date(), days.timezone) == (dt.date(2024, 6, 1), "America/Martinique")
    for key in ("audits", "audit_calibration"):
        multi = graph.get(dg.AssetKey(key)).partitions_def
        assert isinstance(multi, dg.MultiPartitionsDefinition)
        day = multi.get_partitions_def_for_dimension("sales_day")
        assert isinstance(day, dg.DailyPartitionsDefinition)
        assert (day.start.date(), day.timezone) == (dt.date(2024, 6, 1), "America/Martinique")
    # The jobs over those assets take the same days (a backfill of 2024-06-01 is possible).
    job_days = definitions.resolve_job_def("sync_sales_day").partitions_def
    assert job_days is not None
    assert job_days.has_partition_key("2024-06-01")
    schedule = definitions.resolve_schedule_def("refresh_today_sales")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("15 */2 * * *", "America/Martinique")
    assert definitions.resolve_sensor_def("automation_scheduler").minimum_interval_seconds == 300


def test_importing_the_definitions_reads_no_settings() -> None:
    """A bad setting fails when the code server builds the definitions (naming it), not at import."""
    env = {**os.environ, "SALES_TIMEZONE": "Nowhere/Atlantis"}
    load = "import orchestration.definitions as d"
    imported = subprocess.run([sys.executable, "-c", load], env=env, capture_output=True, text=True, check=False)
    assert imported.returncode == 0, imported.stderr
    built = subprocess.run(
        [sys.executable, "-c", f"{load}; d.defs()"], env=env, capture_output=True, text=True, check=False
    )
    assert built.returncode != 0
    assert "SALES_TIMEZONE" in built.stderr


OPENAI_AUDITOR = (
    "from resources.llm.resource import openai_auditor; from resources.llm.config import LlmConfig; "
    "from resources.llm.pricing import PriceTable; import redis.asyncio as r; "
    "openai_auditor(LlmConfig(), r.Redis(), api_key='k', base_url=None, prices=PriceTable.from_setting(None))"
)


@pytest.mark.parametrize(
    ("modules", "auditor"),
    [
        (["openai"], OPENAI_AUDITOR),
        (["domain.audits.heuristic", "wordfreq"], "from resources.llm.resource import _heuristic; _heuristic()"),
    ],
    ids=["llm-sdk", "heuristic-auditor"],
)
def test_a_run_process_loads_the_code_location_without_an_auditors_modules(modules: list[str], auditor: str) -> None:
    """Every run process imports the whole code location; the model's SDK (a fifth of that import's CPU,
    decision 94) and the heuristic auditor (word frequencies and language data, another fifth, decision 115)
    wait for the audit stage's first auditor of their kind, so runs start sooner. Each is still reachable
    from the definitions once its auditor is built."""
    check = (
        f"import sys, orchestration.definitions as d; d.defs(); before = [m for m in {modules!r} if m in sys.modules]; "
        f"{auditor}; print(before, all(m in sys.modules for m in {modules!r}))"
    )
    imported = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=False)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.split() == ["[]", "True"]


@dg.op
def explode() -> None:
    raise RuntimeError("upstream said: Authorization: Bearer sk-abcdefghijkl")


@dg.job(tags={"app/request_id": "req-42", "app/source": "api", "app/job_id": "fetch-42", "app/user": "41"})
def doomed() -> None:
    explode()


@dg.job(tags={"app/source": "api", "app/user": "42"})
def doomed_for_someone() -> None:
    explode()


def _failed_and_sensed(job: dg.JobDefinition, redis_url: str, database_url: str) -> dg.ExecuteInProcessResult:
    """The job run to its failure, then the failure sensor's evaluation of it."""
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
        with dg.build_run_status_sensor_context(
            sensor_name="publish_run_failures",
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            dagster_event=failure,
            resources={
                "redis": RedisResource(url=redis_url),
                "database": DatabaseResource(url=database_url),
                "settings": get_settings(),
            },
        ) as context:
            publish_run_failures(context.for_run_failure())
    return result


def _published(client: redis.Redis, topic: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(type, raw data, validated payload) of each event on the topic."""
    entries = cast(list[tuple[str, dict[str, str]]], client.xrange(stream_key(topic)))
    return [
        (f["type"], f["data"], validate_event(f["type"], topic, json.loads(f["data"])).model_dump()) for _, f in entries
    ]


def test_run_failure_sensor_publishes_a_scrubbed_event(
    redis_url: str, redis_client: redis.Redis, database_url: str
) -> None:
    result = _failed_and_sensed(doomed, redis_url, database_url)
    for topic in (f"job:{result.run_id}", "job:fetch-42"):
        [(event, data, payload)] = _published(redis_client, topic)
        assert event == "run.failed"
        assert payload["run_id"] == result.run_id
        assert payload["job_name"] == "doomed"
        assert payload["tags"] == {"request_id": "req-42", "source": "api", "job_id": "fetch-42", "user": "41"}
        [step_error] = payload["step_errors"]
        assert step_error.startswith("explode: RuntimeError: upstream said: Authorization:")
        assert "[REDACTED]" in step_error
        assert "sk-abcdefghijkl" not in data
    assert _published(redis_client, "user:41") == [], "a fetch job's requester hears once, when the job concludes"


def test_a_failed_run_notifies_whoever_launched_it_with_its_scrubbed_error(
    redis_url: str, redis_client: redis.Redis, database_url: str
) -> None:
    result = _failed_and_sensed(doomed_for_someone, redis_url, database_url)
    [(event, data, notice)] = _published(redis_client, "user:42")
    assert (event, notice["type"], notice["batch_id"]) == ("notification", "error", result.run_id)
    assert notice["description"].startswith("explode: RuntimeError: upstream said: Authorization:")
    assert "sk-abcdefghijkl" not in data
