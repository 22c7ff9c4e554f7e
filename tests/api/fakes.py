"""Test doubles for the API's outbound dependencies."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import ClassVar

from dagster import EventLogEntry

from api.runlogs import RunLogReader
from runs.launcher import JobLaunch, Launched, LaunchFailed, LaunchRequest


class RecordingLauncher:
    """A `RunLauncher` that records what it was asked and pretends Dagster accepted it.

    `requests` (backfills) and `jobs` (job runs) are class-level so a test can read what any
    request's instance recorded; `fail` makes launches fail; `delay` widens race windows in
    concurrency tests.
    """

    requests: ClassVar[list[LaunchRequest]] = []
    jobs: ClassVar[list[tuple[str, JobLaunch]]] = []
    fail: ClassVar[bool] = False
    delay: ClassVar[float] = 0.0
    backfill: ClassVar[str | None] = "REQUESTED"  # what Dagster says of every backfill
    runs: ClassVar[dict[str, str]] = {}  # what Dagster says of a run (default: QUEUED)

    @classmethod
    def reset(cls) -> None:
        cls.requests.clear()
        cls.jobs.clear()
        cls.fail = False
        cls.delay = 0.0
        cls.backfill = "REQUESTED"
        cls.runs.clear()

    async def launch_days(self, request: LaunchRequest) -> Launched:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.requests.append(request)
        if self.fail:
            raise LaunchFailed("the Dagster webserver is unreachable (ConnectError)")
        return Launched(backfill_id=f"bf-{request.job_id[:8]}")

    async def backfill_status(self, backfill_id: str) -> str | None:
        return self.backfill

    async def run_status(self, run_id: str) -> str | None:
        return self.runs.get(run_id, "QUEUED")

    async def launch_job(self, request: JobLaunch) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise LaunchFailed("the Dagster webserver is unreachable (ConnectError)")
        run_id = str(uuid.uuid4())
        self.jobs.append((run_id, request))
        return run_id


class RunLogs:
    """`get_run_log_reader` for tests: no runs by default; a test points `reader` at a Dagster test
    instance's event log storage (`api.runlogs.EventLogReader`) to serve the events of real runs."""

    reader: ClassVar[RunLogReader | None] = None

    def logs_for_run(self, run_id: str) -> Sequence[EventLogEntry]:
        return self.reader.logs_for_run(run_id) if self.reader else []
