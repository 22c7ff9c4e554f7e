"""The local run launcher's worker health check, on real processes of this host.

The whole path (a code server killed with its run worker, run monitoring failing the run, the
scheduler resuming it) runs in `tests/e2e/test_schedule_daemon_kill.py`."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import dagster as dg
import psutil
from dagster._core.events import EngineEventData
from dagster._core.launcher import WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG

from callaudit.launcher import LocalRunLauncher, worker_is_local, worker_state


def run_on(grpc_info: dict[str, object] | None) -> dg.DagsterRun:
    tags = {} if grpc_info is None else {GRPC_INFO_TAG: json.dumps(grpc_info)}
    return dg.DagsterRun(job_name="audit_day", run_id="r1", tags=tags)


def test_a_worker_is_local_when_its_code_server_is_on_a_loopback_address_or_a_socket() -> None:
    assert worker_is_local(run_on({"host": "127.0.0.1", "port": 4000}))
    assert worker_is_local(run_on({"host": "localhost", "port": 4000}))
    assert worker_is_local(run_on({"host": "localhost", "socket": "/tmp/dagster.sock"}))
    assert not worker_is_local(run_on({"host": "code-server", "port": 4000}))
    assert not worker_is_local(run_on(None))


def test_a_live_worker_runs_and_a_dead_one_has_failed() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        started_at = time.time()
        assert worker_state(child.pid, started_at) == WorkerStatus.RUNNING
        child.kill()
        # Not reaped yet: a zombie is a dead worker.
        deadline = time.monotonic() + 10
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.01)
        assert worker_state(child.pid, started_at) == WorkerStatus.FAILED
    finally:
        child.kill()
        child.wait()
    assert worker_state(child.pid, started_at) == WorkerStatus.FAILED


def test_a_pid_reused_by_a_later_process_is_not_the_worker() -> None:
    this = psutil.Process()
    assert worker_state(this.pid, this.create_time()) == WorkerStatus.RUNNING
    # The worker reported this pid a minute before this process was created: the worker is gone.
    assert worker_state(this.pid, this.create_time() - 60) == WorkerStatus.FAILED


def test_the_worker_is_found_from_the_code_servers_engine_event() -> None:
    with dg.instance_for_test() as instance:
        job = dg.JobDefinition(graph_def=dg.GraphDefinition(name="audit_day", node_defs=[]))
        run = instance.create_run_for_job(job, tags={GRPC_INFO_TAG: json.dumps({"host": "127.0.0.1", "port": 1})})
        launcher = LocalRunLauncher()
        launcher.register_instance(instance)
        assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING  # no pid yet
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        try:
            instance.report_engine_event(
                f"Started process for run (pid: {child.pid}).", run, EngineEventData.in_process(child.pid)
            )
            assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
        finally:
            child.kill()
            child.wait()
        health = launcher.check_run_worker_health(run)
        assert health.status == WorkerStatus.FAILED
        assert f"(pid {child.pid}) is gone" in (health.msg or "")
