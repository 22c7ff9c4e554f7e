"""`maxConcurrentRuns`: runs of one schedule never overlap beyond its cap; the others wait in Dagster's queue.

The real run queue: a Dagster instance with the project's rendered `dagster.yaml` run coordinator and run
concurrency (an invalid combination fails here, as it fails the daemon), and the daemon's own queue
iteration dequeuing (the launcher only records what it is given, so no process is started), on runs
tagged as the sensor and the API tag them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import yaml
from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteJobOrigin, RemoteRepositoryOrigin
from dagster._core.test_utils import create_run_for_test, create_test_daemon_workspace_context
from dagster._core.workspace.load_target import EmptyWorkspaceTarget
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

from callaudit.instance import render_instance
from callaudit.settings import load_settings
from orchestration.jobs import automation_run_job
from runs.contract import (
    AUTOMATION_RUN_JOB,
    AUTOMATION_RUN_TAG,
    CODE_LOCATION,
    MAX_CONCURRENT_SCHEDULE_RUNS,
    REPOSITORY,
    automation_tags,
    schedule_limit_tag,
)

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = RemoteJobOrigin(
    RemoteRepositoryOrigin(RegisteredCodeLocationOrigin(CODE_LOCATION), REPOSITORY), AUTOMATION_RUN_JOB
)


def project_config() -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(render_instance(load_settings()))
    return config


def project_tag_limits() -> list[dict[str, Any]]:
    limits: list[dict[str, Any]] = project_config()["concurrency"]["runs"]["tag_concurrency_limits"]
    return limits


def test_dagster_yaml_limits_every_cap_a_schedule_may_have() -> None:
    limits = {limit["key"]: limit for limit in project_tag_limits()}
    assert limits[AUTOMATION_RUN_TAG] == {
        "key": AUTOMATION_RUN_TAG,
        "value": {"applyLimitPerUniqueValue": True},
        "limit": 1,
    }
    for cap in range(1, MAX_CONCURRENT_SCHEDULE_RUNS + 1):
        assert limits[schedule_limit_tag(cap)] == {
            "key": schedule_limit_tag(cap),
            "value": {"applyLimitPerUniqueValue": True},
            "limit": cap,
        }
    with pytest.raises(ValueError, match="maxConcurrentRuns"):
        schedule_limit_tag(MAX_CONCURRENT_SCHEDULE_RUNS + 1)


@pytest.fixture
def queue() -> Iterator[tuple[dg.DagsterInstance, Any]]:
    project = project_config()
    overrides = {
        "run_coordinator": project["run_coordinator"],
        "concurrency": project["concurrency"],
        "run_launcher": {"module": "dagster._core.test_utils", "class": "MockedRunLauncher"},
    }
    with (
        dg.instance_for_test(overrides=overrides) as instance,
        create_test_daemon_workspace_context(EmptyWorkspaceTarget(), instance) as workspace,
    ):
        yield instance, workspace


def queued(instance: dg.DagsterInstance, run_id: int, schedule_id: int, cap: int) -> str:
    tags = automation_tags(run_id, schedule_id, f"schedule {schedule_id}", source="schedule", max_concurrent_runs=cap)
    run = create_run_for_test(
        instance, job_name=AUTOMATION_RUN_JOB, status=dg.DagsterRunStatus.QUEUED, tags=tags, remote_job_origin=ORIGIN
    )
    return str(run.run_id)


def started(instance: dg.DagsterInstance) -> set[str]:
    statuses = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
    return {run.run_id for run in instance.get_runs(dg.RunsFilter(statuses=statuses))}


def test_runs_of_one_schedule_never_overlap_beyond_its_cap(queue: tuple[dg.DagsterInstance, Any]) -> None:
    instance, workspace = queue
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    daily = [queued(instance, run_id, schedule_id=1, cap=1) for run_id in (1, 2, 3)]
    weekly = [queued(instance, run_id, schedule_id=2, cap=2) for run_id in (4, 5, 6)]
    other = queued(instance, 7, schedule_id=3, cap=1)

    list(daemon.run_iteration(workspace))
    assert started(instance) == {daily[0], weekly[0], weekly[1], other}
    list(daemon.run_iteration(workspace))
    assert started(instance) == {daily[0], weekly[0], weekly[1], other}  # the rest wait in the queue

    first = instance.get_run_by_id(daily[0])
    assert first is not None
    instance.report_run_failed(first)  # the schedule's run ends: its next one may start
    list(daemon.run_iteration(workspace))
    assert started(instance) == {daily[1], weekly[0], weekly[1], other}
    queued_now = {run.run_id for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.QUEUED]))}
    assert queued_now == {daily[2], weekly[2]}


def test_two_dagster_runs_of_one_automation_run_never_execute_together(queue: tuple[dg.DagsterInstance, Any]) -> None:
    """A resume requested while the Dagster run it replaces still holds the automation run waits for it,
    even under a schedule cap that would let both start."""
    instance, workspace = queue
    daemon = QueuedRunCoordinatorDaemon(interval_seconds=1)
    first = queued(instance, 8, schedule_id=4, cap=2)
    resume = queued(instance, 8, schedule_id=4, cap=2)
    other = queued(instance, 9, schedule_id=4, cap=2)

    list(daemon.run_iteration(workspace))
    assert started(instance) == {first, other}
    finished = instance.get_run_by_id(first)
    assert finished is not None
    instance.report_run_failed(finished)
    list(daemon.run_iteration(workspace))
    assert started(instance) == {resume, other}


def test_automation_runs_are_resumed_by_the_scheduler_not_retried_by_dagster() -> None:
    assert automation_run_job.tags["dagster/max_retries"] == "0"
