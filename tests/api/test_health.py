"""Liveness, readiness and the error contract of the bare application, on real servers."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel

from api.app import create_app
from callaudit.embedded import EmbeddedRedis
from callaudit.settings import load_settings


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        # Like a real server: an unhandled error becomes the 500 response, not a client exception.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


class Item(BaseModel):
    name: str
    quantity: int


def _probe_router() -> APIRouter:
    router = APIRouter(prefix="/api/probe")

    @router.post("/items")
    async def create(item: Item) -> Item:
        return item

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("password=hunter2 leaked?")

    return router


@pytest.fixture
async def client(database_url: str, redis_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(
        database_url=database_url,
        redis_url=redis_url,
        dagster_webserver_url=f"http://127.0.0.1:{_closed_port()}",
        hostname="replica-7",
    )
    app = create_app(settings)
    app.include_router(_probe_router())
    async for c in _client(app):
        yield c


async def test_health_names_the_instance_and_echoes_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-Id": "abc-123"})
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert response.json()["instance"] == "replica-7"
    assert response.headers["X-Backend-Instance"] == "replica-7"
    assert response.headers["X-Request-Id"] == "abc-123"
    generated = await client.get("/health", headers={"X-Request-Id": "bad id with spaces"})
    assert generated.headers["X-Request-Id"] != "bad id with spaces"


async def test_ready_names_the_unreachable_dagster_webserver(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "SERVICE_UNAVAILABLE"
    assert body["error"] == "not ready: dagster unreachable"
    assert body["checks"]["postgres"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is True


async def test_ready_names_redis_when_it_stops(database_url: str, tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path)
    server.start()
    url = server.url()
    assert url is not None
    settings = load_settings(
        database_url=database_url, redis_url=url, dagster_webserver_url=f"http://127.0.0.1:{_closed_port()}"
    )
    async for client in _client(create_app(settings)):
        server.stop()
        response = await client.get("/ready")
    assert response.status_code == 503
    assert "redis" in response.json()["error"]
    assert response.json()["checks"]["redis"]["ok"] is False
    assert str(tmp_path) not in response.text


async def test_unknown_route_and_method_use_the_error_shape(client: httpx.AsyncClient) -> None:
    missing = await client.get("/api/does-not-exist")
    assert missing.status_code == 404
    assert missing.json() == {"success": False, "error": "Route not found", "code": "NOT_FOUND"}
    wrong = await client.delete("/api/probe/items")
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "METHOD_NOT_ALLOWED"


async def test_validation_errors_name_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/probe/items", json={"name": "x", "quantity": "many"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert body["field"] == "body.quantity"
    assert "body.quantity" in body["error"]
    broken = await client.post("/api/probe/items", content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    assert broken.json()["code"] == "INVALID_JSON"


async def test_unexpected_errors_are_generic_and_logged_redacted(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    response = await client.get("/api/probe/boom")
    assert response.status_code == 500
    assert response.json() == {"success": False, "error": "Internal server error", "code": "INTERNAL_ERROR"}
    assert "hunter2" not in response.text
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "unhandled error on GET /api/probe/boom" in logged
    assert "hunter2" not in logged


async def test_openapi_is_served_at_the_original_paths(client: httpx.AsyncClient) -> None:
    spec = await client.get("/api-docs.json")
    assert spec.status_code == 200
    assert "/health" in spec.json()["paths"]
    ui = await client.get("/api-docs")
    assert ui.status_code == 200
    assert "swagger" in ui.text.lower()


async def test_cors_comes_from_configuration(database_url: str, redis_url: str) -> None:
    settings = load_settings(database_url=database_url, redis_url=redis_url, cors_origins=["https://qa.example"])
    async for client in _client(create_app(settings)):
        allowed = await client.options(
            "/health", headers={"Origin": "https://qa.example", "Access-Control-Request-Method": "GET"}
        )
        denied = await client.options(
            "/health", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
        )
    assert allowed.headers.get("access-control-allow-origin") == "https://qa.example"
    assert "access-control-allow-origin" not in denied.headers
