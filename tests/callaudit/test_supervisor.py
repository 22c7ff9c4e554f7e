"""The supervisor reports crashed children and leaves no process behind when it stops."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import psutil
import pytest

from callaudit.supervisor import ChildCrashed, ChildSpec, Supervisor

SLEEPER = "import time, sys; print('up', flush=True); time.sleep(60)"
# A parent that spawns a grandchild in its own process group, like the code server's run workers.
FAMILY = (
    "import subprocess, sys, time; "
    "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
    "print(p.pid, flush=True); time.sleep(60)"
)


def _wait_for_output(supervisor: Supervisor, name: str, timeout: float = 10.0) -> list[str]:
    child = next(c for c in supervisor.children if c.spec.name == name)
    deadline = time.monotonic() + timeout
    while not child.tail and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(child.tail)


def test_crash_is_reported_with_its_last_output(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path, echo=io.StringIO())
    supervisor.start(ChildSpec("steady", [sys.executable, "-c", SLEEPER]))
    supervisor.start(ChildSpec("flaky", [sys.executable, "-c", "print('boom: no config'); raise SystemExit(3)"]))
    try:
        with pytest.raises(ChildCrashed) as info:
            supervisor.wait()
        assert info.value.name == "flaky"
        assert info.value.returncode == 3
        assert "boom: no config" in info.value.tail
    finally:
        supervisor.stop()
    assert "boom: no config" in (tmp_path / "flaky.log").read_text()


def test_stop_kills_whole_process_groups(tmp_path: Path) -> None:
    echo = io.StringIO()
    supervisor = Supervisor(tmp_path, echo=echo)
    parent = supervisor.start(ChildSpec("family", [sys.executable, "-c", FAMILY]))
    grandchild_pid = int(_wait_for_output(supervisor, "family")[0])
    assert psutil.pid_exists(grandchild_pid)
    supervisor.stop(grace=5)
    assert parent.process.poll() is not None
    deadline = time.monotonic() + 5
    while psutil.pid_exists(grandchild_pid) and time.monotonic() < deadline:
        try:
            if psutil.Process(grandchild_pid).status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    assert not psutil.pid_exists(grandchild_pid) or psutil.Process(grandchild_pid).status() == psutil.STATUS_ZOMBIE
    assert "family | " in echo.getvalue()


def test_wait_returns_when_condition_holds(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path, echo=None)
    supervisor.start(ChildSpec("steady", [sys.executable, "-c", SLEEPER]))
    try:
        started = time.monotonic()
        supervisor.wait(until=lambda: time.monotonic() - started > 0.3, poll_seconds=0.05)
        assert supervisor.children[0].process.poll() is None
    finally:
        supervisor.stop()
