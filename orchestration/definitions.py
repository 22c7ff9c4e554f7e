"""The code location's single `Definitions`: every asset, job, schedule, sensor and resource."""

from __future__ import annotations

import dagster as dg

from orchestration.sensors import publish_run_failures
from resources.database import DatabaseResource
from resources.redis.resource import RedisResource

defs = dg.Definitions(
    sensors=[publish_run_failures],
    resources={
        "database": DatabaseResource(url=dg.EnvVar("DATABASE_URL")),
        "redis": RedisResource(url=dg.EnvVar("REDIS_URL")),
    },
    # Runs batch a whole day of fiches with bounded concurrency inside one process; the
    # multiprocess executor would add seconds per step for no benefit (see ARCHITECTURE.md).
    executor=dg.in_process_executor,
)
