"""Drill 1: a Postgres stop gave 500 INTERNAL_ERROR with a traceback per request; Redis alike.

The real app against its own embedded Postgres and Redis, stopped and started again under it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from alembic import command

from api.app import create_app
from callaudit.embedded import EmbeddedPostgres, EmbeddedRedis
from callaudit.migrate import alembic_config
from tests.api.conftest import make_settings

LOGIN = {"email": "nobody@example.test", "password": "not the password"}


@asynccontextmanager
async def _api(database_url: str, redis_url: str, home: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(database_url, redis_url, home))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def _outage_lines(caplog: pytest.LogCaptureFixture, what: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR and what in r.getMessage()]


async def test_postgres_down_is_a_503_with_retry_after_and_one_log_line(
    tmp_path: Path, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    postgres = EmbeddedPostgres(tmp_path)
    postgres.start()
    try:
        url = postgres.url()
        assert url is not None
        command.upgrade(alembic_config(url), "head")
        async with _api(url, redis_url, tmp_path) as client:
            assert (await client.post("/api/auth/login", json=LOGIN)).status_code == 401
            postgres.stop()
            with caplog.at_level(logging.INFO):
                answers = [await client.post("/api/auth/login", json=LOGIN) for _ in range(5)]
            for answer in answers:
                assert answer.status_code == 503, answer.text
                assert answer.json()["code"] == "DATABASE_ERROR"
                assert int(answer.headers["Retry-After"]) > 0
            assert len(_outage_lines(caplog, "database unavailable")) == 1
            assert not [r for r in caplog.records if r.exc_info], "no traceback per request"
            postgres.start()
            assert (await client.post("/api/auth/login", json=LOGIN)).status_code == 401  # back by itself
    finally:
        postgres.stop()


async def test_redis_down_is_a_503_with_retry_after(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = EmbeddedRedis(tmp_path)
    server.start()
    try:
        url = server.url()
        assert url is not None
        async with _api(database_url, url, tmp_path) as client:
            assert (await client.post("/api/auth/login", json=LOGIN)).status_code == 401
            server.stop()
            for _ in range(3):
                answer = await client.post("/api/auth/login", json=LOGIN)
                assert answer.status_code == 503, answer.text
                assert int(answer.headers["Retry-After"]) > 0
            server.start()
            assert (await client.post("/api/auth/login", json=LOGIN)).status_code == 401
    finally:
        server.stop()
