"""The one place the API asks Dagster for an automation run (the runs seam replaces its body)."""

from __future__ import annotations

from api.fiches.launcher import JobLaunch, RunLauncher
from domain.transcripts.priority import RUN_PRIORITY

#: orchestration/automation_runs.py, named here so the API does not import Dagster definitions.
AUTOMATION_JOB = "automation_run_job"
AUTOMATION_OP = "run_automation"


def automation_tags(
    run_id: int, schedule_id: int, schedule_name: str, *, source: str, priority: str = "normal"
) -> dict[str, str]:
    """What the Dagster UI shows of an automation run: its schedule, its record, who started it."""
    return {
        "app/source": source,
        "app/automation_run_id": str(run_id),
        "app/automation_schedule_id": str(schedule_id),
        "app/automation_schedule": schedule_name[:200],
        "dagster/priority": str(RUN_PRIORITY.get(priority, 0)),  # type: ignore[call-overload]
    }


def automation_run_config(run_id: int) -> dict[str, object]:
    return {"ops": {AUTOMATION_OP: {"config": {"automation_run_id": run_id}}}}


async def launch_automation_run(launcher: RunLauncher, run_id: int, tags: dict[str, str]) -> str:
    """Queue the Dagster run of automation run `run_id`; its Dagster run id (`LaunchFailed` if refused).
    The launch is keyed by the run id, so a retried request finds the run it already queued."""
    launch = JobLaunch(AUTOMATION_JOB, automation_run_config(run_id), tags, idempotency_key=f"automation-run:{run_id}")
    return await launcher.launch_job(launch)
