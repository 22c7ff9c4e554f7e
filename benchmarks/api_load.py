"""Benchmark: the audit reads at a steady 100 requests/s over 100k audits, against their own SQL.

Sets up embedded Postgres and Redis, seeds `--audits` audits (100k by default) inside Postgres with
set-based `INSERT ... SELECT` (`api_load_seed.sql`: fiches over 60 sales days in 10 CRM groups of unequal
size, 8 agents each, 1 to 3 recordings with transcripts; every fiche audited on a 10-step
scorecard, 60 % also on an 18-step one, a quarter of the pairs audited again, a few attempts
failed or soft-deleted; completed audits with their steps, 2 to 4 control points per step and 1 or
2 citations per point found), then serves the API with `callaudit api` as in production.

Requests come from a fixed pool of shapes, drawn in the same random order for both phases:

* `list`: `GET /api/audits` with the list page's common filters (none; a week of one status;
  a group and two levels; a scorecard over a month sorted by score; non-compliant over two weeks;
  later pages), 50 a page;
* `grouped`: `GET /api/audits/grouped` by group, level (a month), day (30 days), scorecard, score
  bucket of one group;
* `detail`: `GET /api/audits/{id}` of a completed audit (10 or 18 steps, points, citations);
* `status`: `POST /api/fiches/status/batch` of 100 fiches of one sales day.

Half the requests are an admin's (ALL scope), half a viewer's (GROUP scope: one CRM group), each
with a real access token of a signed-in session.

Open loop: request `i` is due at `start + i / rate` whatever the earlier ones are doing, and its
latency counts from that due time (a late answer makes the next ones late too: no coordinated
omission). `--warmup` seconds at the same rate come first and are not counted.

The API phase's requests come from a load generator in its own process (aiohttp, lighter than httpx
per request), so the API's CPU is measured alone and the generator's beside it. Each request opens its
own connection, as the API's replicas are reached in production: `deploy/nginx.conf` proxies to a
variable (`$api_backend`), which keeps no upstream connections, so nginx connects anew for every
request. `--keep-alive` sends them instead over one client's pool of kept-alive connections, which
aiohttp reuses most recent first: one API worker then serves most requests while the other idles
(decision 121). Each phase reports every API worker's share of the API's CPU. Before the load,
the generator sends every shape twice, one request at a time, to the running API: the second pass's
CPU in the API process is the per-endpoint "one at a time" figure (no client in it).

The baseline is the same requests' SQL. Each shape is sent once through the app in this process
(httpx's ASGI transport) with SQLAlchemy's `before_cursor_execute` recording every statement and its
parameters (authentication's too when the request runs it: an API process remembers a signed-in
principal after its first request, decision 123, so a recorded request, sent the second time, reads
none); the SQL phase then replays, on the same schedule, each request's
statements in order on its own transaction of a pool of 10 psycopg connections (the app's pool
size), fetching every row. What the API adds on top of that is Python: routing, validation,
authentication, the ORM, serialisation, and one process's event loop.

`ratio` (per endpoint) = max(p99 / 50 ms, p99 / (2 x SQL p99)): both targets (p99 <= 50 ms and
p99 <= twice the SQL's p99) are met when it is <= 1. `--runs N` repeats the SQL and API phases back
to back (the API stays up) and reports each run, then every endpoint's median p99 and median SQL
p99 over the runs: one run's p99 is its ~15th slowest request of an endpoint. The last line gives
the audit list's `p99_ms` and `ratio` (from those medians), then every endpoint's; its CPU figures
are medians over the runs too, and its RSS the peak of all of them.

The load generator and the SQL replay do not collect garbage during a phase (`gc.freeze` of what
they hold, collection off until the phase ends): a full collection of their own stopped them for
150-350 ms once a phase, late for every request due meanwhile. Each phase reports the second that
holds most of its requests slower than its p99: a stall shows there.

    .venv/bin/python benchmarks/api_load.py                          # 100k audits, 100 req/s for 60 s
    .venv/bin/python benchmarks/api_load.py --audits 10000 --seconds 15  # a quick look
    .venv/bin/python benchmarks/api_load.py --home /tmp/api-bench    # keep (and reuse) the seeded database
    .venv/bin/python benchmarks/api_load.py --api-workers 2          # `callaudit api --workers 2`
    .venv/bin/python benchmarks/api_load.py --runs 3                 # medians of three back-to-back runs
    .venv/bin/python benchmarks/api_load.py --keep-alive             # one client's kept-alive connections
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import json
import multiprocessing
import os
import platform
import random
import re
import secrets
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psutil
import psycopg
from _embedded import CALLAUDIT_API, Servers, migrated_servers, running_api, tree_cpu_seconds
from sqlalchemy import Engine, event, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from api.app import create_app
from api.auth.crypto import keyring_for
from api.auth.service import issue_refresh_token
from callaudit.settings import Settings, load_settings
from domain.models import Audit, Fiche, User
from resources.database import create_api_engine, libpq_url

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the API tests' world seeds roles, teams and principals

from tests.fixtures.factories.aio import add_scorecard  # noqa: E402
from tests.fixtures.world import build_world  # noqa: E402

SEED_SQL = Path(__file__).with_name("api_load_seed.sql")
BOUND_MS = 50.0
SQL_FACTOR = 2.0
POOL = 10  # the API's pool size (`api.app`)
FIRST_DAY = dt.date(2026, 9, 1)
DAYS = 60
PAGE = 50
BATCH = 100
ENDPOINTS = ("list", "grouped", "detail", "status")
PRINCIPALS = {"admin": "ALL", "viewer": "GROUP"}
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Shape:
    """One request as sent: endpoint family, principal, method, path, query or body."""

    endpoint: str
    principal: str
    method: str
    path: str
    params: tuple[tuple[str, str], ...] = ()
    fiche_ids: tuple[str, ...] = ()  # the status batch's body


@dataclass
class Captured:
    """What one shape costs in SQL: its statements and parameters as the driver received them."""

    statements: list[tuple[str, Any]] = field(default_factory=list)
    response_bytes: int = 0
    postgres_cpu_ms: float = 0.0  # every Postgres process's CPU meanwhile (clock ticks: averages only)


@dataclass
class Phase:
    #: (seconds from the first measured due time, endpoint, latency ms) of every measured request.
    timeline: list[tuple[float, str, float]] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    late_starts: int = 0  # requests this process could not even send within 5 ms of their due time
    requests: int = 0  # sent in the measured window
    rss: list[int] = field(default_factory=list)
    api_cpu_s: float = 0.0
    postgres_cpu_s: float = 0.0
    generator_cpu_s: float = 0.0  # the process sending the requests (or replaying the SQL)
    worker_cpu_s: list[float] = field(default_factory=list)  # each API worker's, over the measured requests
    load: tuple[float, float] = (0.0, 0.0)
    #: One at a time against the running API, per endpoint: (API CPU ms, generator CPU ms) a request.
    serial_cpu_ms: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: Postgres processes started during the phase: (seconds from the first measured due time, role).
    new_backends: list[tuple[float, str]] = field(default_factory=list)
    measured_from: float = 0.0  # the first measured due time, as a Unix time (to line up with other logs)

    def latencies(self, endpoint: str) -> list[float]:
        return [latency for _, name, latency in self.timeline if name == endpoint]


def _cpu(processes: Sequence[psutil.Process]) -> float:
    """CPU seconds of these processes and their descendants, exited ones included (Postgres: every
    backend, a closed connection's too)."""
    total = 0.0
    for process in processes:
        try:
            total += tree_cpu_seconds(process)
        except psutil.NoSuchProcess:
            continue
    return total


def _workers_cpu(api: psutil.Process | None) -> dict[int, float]:
    """CPU seconds of each API worker process, by pid: the API's children but multiprocessing's
    resource tracker, which uvicorn's spawned workers bring along."""
    seconds = {}
    for child in api.children() if api is not None else ():
        try:
            if not any("resource_tracker" in part for part in child.cmdline()):
                seconds[child.pid] = sum(child.cpu_times()[:2])
        except psutil.NoSuchProcess:
            continue
    return seconds


def worker_shares(cpu_s: Sequence[float]) -> list[float]:
    """Each worker's share of the workers' CPU, busiest first: balanced workers share it equally."""
    total = sum(cpu_s)
    return sorted((seconds / total for seconds in cpu_s), reverse=True) if total > 0 else []


def _rss(process: psutil.Process) -> int:
    """Resident memory of the API: its process and its workers (`--api-workers`)."""
    return sum(p.memory_info().rss for p in (process, *process.children(recursive=True)))


def postmaster(home: Path) -> psutil.Process:
    return psutil.Process(int((home / "postgres" / "postmaster.pid").read_text().split()[0]))


# --- seeding ------------------------------------------------------------------------------------


def _seed_sql(fiches: int, cards: Sequence[tuple[int, int]]) -> str:
    values = {
        "fiches": str(fiches),
        "days": str(DAYS),
        "first_day": f"'{FIRST_DAY.isoformat()}'",
        "card_1": str(cards[0][0]),
        "version_1": str(cards[0][1]),
        "card_2": str(cards[1][0]),
        "version_2": str(cards[1][1]),
        "second_card_share": "0.6",
        "retry_share": "0.22",
    }
    return re.sub(r"(?<!:):([a-z_0-9]+)", lambda m: values.get(m.group(1), m.group(0)), SEED_SQL.read_text())


BULK_TABLES = ("audit_steps", "audit_control_points", "audit_citations")


def _drop_secondary_indexes(connection: psycopg.Connection[Any]) -> list[str]:
    """Drop the bulk tables' indexes and unique constraints (primary keys stay); the statements that
    rebuild them as they were. Building an index once over the loaded rows is several times faster
    than maintaining it row by row."""
    tables = list(BULK_TABLES)
    constraints = connection.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE contype = 'u' AND conrelid::regclass::text = ANY(%s)",
        (tables,),
    ).fetchall()
    indexes = connection.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) AND indexname NOT IN "
        "(SELECT conname FROM pg_constraint WHERE contype IN ('p', 'u'))",
        (tables,),
    ).fetchall()
    rebuild = []
    for table, name, definition in constraints:
        connection.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'.encode())
        rebuild.append(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    for name, definition in indexes:
        connection.execute(f'DROP INDEX "{name}"'.encode())
        rebuild.append(definition)
    return rebuild


def _first_words(statement: str) -> str:
    lines = [line for line in statement.strip().splitlines() if not line.startswith("--")]
    return " ".join(lines[0].split()[:3]) if lines else ""


async def _world(settings: Settings) -> list[tuple[int, int]]:
    """Roles, teams (the viewer's reaches CRM group `G-OWN`), principals, and the two scorecards."""
    engine = create_api_engine(settings.database_url.get_secret_value())  # type: ignore[union-attr]
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            await build_world(session, settings)
            cards = [await add_scorecard(session, "Vente santé"), await add_scorecard(session, "Qualité 18 points")]
            await session.commit()
            return [(c.id, c.version_id) for c in cards]
    finally:
        await engine.dispose()


def _seed(servers: Servers, settings: Settings, audits: int) -> None:
    with psycopg.connect(libpq_url(servers.database_url)) as connection:
        seeded = connection.execute("SELECT count(*) FROM audits").fetchone()
        if seeded and seeded[0]:
            print(f"  reusing the seeded database: {seeded[0]:,} audits")
            return
    started = time.monotonic()
    with psycopg.connect(libpq_url(servers.database_url)) as connection:
        # A seed that failed half-way leaves the world (committed apart) without its audits.
        cards = connection.execute("SELECT s.id, s.current_version_id FROM scorecards s ORDER BY s.id").fetchall()
    if not cards:
        cards = asyncio.run(_world(settings))
    # 100k audits come from about 0.6 x as many fiches: 1.6 pairs per fiche, 1.25 attempts per pair.
    sql = _seed_sql(round(audits / 1.6 / 1.25 * 0.995), cards)
    with psycopg.connect(libpq_url(servers.database_url), autocommit=True) as connection:
        # Foreign-key triggers off while loading (the generator makes every reference): about half
        # of the load's time otherwise, one parent look-up per row.
        connection.execute("SET synchronous_commit = off")
        connection.execute("SET session_replication_role = replica")
        connection.execute("SET maintenance_work_mem = '512MB'")
        with connection.transaction():
            rebuild = _drop_secondary_indexes(connection)
            for statement in sql.split(";\n"):
                if statement.strip():
                    began = time.monotonic()
                    connection.execute(statement.encode())
                    print(f"    {time.monotonic() - began:6.1f} s  {_first_words(statement)}")
            began = time.monotonic()
            connection.execute("SELECT audit_fiche_copies_rebuild()")  # its triggers were off too
            print(f"    {time.monotonic() - began:6.1f} s  the audits' copies of their fiche's columns")
            began = time.monotonic()
            for statement in rebuild:
                connection.execute(statement.encode())
            print(f"    {time.monotonic() - began:6.1f} s  {len(rebuild)} indexes and unique constraints rebuilt")
            began = time.monotonic()
            connection.execute("SELECT audit_counts_rebuild()")  # its triggers were off with the others
            print(f"    {time.monotonic() - began:6.1f} s  audit_counts rebuilt")
        connection.execute("SET session_replication_role = DEFAULT")
        connection.execute("VACUUM ANALYZE")
    with psycopg.connect(libpq_url(servers.database_url)) as connection:
        counts = {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in ("fiches", "recordings", "audits", "audit_steps", "audit_control_points", "audit_citations")
        }
    print(f"  seeded in {time.monotonic() - started:.0f} s: " + ", ".join(f"{n:,} {t}" for t, n in counts.items()))


# --- principals and request shapes -------------------------------------------------------------


async def _tokens(settings: Settings) -> dict[str, str]:
    """An access token (one hour) of a new signed-in session for each principal."""
    keyring = keyring_for(settings)
    engine = create_api_engine(settings.database_url.get_secret_value())  # type: ignore[union-attr]
    tokens = {}
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            for name in PRINCIPALS:
                user_id = (await session.scalars(select(User.id).where(User.email == f"{name}@example.test"))).one()
                issued, _ = await issue_refresh_token(session, user_id, ttl_seconds=7200, ip=None, user_agent=None)
                tokens[name] = keyring.issue_access_token(str(user_id), 3600, {"sid": issued.family_id})
            await session.commit()
    finally:
        await engine.dispose()
    return tokens


async def _ids(settings: Settings, rng: random.Random) -> dict[str, Any]:
    """Audit ids to open and fiche batches to ask about, per principal (the viewer's from its group)."""
    engine = create_api_engine(settings.database_url.get_secret_value())  # type: ignore[union-attr]
    try:
        async with AsyncSession(engine) as session:
            completed = select(Audit.id, Fiche.crm_group_id).join(Fiche, Fiche.fiche_id == Audit.fiche_id)
            completed = completed.where(Audit.status == "completed", Audit.is_latest)
            rows = (await session.execute(completed.order_by(text("random()")).limit(4000))).all()
            fiches = (await session.execute(select(Fiche.fiche_id, Fiche.sales_date, Fiche.crm_group_id))).all()
            groups = list((await session.scalars(select(Fiche.groupe).distinct().order_by(Fiche.groupe))).all())
            cards = list(
                (await session.scalars(select(Audit.scorecard_id).distinct().order_by(Audit.scorecard_id))).all()
            )
    finally:
        await engine.dispose()
    by_day: dict[tuple[dt.date | None, bool], list[str]] = defaultdict(list)
    for fiche_id, day, group in fiches:
        if day is None:
            continue
        by_day[(day, False)].append(fiche_id)
        if group == "G-OWN":
            by_day[(day, True)].append(fiche_id)
    own = [i for i, g in rows if g == "G-OWN"]
    return {
        "audits": {"admin": [i for i, _ in rows][:300], "viewer": own[:300]},
        "batches": {
            name: [rng.sample(ids, min(BATCH, len(ids))) for (day, mine), ids in sorted(by_day.items()) if mine == own_]
            for name, own_ in (("admin", False), ("viewer", True))
        },
        "groups": [g for g in groups if g],
        "cards": cards,
    }


def _shapes(ids: dict[str, Any], rng: random.Random) -> dict[str, list[Shape]]:
    last = FIRST_DAY + dt.timedelta(days=DAYS - 1)
    week, fortnight, month = (last - dt.timedelta(days=n) for n in (6, 13, 29))
    shapes: dict[str, list[Shape]] = {e: [] for e in ENDPOINTS}
    for who in PRINCIPALS:
        group = "Groupe Île-de-France" if who == "viewer" else rng.choice(ids["groups"])
        lists: list[dict[str, str]] = [
            {},
            {"date_from": week.isoformat(), "date_to": last.isoformat(), "status": "completed"},
            {"groupes": group, "niveau": "INSUFFISANT,REJET"},
            {"scorecard_ids": str(ids["cards"][-1]), "sales_date_from": month.isoformat(),
             "sales_date_to": last.isoformat(), "sort_by": "score_percentage", "sort_order": "asc"},
            {"is_compliant": "false", "date_from": fortnight.isoformat()},
            {"offset": str(PAGE)},
            {"offset": str(4 * PAGE), "status": "completed"},
        ]  # fmt: skip
        for params in lists:
            query = tuple({"limit": str(PAGE), **params}.items())
            shapes["list"].append(Shape("list", who, "GET", "/api/audits", query))
        grouped: list[dict[str, str]] = [
            {"group_by": "groupe"},
            {"group_by": "niveau", "date_from": month.isoformat()},
            {"group_by": "created_day", "date_from": month.isoformat(), "date_to": last.isoformat()},
            {"group_by": "scorecard"},
            {"group_by": "score_bucket", "bucket_size": "10", "groupes": group},
        ]
        shapes["grouped"] += [Shape("grouped", who, "GET", "/api/audits/grouped", tuple(p.items())) for p in grouped]
        shapes["detail"] += [Shape("detail", who, "GET", f"/api/audits/{i}") for i in ids["audits"][who][:100]]
        shapes["status"] += [
            Shape("status", who, "POST", "/api/fiches/status/batch", fiche_ids=tuple(batch))
            for batch in ids["batches"][who][:30]
        ]
    return shapes


def _schedule(shapes: dict[str, list[Shape]], count: int, rng: random.Random) -> list[Shape]:
    """`count` requests, the four endpoints in equal shares, each a random shape of its family."""
    return [rng.choice(shapes[ENDPOINTS[rng.randrange(len(ENDPOINTS))]]) for _ in range(count)]


# --- the SQL of each shape ------------------------------------------------------------------------


@contextmanager
def _recording(into: list[tuple[str, Any]]) -> Iterator[None]:
    def seen(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        into.append((statement, parameters))

    event.listen(Engine, "before_cursor_execute", seen)
    try:
        yield
    finally:
        event.remove(Engine, "before_cursor_execute", seen)


async def _capture(
    servers: Servers, settings: Settings, tokens: dict[str, str], shapes: Sequence[Shape]
) -> dict[Shape, Captured]:
    """Each shape sent twice through the app in this process, the second time recorded: its SQL, and
    the CPU it cost in Postgres, one request at a time (a figure the machine's load barely moves,
    unlike latencies)."""
    postgres = postmaster(servers.home)
    app = create_app(settings)
    captured: dict[Shape, Captured] = {}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
    ):
        for shape in shapes:
            await _send(client, shape, tokens)  # the pool's connection and the caches are warm
            result = Captured()
            postgres_cpu = _cpu([postgres])
            with _recording(result.statements):
                response = await _send(client, shape, tokens)
            result.postgres_cpu_ms = 1000 * (_cpu([postgres]) - postgres_cpu)
            if response.status_code != 200:
                raise SystemExit(f"{shape.method} {shape.path} {shape.params}: {response.status_code} {response.text}")
            result.response_bytes = len(response.content)
            captured[shape] = result
    return captured


# --- load ---------------------------------------------------------------------------------------


async def _send(client: httpx.AsyncClient, shape: Shape, tokens: dict[str, str]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {tokens[shape.principal]}"}
    body = {"fiche_ids": list(shape.fiche_ids)} if shape.fiche_ids else None
    return await client.request(shape.method, shape.path, params=shape.params, json=body, headers=headers)


async def _open_loop(
    requests: Sequence[Shape],
    *,
    rate: float,
    warmup: int,
    one: Any,
    phase: Phase,
    postgres: psutil.Process,
    api: psutil.Process | None = None,
) -> None:
    """Fire request `i` at `start + i / rate`; its latency runs from that due time to its answer.
    CPU of the API and of Postgres is taken over the measured requests (from the first one due
    after the warm-up to the last answer)."""
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    measured_from = start + warmup / rate
    tasks = []

    async def fire(i: int, shape: Shape, due: float) -> None:
        if loop.time() - due > 0.005:
            phase.late_starts += 1
        try:
            await asyncio.wait_for(one(shape), TIMEOUT_S)
        except Exception as exc:  # every failure is counted and named in the report
            if i >= warmup:
                phase.errors[f"{shape.endpoint}: {type(exc).__name__}: {str(exc)[:80]}"] += 1
            return
        if i >= warmup:
            phase.timeline.append((due - measured_from, shape.endpoint, (loop.time() - due) * 1000))

    # This process's own full collections walked every request's task and the captured statements:
    # 150-350 ms with the event loop stopped, once a phase, counted as the API's (or the SQL's) latency
    # for every request due meanwhile. Nothing here needs collecting before the phase ends.
    gc.collect()
    gc.freeze()
    gc.disable()
    phase.measured_from = measured_from - loop.time() + time.time()
    watching = asyncio.create_task(_watch_backends(postgres, phase))
    try:
        apis = [api] if api is not None else []
        api_before, postgres_before, own_before = _cpu(apis), _cpu([postgres]), time.process_time()
        workers_before = _workers_cpu(api)
        for i, shape in enumerate(requests):
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - loop.time()))
            if i == warmup:
                api_before, postgres_before, own_before = _cpu(apis), _cpu([postgres]), time.process_time()
                workers_before = _workers_cpu(api)
            tasks.append(asyncio.create_task(fire(i, shape, due)))
            if api is not None and i % int(rate) == 0:
                phase.rss.append(_rss(api))
        await asyncio.gather(*tasks)
    finally:
        watching.cancel()
        gc.enable()
        gc.unfreeze()
    phase.requests = len(requests) - warmup
    phase.api_cpu_s, phase.postgres_cpu_s = _cpu(apis) - api_before, _cpu([postgres]) - postgres_before
    phase.generator_cpu_s = time.process_time() - own_before
    workers_after = _workers_cpu(api)
    phase.worker_cpu_s = [workers_after[pid] - before for pid, before in workers_before.items() if pid in workers_after]
    if api is not None:
        phase.rss.append(_rss(api))


def backend_role(cmdline: Sequence[str]) -> str:
    """What a Postgres process is, from the title it sets: `postgres: user db [local] idle` (or
    `127.0.0.1(5432)`) is a client's connection, `postgres: autovacuum worker` is itself."""
    title = " ".join(cmdline).strip().removeprefix("postgres: ")
    return "connection" if re.search(r"\[local\]|\(\d+\)", title) else " ".join(title.split(" ")[:2])


async def _watch_backends(postgres: psutil.Process, phase: Phase) -> None:
    """Every Postgres process that starts during the phase (a negative time is in the warm-up): a new
    connection plans every statement with cold caches, and an autovacuum worker competes for the CPU."""
    seen = {child.pid for child in postgres.children()}
    while True:
        await asyncio.sleep(0.25)
        for child in postgres.children():
            if child.pid in seen:
                continue
            seen.add(child.pid)
            with contextlib.suppress(psutil.Error):  # gone already
                phase.new_backends.append((child.create_time() - phase.measured_from, backend_role(child.cmdline())))


async def _sql_phase(
    servers: Servers, requests: Sequence[Shape], captured: dict[Shape, Captured], *, rate: float, warmup: int
) -> Phase:
    phase = Phase()
    connections: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()
    for _ in range(POOL):
        connections.put_nowait(await psycopg.AsyncConnection.connect(libpq_url(servers.database_url)))

    async def one(shape: Shape) -> None:
        connection = await connections.get()
        try:
            async with connection.cursor() as cursor:
                for statement, parameters in captured[shape].statements:
                    await cursor.execute(statement, parameters)
                    if cursor.description is not None:
                        await cursor.fetchall()
            await connection.rollback()
        except BaseException:
            # A request timed out mid-query leaves its connection unusable: the next one gets a new one.
            await connection.close()
            connection = await psycopg.AsyncConnection.connect(libpq_url(servers.database_url))
            raise
        finally:
            connections.put_nowait(connection)

    await _open_loop(requests, rate=rate, warmup=warmup, one=one, phase=phase, postgres=postmaster(servers.home))
    while not connections.empty():
        await connections.get_nowait().close()
    return phase


async def _api_phase(
    port: int,
    tokens: dict[str, str],
    requests: Sequence[Shape],
    *,
    rate: float,
    warmup: int,
    api: psutil.Process,
    postgres: psutil.Process,
    keep_alive: bool,
) -> Phase:
    phase = Phase()
    headers = {name: {"Authorization": f"Bearer {token}"} for name, token in tokens.items()}
    bodies = {s: json.dumps({"fiche_ids": list(s.fiche_ids)}).encode() for s in set(requests) if s.fiche_ids}
    json_headers = {name: {**h, "Content-Type": "application/json"} for name, h in headers.items()}
    connector = aiohttp.TCPConnector(limit=200, force_close=not keep_alive)
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", connector=connector, timeout=timeout) as client:

        async def one(shape: Shape) -> None:
            body = bodies.get(shape)
            async with client.request(
                shape.method,
                shape.path,
                params=shape.params,
                data=body,
                headers=json_headers[shape.principal] if body else headers[shape.principal],
            ) as response:
                await response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}")

        # One at a time, after a first pass that warms the pool, the routes and the caches: the API's
        # CPU a request with nothing else in flight, and this process's (clock ticks: averages only).
        shapes = sorted(set(requests), key=requests.index)
        for shape in shapes:
            await one(shape)
        cpu: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for shape in shapes:
            api_before, own_before = _cpu([api]), time.process_time()
            await one(shape)
            own = time.process_time() - own_before  # before reading the API's: psutil scans /proc
            cpu[shape.endpoint].append((_cpu([api]) - api_before, own))
        phase.serial_cpu_ms = {
            e: (1000 * sum(a for a, _ in v) / len(v), 1000 * sum(g for _, g in v) / len(v)) for e, v in cpu.items()
        }
        await _open_loop(requests, rate=rate, warmup=warmup, one=one, phase=phase, postgres=postgres, api=api)
    return phase


def _generate(
    *,
    port: int,
    tokens: dict[str, str],
    requests: Sequence[Shape],
    rate: float,
    warmup: int,
    pids: tuple[int, int],
    keep_alive: bool,
) -> Phase:
    """The API phase in the load generator's own process (`multiprocessing`): its CPU is not the API's."""
    api, postgres = (psutil.Process(pid) for pid in pids)
    return asyncio.run(
        _api_phase(port, tokens, requests, rate=rate, warmup=warmup, api=api, postgres=postgres, keep_alive=keep_alive)
    )


# --- report -------------------------------------------------------------------------------------


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def slowest_second(timeline: Sequence[tuple[float, float]]) -> tuple[int, int, int, float]:
    """The one-second window (by due time) holding most of the requests slower than the phase's p99:
    (its second, how many of them it holds, how many there are in all, its slowest request's ms). A
    stall anywhere on the machine shows as one second holding most of them."""
    if not timeline:
        return (0, 0, 0, float("nan"))
    p99 = _pct([latency for _, latency in timeline], 0.99)
    slow: Counter[int] = Counter(int(due) for due, latency in timeline if latency > p99)
    second, held = slow.most_common(1)[0] if slow else (0, 0)
    worst = max(latency for due, latency in timeline if int(due) == second)
    return (second, held, sum(slow.values()), worst)


def ratio_of(p99_ms: float, sql_p99_ms: float) -> float:
    """How far p99 is from the tighter of its two bounds: 50 ms and twice the SQL's own p99."""
    return max(p99_ms / BOUND_MS, p99_ms / (SQL_FACTOR * sql_p99_ms))


def _report(
    args: argparse.Namespace, sql: Phase, api: Phase, captured: dict[Shape, Captured], requests: Sequence[Shape]
) -> tuple[Run, int, dict[str, float]]:
    """One run's table; its latencies, its errors and its resource figures for the last line."""
    print(f"\n{'endpoint':<9} {'n':>5} {'p50':>7} {'p99':>7} {'max':>7} | {'SQL p50':>7} {'SQL p99':>7} | "
          f"{'ratio':>6}  statements  bytes | CPU ms: API  Postgres  generator (one at a time)")  # fmt: skip
    for endpoint in ENDPOINTS:
        lat, base = api.latencies(endpoint), sql.latencies(endpoint)
        p50, p99, b50, b99 = _pct(lat, 0.5), _pct(lat, 0.99), _pct(base, 0.5), _pct(base, 0.99)
        ratio = ratio_of(p99, b99)
        mine = [captured[s] for s in set(requests) if s.endpoint == endpoint]
        statements = sum(len(c.statements) for c in mine) / len(mine)
        size = sum(c.response_bytes for c in mine) / len(mine)
        api_cpu, client_cpu = api.serial_cpu_ms[endpoint]
        pg_cpu = sum(c.postgres_cpu_ms for c in mine) / len(mine)
        print(f"{endpoint:<9} {len(lat):>5} {p50:>7.1f} {p99:>7.1f} {max(lat, default=0):>7.1f} | {b50:>7.1f} "
              f"{b99:>7.1f} | {ratio:>6.2f}  {statements:>10.1f}  {size:>6.0f} | {api_cpu:>11.1f} "
              f"{pg_cpu:>9.1f} {client_cpu:>10.1f}")  # fmt: skip
    errors = sum(api.errors.values()) + sum(sql.errors.values())
    for name, phase in (("SQL", sql), ("API", api)):
        for what, n in phase.errors.most_common(5):
            print(f"  {name} error x{n}: {what}")
    rss = [r / 2**20 for r in api.rss]
    api_ms, pg_ms, gen_ms = (
        1000 * cpu / max(1, api.requests) for cpu in (api.api_cpu_s, api.postgres_cpu_s, api.generator_cpu_s)
    )
    sql_pg_ms, sql_gen_ms = (1000 * cpu / max(1, sql.requests) for cpu in (sql.postgres_cpu_s, sql.generator_cpu_s))
    print(f"API ({args.api_workers} worker(s)): RSS {rss[0]:.0f} MiB at the start, peak {max(rss):.0f} MiB, "
          f"{rss[-1]:.0f} MiB at the end")  # fmt: skip
    shared = worker_shares(api.worker_cpu_s)
    shares = " / ".join(f"{100 * share:.0f} %" for share in shared)
    connections = "one client's kept-alive connections" if args.keep_alive else "a connection a request"
    print(f"API workers' shares of its CPU (busiest first): {shares or 'n/a'} ({connections})")
    print(f"CPU a request (all endpoints): API phase {api_ms:.1f} ms in the API + {pg_ms:.1f} ms in Postgres "
          f"+ {gen_ms:.1f} ms in the load generator; SQL phase {sql_pg_ms:.1f} ms in Postgres + {sql_gen_ms:.1f} ms "
          f"replaying; at {args.rate:g}/s on {os.cpu_count()} CPUs the budget is "
          f"{1000 * (os.cpu_count() or 1) / args.rate:.0f} ms for everything")  # fmt: skip
    print(f"late sends (> 5 ms after due, by the generator): SQL {sql.late_starts}, API {api.late_starts}")
    for name, phase in (("SQL", sql), ("API", api)):
        second, held, slow, worst = slowest_second([(due, latency) for due, _, latency in phase.timeline])
        at = dt.datetime.fromtimestamp(phase.measured_from + second).strftime("%H:%M:%S")
        print(f"{name} phase: of the {slow} requests slower than its p99, {held} were due in second {second} "
              f"({at}; its slowest {worst:.0f} ms)")  # fmt: skip
        started = ", ".join(f"{role} at {offset:.1f} s" for offset, role in phase.new_backends) or "none"
        print(f"  Postgres processes started during the phase (negative: in the warm-up): {started}")
    print(f"load average (1 min) at the end of each phase: SQL {sql.load[0]:.1f}, API {api.load[0]:.1f} "
          f"on {os.cpu_count()} CPUs")  # fmt: skip
    resources = {
        "api_rss_mib": max(rss),
        "api_cpu_ms": api_ms,
        "postgres_cpu_ms": pg_ms,
        "generator_cpu_ms": gen_ms,
        "load": api.load[0],
        "busiest_worker": shared[0] if shared else 1.0,
    }
    return {e: (api.latencies(e), sql.latencies(e)) for e in ENDPOINTS}, errors, resources


Run = dict[str, tuple[list[float], list[float]]]  # per endpoint: the API's and the SQL's latencies of one run


def median_figures(runs: Sequence[Run]) -> dict[str, tuple[float, float, float]]:
    """Per endpoint, the median over runs of the API's p99 and of the SQL's p99, and the ratio of those
    medians: one run's p99 is its 15th slowest request of ~1,500, so one slow second moves it."""
    figures = {}
    for endpoint in ENDPOINTS:
        p99 = statistics.median(_pct(run[endpoint][0], 0.99) for run in runs)
        sql_p99 = statistics.median(_pct(run[endpoint][1], 0.99) for run in runs)
        figures[endpoint] = (p99, sql_p99, ratio_of(p99, sql_p99))
    return figures


def last_line(args: argparse.Namespace, runs: Sequence[Run], errors: int, resources: Sequence[dict[str, float]]) -> str:
    """The last line: the medians over runs, but the peak RSS of all of them. `busiest_worker` is the
    busiest API worker's share of the API's CPU (0.5 with two balanced workers)."""
    figures = median_figures(runs)
    if len(runs) > 1:
        print(f"\nmedian of {len(runs)} runs: endpoint  p99  SQL p99  ratio (each run's p99: ms)")
        for endpoint, (p99, sql_p99, ratio) in figures.items():
            each = " / ".join(f"{_pct(run[endpoint][0], 0.99):.1f}" for run in runs)
            print(f"  {endpoint:<8} {p99:>6.1f} {sql_p99:>7.1f} {ratio:>6.2f}   ({each})")
    worst = max(r for _, _, r in figures.values())
    per = " ".join(f"{e}_p99_ms={p:.1f} {e}_ratio={r:.2f}" for e, (p, _, r) in figures.items())
    rss = max(r["api_rss_mib"] for r in resources)
    cpu = " ".join(
        f"{key}={statistics.median(r[key] for r in resources):.1f}"
        for key in ("api_cpu_ms", "postgres_cpu_ms", "generator_cpu_ms", "load")
    )
    busiest = statistics.median(r["busiest_worker"] for r in resources)
    return (
        f"audits={args.audits} rate={args.rate:g} runs={len(runs)} p99_ms={figures['list'][0]:.1f} "
        f"ratio={figures['list'][2]:.2f} {per} worst_ratio={worst:.2f} errors={errors} api_rss_mib={rss:.0f} {cpu} "
        f"busiest_worker={busiest:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--audits", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds per phase")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds at the same rate before measuring")
    parser.add_argument("--home", type=Path, help="keep the embedded servers here (reused when seeded)")
    parser.add_argument("--api-workers", type=int, default=1, help="`callaudit api --workers`")
    parser.add_argument("--runs", type=int, default=1, help="SQL and API phases, back to back; medians reported")
    parser.add_argument(
        "--keep-alive", action="store_true", help="one client's kept-alive connections, not a connection a request"
    )
    args = parser.parse_args()
    rng = random.Random(21)
    secret = secrets.token_urlsafe(48)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    with migrated_servers("callaudit-api-bench-", home=args.home) as servers:
        settings = load_settings(
            database_url=servers.database_url, redis_url=servers.redis_url, callaudit_home=servers.home,
            log_level="WARNING", jwt_access_secret=secret, auth_password_hash_profile="fast-test",
        )  # fmt: skip
        _seed(servers, settings, args.audits)
        tokens = asyncio.run(_tokens(settings))
        shapes = _shapes(asyncio.run(_ids(settings, rng)), rng)
        warmup = int(args.warmup * args.rate)
        requests = _schedule(shapes, warmup + int(args.seconds * args.rate), rng)
        started = time.monotonic()
        captured = asyncio.run(_capture(servers, settings, tokens, sorted(set(requests), key=requests.index)))
        print(f"  {len(captured)} request shapes captured in {time.monotonic() - started:.0f} s")
        runs: list[Run] = []
        resources: list[dict[str, float]] = []
        errors = 0
        with (
            running_api(
                servers,
                {"JWT_ACCESS_SECRET": secret, "LOG_LEVEL": "WARNING"},
                (*CALLAUDIT_API, "--workers", str(args.api_workers)),
            ) as (proc, port),
            multiprocessing.get_context("spawn").Pool(1) as generator,
        ):
            pids = (proc.pid, postmaster(servers.home).pid)
            load = {
                "port": port, "tokens": tokens, "requests": requests, "rate": args.rate, "warmup": warmup,
                "keep_alive": args.keep_alive,
            }  # fmt: skip
            for number in range(1, args.runs + 1):
                # The API idles while the SQL is replayed: each pair shares its minutes on the machine.
                sql = asyncio.run(_sql_phase(servers, requests, captured, rate=args.rate, warmup=warmup))
                sql.load = os.getloadavg()[:2]
                api = generator.apply(_generate, (), {**load, "pids": pids})
                api.load = os.getloadavg()[:2]
                if args.runs > 1:
                    print(f"\n--- run {number} of {args.runs}")
                run, failed, used = _report(args, sql, api, captured, requests)
                runs.append(run)
                resources.append(used)
                errors += failed
        summary = last_line(args, runs, errors, resources)
    print(summary)


if __name__ == "__main__":
    main()
