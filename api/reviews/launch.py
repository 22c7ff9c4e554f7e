"""The one place the API starts a rerun run: a Dagster run of `rerun_audit_step_job` through the launcher."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.fiches.launcher import JobLaunch, RunLauncher

#: orchestration/reruns.py, named here so the API does not import Dagster definitions.
RERUN_JOB = "rerun_audit_step_job"
RERUN_OP = "rerun_audit_step"


async def launch_rerun(
    launcher: RunLauncher, config: Mapping[str, Any], *, tags: Mapping[str, str], idempotency_key: str | None
) -> str:
    """Queue the rerun's run; its run id, or `LaunchFailed`."""
    launch = JobLaunch(
        job_name=RERUN_JOB,
        run_config={"ops": {RERUN_OP: {"config": dict(config)}}},
        tags=tags,
        idempotency_key=idempotency_key,
    )
    return await launcher.launch_job(launch)
