"""The benchmarks' CPU count of a process tree keeps the CPU of children that have exited."""

from __future__ import annotations

import subprocess
import sys

import psutil
from _embedded import tree_cpu_seconds

BURN = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"


def test_an_exited_child_s_cpu_still_counts() -> None:
    """A Postgres backend whose connection closed mid-measure is such a child: before, its CPU left
    the count with it and the API phase's Postgres figure came out near zero or negative."""
    me = psutil.Process()
    before = tree_cpu_seconds(me)
    subprocess.run([sys.executable, "-c", BURN], check=True)  # waited for: reaped, no longer a live child
    assert me.children() == []
    assert tree_cpu_seconds(me) - before >= 0.25


def test_a_live_child_s_cpu_counts_once() -> None:
    me = psutil.Process()
    child = subprocess.Popen([sys.executable, "-c", BURN + "\ninput()"], stdin=subprocess.PIPE)
    try:  # the child burns its CPU, then waits on stdin as a live descendant
        while sum(psutil.Process(child.pid).cpu_times()[:2]) < 0.3:
            pass
        live = tree_cpu_seconds(me)
        child.communicate(b"\n")
        after = tree_cpu_seconds(me)
    finally:
        child.kill()
    # Reaped, its CPU moved into children_* and is counted there instead, not twice.
    assert after - live < 0.2
