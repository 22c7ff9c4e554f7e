"""Two API replicas behind the repo's nginx: an audit followed across a replica's death loses nothing.

The audit runs for real (heuristic auditor, demo day transcribed by the reference provider); its
events are held back after the first few until the client has been moved: the replica serving the
stream is killed, the client reconnects through nginx with `Last-Event-ID`, lands on the other
replica, and the rest of the audit streams there. What it received must be the audit's stream,
every entry once, in order.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from domain.audits.gating import GatingRules
from domain.audits.heuristic import HeuristicAuditor
from domain.audits.store import Trigger, queue_audits
from domain.scorecards.service import current_spec
from resources.database import sync_session_factory
from resources.redis import EventPublisher, stream_key
from resources.redis.client import create_async_redis
from services.auditing import AuditEngine, Outcome
from tests.fixtures.processes import cli_env, free_port, wait_healthy
from tests.fixtures.sse import Frame, SseReader

pytestmark = pytest.mark.slow

NGINX = shutil.which("nginx") or next(
    (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).is_file()), None
)
NGINX_CONF = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
HELD_AFTER = 4  # audit-topic events published before the run waits for the client to move


def _replica(name: str, port: int, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """`callaudit api`, as production serves it (its HTTP protocol writes live events directly)."""
    return subprocess.Popen(
        [sys.executable, "-m", "callaudit", "api", "--host", "127.0.0.1", "--port", str(port)],
        env={**env, "HOSTNAME": name, "LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
    )


def _nginx_conf(tmp_path: Path, listen: int, replicas: list[int]) -> Path:
    """The repo's file; only the backend (two local replicas instead of Docker's `api`) and the port differ."""
    text = NGINX_CONF.read_text(encoding="utf-8")
    servers = "".join(f"        server 127.0.0.1:{port};\n" for port in replicas)
    text = text.replace('set $api_backend "api:3002";', 'set $api_backend "api_replicas";')
    text = text.replace("    server {\n", f"    upstream api_replicas {{\n{servers}    }}\n\n    server {{\n", 1)
    text = text.replace("listen 80 default_server;", f"listen 127.0.0.1:{listen} default_server;")
    assert "api_replicas" in text
    assert f"127.0.0.1:{listen}" in text
    conf = tmp_path / "nginx.conf"
    conf.write_text(text, encoding="utf-8")
    return conf


@pytest.fixture
def cluster(tmp_path: Path, database_url: str, redis_url: str) -> Iterator[dict[str, Any]]:
    """nginx on a free port in front of two replicas of the API sharing Postgres and Redis."""
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install -y nginx)")
    if os.geteuid() != 0:
        pytest.skip("a live nginx needs root here (its compiled temp and log paths)")
    token = secrets.token_urlsafe(24)
    env = cli_env(
        tmp_path,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        JWT_ACCESS_SECRET=secrets.token_urlsafe(48),
        API_AUTH_TOKEN=token,
        API_AUTH_TOKEN_SCOPE="ALL",
        CALLAUDIT_ENV="test",
    )
    ports = [free_port(), free_port()]
    replicas = {f"replica-{i}": _replica(f"replica-{i}", port, env) for i, port in enumerate(ports)}
    listen = free_port()
    conf = _nginx_conf(tmp_path, listen, ports)
    nginx = subprocess.Popen(
        [NGINX, "-e", "stderr", "-p", str(tmp_path), "-c", str(conf), "-g", f"daemon off; pid {tmp_path}/nginx.pid;"],
        stdout=subprocess.DEVNULL,
    )
    try:
        for (name, process), port in zip(replicas.items(), ports, strict=True):
            wait_healthy(f"http://127.0.0.1:{port}/health", process, name)
        wait_healthy(f"http://127.0.0.1:{listen}/lb-health", nginx, "nginx")
        yield {"url": f"http://127.0.0.1:{listen}", "token": token, "replicas": replicas}
    finally:
        for process in [nginx, *replicas.values()]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [nginx, *replicas.values()]:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class _HeldPublisher:
    """Publishes through the real publisher, holding the run after `HELD_AFTER` audit-topic events."""

    def __init__(self, inner: EventPublisher) -> None:
        self.inner = inner
        self.audit_events = 0
        self.release = asyncio.Event()

    async def publish(self, topic: str, event_type: str, payload: Mapping[str, Any]) -> str:
        [entry_id] = await self.publish_all([topic], event_type, payload)
        return entry_id

    async def publish_all(self, topics: Sequence[str], event_type: str, payload: Mapping[str, Any]) -> list[str]:
        if any(topic.startswith("audit:") for topic in topics):
            if self.audit_events == HELD_AFTER:
                await self.release.wait()
            self.audit_events += 1
        return await self.inner.publish_all(topics, event_type, payload)


class _Follower:
    """An EventSource-like client: reconnects after any break, sending the last event id it saw."""

    def __init__(self, base_url: str, token: str, topic: str) -> None:
        self.base_url, self.token, self.topic = base_url, token, topic
        self.received: list[Frame] = []
        self.served_by: list[str] = []
        self.reached = asyncio.Event()
        self.reconnected = asyncio.Event()

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=httpx.Timeout(30, connect=5)) as client:
            while True:
                headers = {"Authorization": f"Bearer {self.token}"}
                if self.received:
                    headers["Last-Event-ID"] = self.received[-1].id or ""
                try:
                    async with client.stream(
                        "GET", "/api/realtime/stream", params={"topic": self.topic}, headers=headers
                    ) as response:
                        if response.status_code != 200:
                            await asyncio.sleep(0.1)
                            continue
                        self.served_by.append(response.headers["x-backend-instance"])
                        if len(self.served_by) > 1:
                            self.reconnected.set()
                        if await self._read(SseReader(response)):
                            return
                except httpx.HTTPError:
                    pass  # the replica died under the stream: reconnect, like EventSource

    async def _read(self, reader: SseReader) -> bool:
        while (frame := await reader.frame()) is not None:
            if frame.event is None:
                continue
            self.received.append(frame)
            if len(self.received) == HELD_AFTER:
                self.reached.set()
            if frame.event in {"audit.completed", "audit.failed"}:
                return True
        return False


def test_an_audit_followed_through_nginx_survives_moving_to_the_other_replica(
    cluster: dict[str, Any],
    transcribed_day: list[str],
    scorecard_id: int,
    sync_engine: Engine,
    redis_url: str,
    redis_client: redis.Redis,
) -> None:
    fiche_id = transcribed_day[0]
    run_id = f"replicas-{secrets.token_hex(4)}"
    with Session(sync_engine) as session, session.begin():
        spec = current_spec(session, scorecard_id)
        [audit_id] = queue_audits(session, [fiche_id], spec, Trigger(source="api", run_id=run_id), use_rlm=False)
    topic = f"audit:{audit_id}"

    async def scenario() -> _Follower:
        follower = _Follower(cluster["url"], cluster["token"], topic)
        client = create_async_redis(redis_url)
        publisher = _HeldPublisher(EventPublisher(client))
        engine = AuditEngine(
            HeuristicAuditor(),
            sync_session_factory(sync_engine),
            publisher,
            rules=GatingRules(),
            trigger=Trigger(source="api", run_id=run_id),
        )
        following = asyncio.create_task(follower.run())
        auditing = asyncio.create_task(engine.audit_fiche(fiche_id, spec, force=True))
        try:
            async with asyncio.timeout(120):
                await follower.reached.wait()
                first = follower.served_by[0]
                cluster["replicas"][first].kill()  # mid-run: the rest of the audit is still held
                await follower.reconnected.wait()
                publisher.release.set()
                result = await auditing
                await following
        finally:
            following.cancel()
            auditing.cancel()
            await client.aclose()
        assert result.outcome is Outcome.COMPLETED
        assert result.audit_id == audit_id
        return follower

    follower = asyncio.run(scenario())
    entries = cast(list[tuple[str, dict[str, str]]], redis_client.xrange(stream_key(topic)))
    assert len(entries) > HELD_AFTER + 5
    assert [(f.id, f.event, f.data) for f in follower.received] == [
        (entry_id, fields["type"], fields["data"]) for entry_id, fields in entries
    ], "every event of the audit exactly once, in order"
    assert len(follower.served_by) == 2
    assert follower.served_by[0] != follower.served_by[1], "the stream moved to the other replica"
