"""Transcription priorities and the Dagster run priority each one is launched with.

The QueuedRunCoordinator dequeues runs with a higher `dagster/priority` tag first, so a `high`
request overtakes queued `normal` and `low` ones (the original accepted a priority to no effect).
"""

from __future__ import annotations

from typing import Literal

Priority = Literal["low", "normal", "high"]

RUN_PRIORITY: dict[Priority, int] = {"high": 5, "normal": 0, "low": -5}
