"""The run key of an automation run: what makes Dagster start each due time of a schedule once."""

from __future__ import annotations

import datetime as dt


def run_key(schedule_id: int, due_at: dt.datetime | None, *, run_id: int, resumes: int = 0) -> str:
    """The sensor's run key: one Dagster run per schedule and due time (a manual run: per run), whatever
    the ticks or daemons; a resumed run gets a new one per resume."""
    key = f"sched:{schedule_id}:{due_at.isoformat()}" if due_at is not None else f"manual:{run_id}"
    return f"{key}:resume-{resumes}" if resumes else key
