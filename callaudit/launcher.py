"""The local run launcher: Dagster's `DefaultRunLauncher`, plus a health check of each run's worker.

A run launched on the code server executes in a worker process the server spawns and watches: if the
worker dies, the server fails the run. If the server dies too (a crash, an OOM kill, `docker kill` of
its container), nobody is left to notice, and the run stays STARTED until run monitoring's
`max_runtime_seconds` (4 h) while its partition's work waits. Run monitoring asks the launcher about a
worker's health on every poll; Dagster's default launcher cannot answer, this one can: the code server
records the worker's pid in the run's "Started process for run" engine event, and when the server is
on this host (the embedded deployment, where the daemon and the code server share a machine), the
pid is looked up here.
"""

from __future__ import annotations

import json

import psutil
from dagster import DagsterEventType, DagsterRun
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# A process created this long after the worker's start event is another process with a reused pid.
PID_REUSE_SLACK_SECONDS = 5.0


def worker_is_local(run: DagsterRun) -> bool:
    """True when the run's code server (hence its worker) runs on this host."""
    try:
        grpc_info = json.loads(run.tags[GRPC_INFO_TAG])
    except (KeyError, ValueError):
        return False
    return "socket" in grpc_info or grpc_info.get("host") in LOOPBACK_HOSTS


def worker_state(pid: int, started_at: float) -> WorkerStatus:
    """RUNNING while `pid` is the worker that started at `started_at`, FAILED once it is gone."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return WorkerStatus.FAILED
        created = process.create_time()
    except psutil.NoSuchProcess:
        return WorkerStatus.FAILED
    return WorkerStatus.RUNNING if created <= started_at + PID_REUSE_SLACK_SECONDS else WorkerStatus.FAILED


class LocalRunLauncher(DefaultRunLauncher):
    """Launches like `DefaultRunLauncher`; tells run monitoring when a local run's worker is gone."""

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        # A worker we cannot see is reported running: run monitoring's timeouts still apply to it.
        if not worker_is_local(run):
            return CheckRunHealthResult(WorkerStatus.RUNNING, msg="the run's worker is on another host")
        started = self._worker_started(run.run_id)
        if started is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, msg="the worker has not reported its pid yet")
        pid, started_at = started
        status = worker_state(pid, started_at)
        if status == WorkerStatus.FAILED:
            return CheckRunHealthResult(
                status, msg=f"the run's worker process (pid {pid}) is gone, and its code server did not report it"
            )
        return CheckRunHealthResult(status)

    def _worker_started(self, run_id: str) -> tuple[int, float] | None:
        """The pid and start time of the run's latest worker, from the code server's engine event."""
        latest: tuple[int, float] | None = None
        for entry in self._instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT):
            event = entry.dagster_event
            if event is None or not (event.message or "").startswith("Started process for run"):
                continue
            pid = event.engine_event_data.metadata.get("pid")
            if pid is not None:
                latest = (int(str(pid.value)), entry.timestamp)
        return latest
