"""The one place the API asks Dagster for an automation run (the runs seam replaces its body)."""

from __future__ import annotations

from api.fiches.launcher import JobLaunch, RunLauncher
from domain.schedules.launch import AUTOMATION_JOB, automation_run_config


async def launch_automation_run(launcher: RunLauncher, run_id: int, tags: dict[str, str]) -> str:
    """Queue the Dagster run of automation run `run_id`; its Dagster run id (`LaunchFailed` if refused).
    The launch is keyed by the run id, so a retried request finds the run it already queued."""
    launch = JobLaunch(AUTOMATION_JOB, automation_run_config(run_id), tags, idempotency_key=f"automation-run:{run_id}")
    return await launcher.launch_job(launch)
