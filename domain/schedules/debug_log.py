"""`AUTOMATION_DEBUG_LOG_TO_FILE`: a run's log lines mirrored to a text file (reference §9.5 step 2).

The original wrote `./automation-debug-logs/automation-run-<runId>.txt` beside its process when the
variable was set, each `log()` line of the run in it; here the file is under `CALLAUDIT_HOME`, lines
are scrubbed like the table's (no secret in a file either) and a resumed run appends to its file.
The run's log table and the Dagster run log stay the reference; the file is for reading with `tail`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from callaudit.logging import redact
from domain.models.automation import LogLevel

DIRECTORY = "automation-debug-logs"


def debug_log_path(home: Path, run_id: int) -> Path:
    return home / DIRECTORY / f"automation-run-{run_id}.txt"


def format_line(when: dt.datetime, level: LogLevel, message: str, metadata: Mapping[str, Any]) -> str:
    extra = f" {redact(json.dumps(dict(metadata), ensure_ascii=False, default=str))}" if metadata else ""
    return f"{when.isoformat()} {level.value.upper():<7} {redact(message)}{extra}\n"


class DebugLogFile:
    """Appends a run's log lines to its file (one `write` per line, so a killed run leaves whole lines)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self, when: dt.datetime, level: LogLevel, message: str, metadata: Mapping[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(format_line(when, level, message, metadata))


def debug_log_for(enabled: bool, home: Path, run_id: int) -> DebugLogFile | None:
    return DebugLogFile(debug_log_path(home, run_id)) if enabled else None
