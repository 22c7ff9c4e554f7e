"""The code location's single `Definitions`: every asset, job, schedule, sensor and resource."""

from __future__ import annotations

import dagster as dg

from resources.database import DatabaseResource

defs = dg.Definitions(
    resources={
        "database": DatabaseResource(url=dg.EnvVar("DATABASE_URL")),
    },
    # Runs batch a whole day of fiches with bounded concurrency inside one process; the
    # multiprocess executor would add seconds per step for no benefit (see ARCHITECTURE.md).
    executor=dg.in_process_executor,
)
