"""Embedded Postgres (migrated to head) and Redis in a temporary directory, and the API served over
them in its own process, for the benchmarks that run the product's stages or API against real
servers; stopped on the way out."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
from alembic import command

from callaudit.embedded import EmbeddedPostgres, EmbeddedRedis
from callaudit.migrate import alembic_config


@dataclass(frozen=True)
class Servers:
    home: Path  # the temporary directory, removed after (unless kept)
    database_url: str
    redis_url: str


@contextmanager
def migrated_servers(prefix: str, home: Path | None = None) -> Iterator[Servers]:
    """Servers in a temporary directory, or in `home` (kept, and its data reused) when given."""
    if home is not None:
        home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=prefix) if home is None else nullcontext(str(home)) as tmp:
        home = Path(tmp)
        postgres, redis = EmbeddedPostgres(home), EmbeddedRedis(home)
        postgres.start()
        redis.start()
        try:
            database_url, redis_url = postgres.url(), redis.url()
            assert database_url
            assert redis_url
            command.upgrade(alembic_config(database_url), "head")
            yield Servers(home, database_url, redis_url)
        finally:
            redis.stop()
            postgres.stop()


CALLAUDIT_API = (sys.executable, "-m", "callaudit", "api")


def tree_cpu_seconds(process: psutil.Process) -> float:
    """User + system CPU seconds of `process`, its live descendants, and the exited children it
    reaped: a Postgres backend whose connection closed mid-measure still counts (its CPU moves
    into the postmaster's `children_*` times when it exits)."""
    times = process.cpu_times()
    seconds = times.user + times.system + times.children_user + times.children_system
    for live in process.children(recursive=True):
        try:
            seconds += sum(live.cpu_times()[:2])
        except psutil.NoSuchProcess:  # exited since listed: counted by its parent's children_* from now on
            continue
    return seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_api(
    servers: Servers, env: Mapping[str, str], server: Sequence[str] = CALLAUDIT_API
) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """The API over `servers` in its own process on a free local port, once `/health` answers; stopped
    on the way out. `server` is the command without its address (`callaudit api` as in production
    by default); `env` adds to the servers' URLs (secrets, log level)."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": servers.database_url,
        "REDIS_URL": servers.redis_url,
        "CALLAUDIT_HOME": str(servers.home),
        **env,
    }
    argv = [*server, "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(argv, env=environment, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the API did not start")
            time.sleep(0.3)
        yield proc, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
