"""`api_load.py`'s report: a stall shows as one second holding most of the slow requests; medians over runs."""

from __future__ import annotations

import argparse
import random

from api_load import ENDPOINTS, backend_role, last_line, median_figures, ratio_of, slowest_second, worker_shares


def _steady(seconds: int, rate: int, rng: random.Random) -> list[tuple[float, float]]:
    return [(i / rate, rng.uniform(8.0, 20.0)) for i in range(seconds * rate)]


def test_a_stall_is_the_second_holding_most_slow_requests() -> None:
    rng = random.Random(7)
    timeline = _steady(60, 100, rng)
    # 300 ms with nothing answered from 29.4 s: every request due then waits out the rest of it.
    timeline = [(due, latency + (29.7 - due) * 1000 if 29.4 <= due < 29.7 else latency) for due, latency in timeline]
    second, held, slow, worst = slowest_second(timeline)
    assert second == 29
    assert slow == sum(1 for _, latency in timeline if latency > sorted(x for _, x in timeline)[5940])
    assert held >= 30  # every stalled request, and the rest of the slow ones spread over 59 seconds
    assert 290 < worst < 320


def test_without_a_stall_the_slow_requests_spread() -> None:
    second, held, slow, _ = slowest_second(_steady(60, 100, random.Random(7)))
    assert slow > 0
    assert held <= 5  # uniform noise: no second holds more than a few of them
    assert 0 <= second < 60


def test_an_empty_phase_has_no_slowest_second() -> None:
    second, held, slow, worst = slowest_second([])
    assert (second, held, slow) == (0, 0, 0)
    assert worst != worst  # NaN


def test_the_figures_are_medians_over_runs_and_the_ratio_is_of_the_medians() -> None:
    quiet = [10.0] * 99 + [30.0]  # p99 30 (the 99th percentile of 100 is the slowest here)
    stalled = [10.0] * 99 + [300.0]
    sql = [5.0] * 99 + [12.0]
    run_of = dict.fromkeys(ENDPOINTS, (quiet, sql))
    runs = [run_of, {**run_of, "list": (stalled, sql)}, {**run_of, "list": ([10.0] * 99 + [40.0], [5.0] * 99 + [20.0])}]
    figures = median_figures(runs)
    assert figures["list"][:2] == (40.0, 12.0)  # one stalled run moves the median to the middle run, not to 300
    assert figures["list"][2] == ratio_of(40.0, 12.0) == 40.0 / 24.0
    assert figures["detail"] == (30.0, 12.0, 1.25)


def test_the_last_line_takes_median_cpu_and_peak_rss_over_runs() -> None:
    run = dict.fromkeys(ENDPOINTS, ([10.0] * 100, [5.0] * 100))
    used = [
        {"api_rss_mib": 640.0, "api_cpu_ms": 7.1, "postgres_cpu_ms": 3.4, "generator_cpu_ms": 0.7, "load": 1.2,
         "busiest_worker": 0.52},
        {"api_rss_mib": 655.0, "api_cpu_ms": 6.6, "postgres_cpu_ms": 3.9, "generator_cpu_ms": 0.6, "load": 1.0,
         "busiest_worker": 0.81},
        {"api_rss_mib": 642.0, "api_cpu_ms": 9.8, "postgres_cpu_ms": 3.5, "generator_cpu_ms": 0.6, "load": 1.4,
         "busiest_worker": 0.55},
    ]  # fmt: skip
    line = last_line(argparse.Namespace(audits=100, rate=100.0), [run] * 3, 2, used)
    figures = dict(pair.split("=") for pair in line.split())
    assert figures["runs"] == "3"
    assert figures["errors"] == "2"
    assert figures["api_rss_mib"] == "655"  # the peak, not the last run's 642
    assert figures["api_cpu_ms"] == "7.1"  # the median, not the last run's 9.8
    assert figures["postgres_cpu_ms"] == "3.5"
    assert figures["load"] == "1.2"
    assert figures["busiest_worker"] == "0.55"  # the median, not the one run's 0.81 nor the last's


def test_worker_shares_are_of_the_workers_cpu_busiest_first() -> None:
    assert worker_shares([1.0, 4.0]) == [0.8, 0.2]  # the one-pool imbalance decision 121 measured
    assert worker_shares([3.0, 3.0]) == [0.5, 0.5]
    assert worker_shares([0.0, 0.0]) == []  # no CPU measured: no shares, not a division by zero


def test_a_postgres_process_is_named_from_its_title() -> None:
    # Titles as psutil reads them from PostgreSQL 18's processes (the title padded with empty arguments).
    assert backend_role(["postgres: postgres callaudit [local] idle", "", "", ""]) == "connection"
    assert backend_role(["postgres: app callaudit 10.0.0.7(51234) SELECT"]) == "connection"
    assert backend_role(["postgres: autovacuum worker callaudit", ""]) == "autovacuum worker"
    assert backend_role(["postgres: checkpointer ", "", ""]) == "checkpointer"
