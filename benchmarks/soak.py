"""Benchmark: the demo day repeated for `--minutes` under API load; memory, descriptors and connections.

Starts the whole stack with `callaudit run` (embedded Postgres and Redis, Dagster code server, daemon
and webserver, the API, the outbox worker) in a temporary home, against `day.py`'s upstreams (the
demo CRM simulator, the ElevenLabs stand-in, the OpenAI-compatible stand-in), one 18-step scorecard
marked to run automatically. Then, until `--minutes` have passed:

* one sales day after another (yesterday, the day before, ...): each is asked for through the API
  (`POST /api/fiches/status/by-date-range`, which launches the day's fetch), and the sensors chain its
  transcription and audits; the next day starts once every fiche of the previous one is audited;
* beside it, a steady `--rate` of API reads (the audit list, then the detail of an audit it listed)
  and `--sse-clients` clients following the newest audits' topics, each stream reopened every
  `--sse-seconds` (connections come and go, as browsers' do).

Every `--sample-seconds` it records, for every process of the stack (found from `callaudit run`'s
process tree and the embedded servers' pid files): RSS and open file descriptors; plus the Postgres
client connections (`pg_stat_activity`) and the Redis clients (`INFO clients`, and by the process
holding each one's end of Redis's Unix socket, from `ss`). The report shows them
at the start, the middle and the end. The baseline is the first sample after the first day is
audited (every process has then served each kind of work once; the cold sample is shown too).
`rss_growth_ratio` = the worst end / baseline RSS among the processes alive for the whole soak
(Dagster's run and step workers and Postgres backends come and go and are counted, not compared;
Redis's memory is the data it keeps, the event streams for a day by design, so it is reported with
its keys by prefix instead); bound 1.2. Since a first half's warm-up looks like a leak in a short
soak, the second half (from midway between the baseline and the end) is reported alone too: each
process's least-squares RSS slope in MB an hour over its samples (`steepest_mb_per_h`) and its
growth over that half (`late_rss_growth_ratio`, the worst). Descriptors (of every process but the transient ones),
Postgres client connections and Redis clients are reported as end - baseline, both under load; a
last sample after the load stops shows what the load's connections left behind.

    .venv/bin/python benchmarks/soak.py                   # 30 minutes
    .venv/bin/python benchmarks/soak.py --minutes 90      # long enough to read a slope
    .venv/bin/python benchmarks/soak.py --minutes 3       # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import os
import re
import secrets
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import numpy
import psutil
import psycopg
import redis
from day import CALLAUDIT, api_ready, install_scorecard, stack_environment, stop, upstreams, wait_until

from callaudit.migrate import migrate
from callaudit.runtime import Runtime, prepare
from callaudit.seed import seed_database
from callaudit.settings import Settings
from domain.partitions import day_audits
from resources.database import create_sync_engine, libpq_url, sync_session_factory

BOUND = 1.2
READS_IN_FLIGHT = 20
#: Processes that live for one Dagster run only: counted, never compared start to end.
TRANSIENT = {"dagster run worker", "dagster step worker", "postgres backend"}


def role(cmdline: Sequence[str]) -> str:
    """What a process of the stack is, from its command line."""
    text = " ".join(cmdline)
    for needle, name in (
        ("redis-server", "redis"),
        ("api execute_run", "dagster run worker"),
        ("api execute_step", "dagster run worker"),
        ("multiprocessing", "dagster step worker"),  # a run's steps (and their forkserver)
        ("dagster-webserver", "dagster webserver"),
        ("dagster_webserver", "dagster webserver"),
        ("dagster-daemon", "dagster daemon"),
        ("dagster_daemon", "dagster daemon"),
        ("api grpc", "dagster code server"),
        ("code-server", "dagster code server"),
        ("outbox-worker", "outbox worker"),
        ("callaudit api", "api"),
        ("callaudit run", "callaudit run"),
    ):
        if needle in text:
            return name
    return text[:60]


@dataclass(frozen=True)
class Proc:
    pid: int
    role: str
    rss: int
    fds: int


@dataclass
class Sample:
    kind: str  # cold, baseline, periodic or end
    at: float  # seconds from the start
    days_done: int
    procs: list[Proc]
    pg_connections: dict[str, int]
    redis_clients: int
    redis_memory: int
    redis_keys: Counter[str]
    load: tuple[float, float, float]
    redis_by_pid: Counter[int] = field(default_factory=Counter)

    def redis_by_role(self) -> Counter[str]:
        """Redis clients by the role of the process holding them; "?" for one ss could not name."""
        roles = {p.pid: p.role for p in self.procs}
        return Counter({roles.get(pid, "?"): n for pid, n in self.redis_by_pid.items()}) + Counter()

    def by_role(self) -> dict[str, list[Proc]]:
        grouped: dict[str, list[Proc]] = {}
        for proc in self.procs:
            grouped.setdefault(proc.role, []).append(proc)
        return grouped


@dataclass
class Load:
    """What the API load saw."""

    requests: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    streams: int = 0
    events: int = 0
    audit_ids: list[int] = field(default_factory=list)


def stack_processes(root: psutil.Process, runtime: Runtime) -> list[psutil.Process]:
    """`callaudit run` and its tree, the Redis server and Postgres (postmaster and backends)."""
    found = {root.pid: root}
    found.update({p.pid: p for p in root.children(recursive=True)})
    for pid in (runtime.embedded.redis.status().pid, runtime.embedded.postgres.status().pid):
        if pid is not None:
            server = psutil.Process(pid)
            found[pid] = server
            found.update({p.pid: p for p in server.children(recursive=False)})
    return list(found.values())


def snapshot(root: psutil.Process, runtime: Runtime, postmaster: int | None) -> list[Proc]:
    procs = []
    for process in stack_processes(root, runtime):
        try:
            with process.oneshot():
                name = role(process.cmdline())
                if process.ppid() == postmaster:
                    name = "postgres backend"
                elif process.pid == postmaster:
                    name = "postgres"
                procs.append(Proc(process.pid, name, process.memory_info().rss, process.num_fds()))
        except psutil.Error:
            continue  # ended between listing and reading
    return procs


def pg_connections(url: str) -> dict[str, int]:
    """Client connections by application name (the soak's own included, and named)."""
    with psycopg.connect(libpq_url(url), application_name="soak-probe") as conn:
        rows = conn.execute(
            "SELECT coalesce(nullif(application_name, ''), '?'), count(*) FROM pg_stat_activity"
            " WHERE backend_type = 'client backend' GROUP BY 1"
        ).fetchall()
    return {str(name): int(count) for name, count in rows}


def redis_state(url: str) -> tuple[int, int, Counter[str]]:
    """Connected clients, memory used by data, and the keys by their first name segment."""
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        keys = Counter(str(key).split(":", 1)[0] for key in client.scan_iter(count=1000))
        return int(client.info("clients")["connected_clients"]), int(client.info("memory")["used_memory"]), keys
    finally:
        client.close()


#: One Unix stream socket of `ss -xpnH`: local address and inode, peer inode, and the owner's pid if shown.
_UNIX_SOCKET = re.compile(
    r"^u_str\s+\S+\s+\d+\s+\d+\s+(\S+)\s+(\d+)\s+\S+\s+(\d+)(?:\s+users:\(\(\"[^\"]*\",pid=(\d+))?"
)


def unix_clients(ss_output: str, server_path: str) -> Counter[int]:
    """The clients of the server listening on `server_path`, by the pid holding each one's end (0: not
    shown): the server's accepted sockets carry its path, and the peer of each is a client's socket."""
    sockets = [m.groups() for line in ss_output.splitlines() if (m := _UNIX_SOCKET.match(line))]
    client_ends = {peer for path, _, peer, _ in sockets if path == server_path}
    return Counter(int(pid or 0) for _, inode, _, pid in sockets if inode in client_ends)


def redis_clients_by_pid(url: str) -> Counter[int]:
    """The embedded Redis's clients by process (it listens on a Unix socket, so CLIENT LIST's
    addresses do not tell processes apart; the kernel's socket pairs do)."""
    if not url.startswith("unix://"):
        return Counter()
    listing = subprocess.run(["ss", "-xpnH"], capture_output=True, text=True, check=False, timeout=30)
    return unix_clients(listing.stdout, url.removeprefix("unix://").split("?", 1)[0])


def growth(first: Sample, last: Sample) -> tuple[float, str, dict[str, tuple[int, int]]]:
    """The worst end / baseline RSS among the non-transient processes alive in both samples, its
    process, and every such process's (baseline, end) RSS. Redis is left out: its memory is the data
    it keeps (event streams for a day, by design), reported with its keys instead."""
    before = {p.pid: p for p in first.procs if p.role not in TRANSIENT | {"redis"}}
    pairs = {f"{p.role} ({p.pid})": (before[p.pid].rss, p.rss) for p in last.procs if p.pid in before}
    if not pairs:
        return float("nan"), "-", pairs
    worst = max(pairs, key=lambda name: pairs[name][1] / pairs[name][0])
    return pairs[worst][1] / pairs[worst][0], worst, pairs


def late_slopes(samples: Sequence[Sample], since: float) -> dict[str, tuple[float, float, float]]:
    """For every long-lived process (as in `growth`) sampled from `since` (seconds from the start) to
    the end: its least-squares RSS slope in MB an hour over those samples, its RSS at the first and at
    the last of them. The second half of a soak tells a steady slope from the first half's warm-up."""
    series: dict[int, list[tuple[float, Proc]]] = {}
    for s in samples:
        if s.at >= since and s.kind in {"baseline", "periodic", "end"}:
            for p in s.procs:
                if p.role not in TRANSIENT | {"redis"}:
                    series.setdefault(p.pid, []).append((s.at, p))
    slopes = {}
    for points in series.values():
        if len(points) < 3 or points[0][0] > since + 60:  # started late: not alive throughout
            continue
        at, rss = numpy.array([a for a, _ in points]), numpy.array([p.rss for _, p in points], dtype=float)
        slope = float(numpy.polyfit(at / 3600, rss / 2**20, 1)[0])
        first, last = points[0][1], points[-1][1]
        slopes[f"{last.role} ({last.pid})"] = (slope, first.rss / 2**20, last.rss / 2**20)
    return slopes


# --- API load -----------------------------------------------------------------------------------


async def _reads(client: httpx.AsyncClient, load: Load, rate: float, stop_at: float) -> None:
    """Open loop: one request every 1 / rate s whatever the answers take, up to READS_IN_FLIGHT at
    once; a request due while that many are waiting is counted as skipped (the API fell behind)
    instead of queued: a queue growing for half an hour would measure the client, not the stack."""
    tasks: set[asyncio.Task[None]] = set()
    counter = itertools.count()

    async def one(n: int) -> None:
        detail = n % 2 == 1 and load.audit_ids
        path = f"/api/audits/{load.audit_ids[n % len(load.audit_ids)]}" if detail else "/api/audits"
        kind = "detail" if detail else "list"
        try:
            response = await client.get(path, params=None if detail else {"limit": 20})
            load.requests[kind] += 1
            if response.status_code != 200:
                load.errors[f"{kind} {response.status_code}"] += 1
            elif not detail:
                load.audit_ids[:] = [item["id"] for item in response.json()["data"]] or load.audit_ids
        except httpx.HTTPError as exc:
            load.errors[f"{kind} {type(exc).__name__}"] += 1

    start = time.monotonic()
    for n in counter:
        due = start + n / rate
        if due >= stop_at:
            break
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        if len(tasks) >= READS_IN_FLIGHT:
            load.errors["skipped, API behind"] += 1
            continue
        task = asyncio.create_task(one(n))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)


async def _follower(client: httpx.AsyncClient, load: Load, index: int, seconds: float, stop_at: float) -> None:
    """Follows one of the newest audits for `seconds`, then another, until the soak ends."""
    while time.monotonic() < stop_at:
        if not load.audit_ids:
            await asyncio.sleep(1)
            continue
        topic = f"audit:{load.audit_ids[index % len(load.audit_ids)]}"
        try:
            async with asyncio.timeout(min(seconds, max(0.1, stop_at - time.monotonic()))):
                async with client.stream("GET", "/api/realtime/stream", params={"topic": topic}) as response:
                    load.streams += 1
                    if response.status_code != 200:
                        load.errors[f"stream {response.status_code}"] += 1
                        await asyncio.sleep(1)
                        continue
                    async for line in response.aiter_lines():
                        load.events += line.startswith("event:")
        except TimeoutError:
            pass  # the stream's time is up: the next one follows another audit
        except httpx.HTTPError as exc:
            load.errors[f"stream {type(exc).__name__}"] += 1
            await asyncio.sleep(1)


async def api_load(base_url: str, token: str, args: argparse.Namespace, load: Load, stop_at: float) -> None:
    limits = httpx.Limits(max_connections=args.sse_clients + 50, max_keepalive_connections=20)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30, limits=limits) as client:
        followers = [_follower(client, load, i, args.sse_seconds, stop_at) for i in range(args.sse_clients)]
        await asyncio.gather(_reads(client, load, args.rate, stop_at), *followers)


# --- the days -----------------------------------------------------------------------------------


def request_day(base_url: str, token: str, day: dt.date) -> None:
    response = httpx.post(
        f"{base_url}/api/fiches/status/by-date-range",
        params={"start_date": day.isoformat(), "end_date": day.isoformat()},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    response.raise_for_status()


def day_done(runtime: Runtime, day: dt.date, scorecard_id: int, fiches: int) -> bool:
    engine = create_sync_engine(runtime.database_url)
    try:
        with sync_session_factory(engine)() as session:
            state = day_audits(session, day, scorecard_id)
    finally:
        engine.dispose()
    return state.fiches == fiches and state.not_ready == 0 and state.waiting == 0


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--fiches", type=int, default=10, help="fiches per sales day")
    parser.add_argument("--rate", type=float, default=10.0, help="API reads per second")
    parser.add_argument("--sse-clients", type=int, default=20)
    parser.add_argument("--sse-seconds", type=float, default=60.0, help="how long a client follows one audit")
    parser.add_argument("--sample-seconds", type=float, default=30.0)
    parser.add_argument("--day-timeout", type=float, default=600.0, help="give a day up after this long")
    parser.add_argument("--crm-latency-ms", type=float, default=100.0)
    parser.add_argument("--crm-cap", type=int, default=3)
    parser.add_argument("--stt-latency", type=float, default=0.5)
    parser.add_argument("--stt-limit", type=int, default=4)
    parser.add_argument("--llm-latency", type=float, default=0.2)
    parser.add_argument("--llm-cap", type=int, default=4)
    return parser.parse_args()


def main() -> None:  # noqa: PLR0915 - one scenario, read top to bottom
    args = arguments()
    token = secrets.token_urlsafe(24)
    samples: list[Sample] = []
    load = Load()
    days: list[tuple[dt.date, float, bool]] = []  # (day, seconds it took, completed)

    with contextlib.ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-soak-")))
        crm_url, stt_url, llm = stack.enter_context(upstreams(args))
        env = stack_environment(home, args, crm_url, stt_url, llm)
        del env["SALES_REFRESH_CRON"]  # the default: today's sync every 15 minutes, as deployed
        env.update(API_AUTH_TOKEN=token, API_AUTH_TOKEN_SCOPE="ALL", JWT_ACCESS_SECRET=secrets.token_urlsafe(48))
        os.environ.clear()
        os.environ.update(env)  # this process resolves the same settings as the stack
        runtime = prepare(Settings(), start_embedded=True)
        stack.callback(runtime.stop_started)
        migrate(runtime)
        seed_database(runtime)
        scorecard_id = install_scorecard(runtime)
        today = dt.datetime.now(ZoneInfo(runtime.settings.sales_timezone)).date()

        log = stack.enter_context((home / "run.log").open("wb"))
        proc = subprocess.Popen(
            [CALLAUDIT, "run"], cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        stack.callback(stop, proc)
        base_url = f"http://127.0.0.1:{env['PORT']}"
        wait_until(lambda: api_ready(env["PORT"]), 180, "the API", proc)
        root = psutil.Process(proc.pid)
        postmaster = runtime.embedded.postgres.status().pid
        origin = time.monotonic()
        end_at = origin + args.minutes * 60
        stop_at = end_at + 15  # the load outlasts the end sample, so that sample is taken under load
        done = threading.Event()

        def sample(kind: str) -> None:
            samples.append(
                Sample(
                    kind,
                    time.monotonic() - origin,
                    sum(1 for _, _, ok in days if ok),
                    snapshot(root, runtime, postmaster),
                    pg_connections(runtime.database_url),
                    *redis_state(runtime.redis_url),
                    os.getloadavg(),
                    redis_clients_by_pid(runtime.redis_url),
                )
            )

        def sampler() -> None:
            while not done.wait(args.sample_seconds):
                sample("periodic")

        sample("cold")  # cold: the stack just started
        loader = threading.Thread(target=lambda: asyncio.run(api_load(base_url, token, args, load, stop_at)))
        watcher = threading.Thread(target=sampler)
        loader.start()
        watcher.start()
        print(f"stack up (home {home}); days of {args.fiches} fiches for {args.minutes:g} min", flush=True)
        for back in itertools.count(1):
            if time.monotonic() >= end_at:
                break
            day = today - dt.timedelta(days=back)
            began = time.monotonic()
            request_day(base_url, token, day)
            deadline = min(end_at, began + args.day_timeout)
            while not (ok := day_done(runtime, day, scorecard_id, args.fiches)) and time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise SystemExit(f"callaudit run exited with {proc.returncode}")
                time.sleep(2)
            if not ok and time.monotonic() >= end_at:
                print(f"  {day}: cut by the end of the soak after {time.monotonic() - began:.0f} s", flush=True)
                break
            days.append((day, time.monotonic() - began, ok))
            print(f"  {day}: {'audited' if ok else 'NOT audited'} in {days[-1][1]:.0f} s", flush=True)
            if ok and len(days) == 1:
                sample("baseline")  # the baseline: every kind of work has run once
        done.set()
        watcher.join()
        sample("end")
        loader.join()
        time.sleep(5)
        sample("idle")  # the load stopped: its connections should be gone
    report(args, samples, load, days)


def _mb(value: int) -> str:
    return f"{value / 2**20:7.1f}"


def report(
    args: argparse.Namespace, samples: list[Sample], load: Load, days: list[tuple[dt.date, float, bool]]
) -> None:
    cold = samples[0]
    baseline = next((s for s in samples if s.kind == "baseline"), cold)
    last = next(s for s in samples if s.kind == "end")
    idle = samples[-1]
    middle = min(samples, key=lambda s: abs(s.at - (baseline.at + last.at) / 2))
    audited = [seconds for _, seconds, ok in days if ok]
    print(f"Soak: {args.minutes:g} min, days of {args.fiches} fiches, {args.rate:g} API reads/s, "
          f"{args.sse_clients} SSE clients (each stream {args.sse_seconds:g} s)")  # fmt: skip
    print(f"  days audited {len(audited)} of {len(days)} started; seconds per day "
          f"{min(audited, default=0):.0f} / {sorted(audited)[len(audited) // 2] if audited else 0:.0f} / "
          f"{max(audited, default=0):.0f} (min / median / max)")  # fmt: skip
    print(f"  API reads {sum(load.requests.values())} ({dict(load.requests)}), streams opened {load.streams}, "
          f"events received {load.events}, errors {dict(load.errors) or 0}")  # fmt: skip
    columns = {"cold": cold, "baseline": baseline, "middle": middle, "end": last, "load stopped": idle}
    print("  " + " " * 34 + "".join(f"{name:>22}" for name in columns))
    print("  " + " " * 34 + "".join(f"{f'{s.at:.0f} s, day {s.days_done}':>22}" for s in columns.values()))
    roles = sorted({p.role for s in columns.values() for p in s.procs})
    for name in roles:
        cells = []
        for s in columns.values():
            procs = s.by_role().get(name, [])
            rss, fds = sum(p.rss for p in procs), sum(p.fds for p in procs)
            cells.append(f"{_mb(rss)} MB {fds:4d} fd x{len(procs)}" if procs else "-")
        print(f"  {name[:34]:<34}" + "".join(f"{cell:>22}" for cell in cells))
    print(f"  {'postgres client connections':<34}" + "".join(
        f"{sum(s.pg_connections.values()):>22}" for s in columns.values()))  # fmt: skip
    print(f"  {'redis clients':<34}" + "".join(f"{s.redis_clients:>22}" for s in columns.values()))
    for name in sorted({r for s in columns.values() for r in s.redis_by_role()}):
        print(f"  {f'  of {name}'[:34]:<34}" + "".join(f"{s.redis_by_role()[name]:>22}" for s in columns.values()))
    print(f"  {'redis used memory (MB)':<34}" + "".join(f"{_mb(s.redis_memory):>22}" for s in columns.values()))
    print(f"  {'redis keys':<34}" + "".join(f"{sum(s.redis_keys.values()):>22}" for s in columns.values()))
    print(f"  redis keys by prefix, baseline -> end: {dict(baseline.redis_keys)} -> {dict(last.redis_keys)}")
    print(f"  {'load average (1, 5, 15 min)':<34}" + "".join(
        f"{' '.join(f'{x:.1f}' for x in s.load):>22}" for s in columns.values()))  # fmt: skip
    print(f"  connections at the end by application: {dict(sorted(last.pg_connections.items()))}")
    ratio, worst, pairs = growth(baseline, last)
    print("  RSS end / baseline of the processes alive throughout:")
    for name, (before, after) in sorted(pairs.items(), key=lambda kv: kv[1][1] / kv[1][0], reverse=True):
        print(f"    {name:<40} {_mb(before)} -> {_mb(after)} MB  x{after / before:.3f}")
    fds = sum(p.fds for p in last.procs if p.role not in TRANSIENT) - sum(
        p.fds for p in baseline.procs if p.role not in TRANSIENT
    )
    connections = sum(last.pg_connections.values()) - sum(baseline.pg_connections.values())
    clients = last.redis_clients - baseline.redis_clients
    dagster_clients = sum(n for name, n in last.redis_by_role().items() if name.startswith("dagster"))
    print(f"  worst RSS growth {ratio:.3f} ({worst}) against the bound {BOUND}")
    half = (baseline.at + last.at) / 2
    slopes = late_slopes(samples, half)
    print(f"  RSS over the second half ({half:.0f} s to the end), least-squares slope:")
    for name, (slope, first, end) in sorted(slopes.items(), key=lambda kv: kv[1][0], reverse=True):
        print(f"    {name:<40} {slope:+7.1f} MB/h  {first:7.1f} -> {end:7.1f} MB  x{end / first:.3f}")
    late = max(slopes.items(), key=lambda kv: kv[1][2] / kv[1][1], default=("-", (0.0, 1.0, 1.0)))
    steepest = max(slopes.items(), key=lambda kv: kv[1][0], default=("-", (0.0, 1.0, 1.0)))
    skipped = load.errors["skipped, API behind"]
    print(
        f"minutes={args.minutes:g} days_audited={len(audited)} days_started={len(days)} "
        f"api_reads={sum(load.requests.values())} api_skipped={skipped} "
        f"api_errors={sum(load.errors.values()) - skipped} streams={load.streams} "
        f"fd_growth={fds} pg_connection_growth={connections} redis_client_growth={clients} "
        f"dagster_redis_clients={dagster_clients} "
        f"late_rss_growth_ratio={late[1][2] / late[1][1]:.3f} steepest_mb_per_h={steepest[1][0]:.1f} "
        f"rss_growth_ratio={ratio:.3f} bound={BOUND}"
    )


if __name__ == "__main__":
    main()
