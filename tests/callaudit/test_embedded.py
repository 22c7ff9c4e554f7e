"""The embedded default runs real servers that persist data and stop without leftovers."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import psutil
import psycopg
import pytest
import redis

from callaudit.embedded import EmbeddedPostgres, EmbeddedRedis, _socket_dir
from resources.database import libpq_url


def _gone(pid: int | None) -> bool:
    """Exited (a zombie waiting for a reaper counts: it holds no port, socket or file)."""
    assert pid is not None
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_postgres_starts_once_persists_data_and_stops(tmp_path: Path) -> None:
    server = EmbeddedPostgres(tmp_path)
    assert server.start() is True
    assert server.start() is False  # reused, not started twice
    url = server.url()
    assert url is not None
    pid = server.status().pid
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v int)")
        conn.execute("INSERT INTO kept VALUES (42)")
    assert server.stop() is True
    assert not server.status().running
    assert _gone(pid)

    assert server.start() is True
    url = server.url()
    assert url is not None
    with psycopg.connect(libpq_url(url)) as conn:
        assert conn.execute("SELECT v FROM kept").fetchone() == (42,)
        dbs = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    assert {"callaudit", "dagster"} <= dbs
    server.stop()


def test_redis_persists_across_restart_and_stops(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    assert server.start() is True
    assert server.start() is False
    url = server.url()
    assert url is not None
    client = redis.Redis.from_url(url)
    client.set("kept", "yes")
    client.close()
    pid = server.status().pid
    assert server.stop() is True
    assert _gone(pid)
    assert server.url() is None

    server.start()
    url = server.url()
    assert url is not None
    client = redis.Redis.from_url(url, decode_responses=True)
    assert client.get("kept") == "yes"
    client.close()
    server.stop()


def test_long_data_paths_get_a_short_socket_directory(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    deep.mkdir(parents=True)
    chosen = _socket_dir(deep)
    assert chosen != deep
    assert len(str(chosen / ".s.PGSQL.5432")) <= 100
    assert _socket_dir(tmp_path) == tmp_path or len(str(tmp_path / ".s.PGSQL.5432")) > 100
    chosen.rmdir()


def _connect_as_nobody(socket_dir: Path) -> subprocess.CompletedProcess[str]:
    """Try to open the server's socket as the unprivileged `nobody` user (system Python, no venv)."""
    nobody = pwd.getpwnam("nobody")
    probe = f"import socket; socket.socket(socket.AF_UNIX).connect({str(socket_dir / '.s.PGSQL.5432')!r})"
    return subprocess.run(
        ["python3", "-c", probe],
        user=nobody.pw_uid,
        group=nobody.pw_gid,
        extra_groups=[],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another OS user needs root")
def test_fallback_socket_directory_is_private_and_other_users_are_refused(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    deep.mkdir(parents=True)
    server = EmbeddedPostgres(deep)
    server.start()
    url = server.url()
    assert url is not None
    socket_dir = Path(url.split("?host=")[1])
    try:
        assert socket_dir != server.data_dir  # the /tmp fallback
        assert stat.S_IMODE(socket_dir.stat().st_mode) == 0o700
        assert _connect_as_nobody(socket_dir).returncode != 0  # cannot even reach the socket
        with psycopg.connect(libpq_url(url)) as conn:
            rules = {row[0] for row in conn.execute("SELECT auth_method FROM pg_hba_file_rules")}
        assert rules == {"peer"}  # no trust: reaching the socket is not enough
    finally:
        server.stop()
        shutil.rmtree(socket_dir)


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a directory as another OS user needs root")
def test_a_socket_directory_planted_by_another_user_is_refused(tmp_path: Path) -> None:
    deep = tmp_path / ("p" * 60) / ("q" * 60)
    deep.mkdir(parents=True)
    digest = hashlib.sha256(str(deep.resolve()).encode()).hexdigest()[:12]
    planted = Path(tempfile.gettempdir()) / f"callaudit-{digest}"
    planted.mkdir(mode=0o777)
    nobody = pwd.getpwnam("nobody")
    os.chown(planted, nobody.pw_uid, nobody.pw_gid)
    try:
        with pytest.raises(RuntimeError, match="remove it"):
            _socket_dir(deep)
    finally:
        planted.rmdir()


def test_redis_start_returns_once_the_append_only_file_is_replayed(tmp_path: Path) -> None:
    """A restarted server listens while it replays its append-only file and answers LOADING until
    done: `start` waits for it, so the first command after it is served (it failed under load)."""
    server = EmbeddedRedis(tmp_path)
    server.start()
    url = server.url()
    assert url is not None
    client = redis.Redis.from_url(url)
    pipeline = client.pipeline(transaction=False)
    for i in range(300_000):  # enough to replay for a good fraction of a second
        pipeline.set(f"key:{i}", "x" * 50)
    pipeline.execute()
    client.close()
    time.sleep(1.2)  # `appendfsync everysec`: on disk within a second
    server.stop()
    server.start()
    url = server.url()
    assert url is not None
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        assert client.get("key:299999") == "x" * 50
    finally:
        client.close()
        server.stop()
