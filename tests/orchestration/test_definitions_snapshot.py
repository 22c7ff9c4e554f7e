"""A snapshot of the code location's definitions, so an accidental change shows in review.

Asset keys, deps, partitions, groups, kinds, pools, code versions, checks, jobs, schedules, sensors
and resources, as the Dagster UI shows them. A deliberate change: regenerate with
`UPDATE_SNAPSHOTS=1 pytest tests/orchestration/test_definitions_snapshot.py` and commit the diff.
"""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any

import dagster as dg

from orchestration.definitions import defs

SNAPSHOT = pathlib.Path(__file__).parent / "snapshots" / "definitions.json"


def _partitions(partitions: dg.PartitionsDefinition | None) -> Any:
    if partitions is None:
        return None
    if isinstance(partitions, dg.MultiPartitionsDefinition):
        return {d.name: _partitions(d.partitions_def) for d in partitions.partitions_defs}
    if isinstance(partitions, dg.DailyPartitionsDefinition):
        return {"daily": partitions.start.date().isoformat(), "timezone": partitions.timezone}
    if isinstance(partitions, dg.DynamicPartitionsDefinition):
        return {"dynamic": partitions.name}
    return type(partitions).__name__


def snapshot() -> dict[str, Any]:
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "deps": sorted(parent.to_user_string() for parent in node.parent_keys),
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "pools": sorted(node.pools or []),
            "partitions": _partitions(node.partitions_def),
            "code_version": node.code_version,
            "checks": sorted(check.name for check in graph.asset_check_keys if check.asset_key == key),
        }
    jobs = {
        job.name: {
            "assets": sorted(key.to_user_string() for key in job.asset_layer.executable_asset_keys),
            "ops": sorted(node.name for node in job.nodes),
            "tags": dict(sorted(job.tags.items())),
        }
        for job in sorted(definitions.resolve_all_job_defs(), key=lambda j: j.name)
        if not job.name.startswith("__")
    }
    schedules = {
        s.name: {
            "cron": s.cron_schedule,
            "timezone": s.execution_timezone,
            "job": s.job_name,
            "default": s.default_status.value,
        }
        for s in sorted(definitions.schedules or [], key=lambda s: s.name)
        if isinstance(s, dg.ScheduleDefinition)
    }
    sensors = {
        s.name: {
            "kind": type(s).__name__,
            "jobs": sorted(target.job_name for target in s.targets),
            "minimum_interval_seconds": s.minimum_interval_seconds,
            "default": s.default_status.value,
        }
        for s in sorted(definitions.sensors or [], key=lambda s: s.name)
        if isinstance(s, dg.SensorDefinition)
    }
    return {
        "assets": assets,
        "jobs": jobs,
        "schedules": schedules,
        "sensors": sensors,
        "resources": sorted(definitions.resources or {}),
    }


def test_the_definitions_match_their_snapshot() -> None:
    current = json.dumps(snapshot(), indent=2, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(current, encoding="utf-8")
    assert current == SNAPSHOT.read_text(encoding="utf-8"), "definitions changed: review, then UPDATE_SNAPSHOTS=1"
