"""How an automation run is asked of Dagster, the same from the API's trigger and the scheduler sensor."""

from __future__ import annotations

import datetime as dt
from typing import Any

from domain.transcripts.priority import RUN_PRIORITY

#: orchestration/automation_runs.py, named here so neither the API nor the domain imports Dagster definitions.
AUTOMATION_JOB = "automation_run_job"
AUTOMATION_OP = "run_automation"


def automation_tags(
    run_id: int, schedule_id: int, schedule_name: str, *, source: str, priority: str = "normal"
) -> dict[str, str]:
    """What the Dagster UI shows of an automation run: its schedule, its record, what started it."""
    return {
        "app/source": source,
        "app/automation_run_id": str(run_id),
        "app/automation_schedule_id": str(schedule_id),
        "app/automation_schedule": schedule_name[:200],
        "dagster/priority": str(RUN_PRIORITY.get(priority, 0)),  # type: ignore[call-overload]
    }


def automation_run_config(run_id: int) -> dict[str, Any]:
    return {"ops": {AUTOMATION_OP: {"config": {"automation_run_id": run_id}}}}


def run_key(schedule_id: int, due_at: dt.datetime | None, *, run_id: int, resumes: int = 0) -> str:
    """The sensor's run key: one Dagster run per schedule and due time (a manual run: per run), whatever
    the ticks or daemons; a resumed run gets a new one per resume."""
    key = f"sched:{schedule_id}:{due_at.isoformat()}" if due_at is not None else f"manual:{run_id}"
    return f"{key}:resume-{resumes}" if resumes else key
