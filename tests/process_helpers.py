"""Helpers for tests that run the `callaudit` CLI as a real process."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import psutil

CALLAUDIT = str(Path(sys.executable).parent / "callaudit")

# Variables that would point a child at servers other than its own embedded ones.
_SCRUBBED = (
    "DATABASE_URL", "DIRECT_URL", "REDIS_URL", "DAGSTER_HOME", "DAGSTER_POSTGRES_URL",
    "DAGSTER_WEBSERVER_URL", "FICHE_API_BASE_URL", "FICHE_API_URL", "PORT",
)  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED and not k.startswith("CALLAUDIT_TEST")}
    env.update(CALLAUDIT_HOME=str(home), PYTHONUNBUFFERED="1", **extra)
    return env


def gone(pid: int) -> bool:
    """Exited; a zombie awaiting its reaper counts (it holds no port, socket or file)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
