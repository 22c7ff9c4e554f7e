"""Schemathesis against the running app's own OpenAPI (`/api-docs.json`): no 5xx, no response that
breaks its documented schema, status code or content type.

The app runs in its own event loop thread (an anyio blocking portal) with its lifespan entered and
`get_session` overridden to a session inside one outer transaction that is rolled back at the end,
so nothing the fuzzer writes survives. Requests carry an administrator's bearer token, so every
operation is reached past authorization.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis
import schemathesis
from anyio.from_thread import BlockingPortal, start_blocking_portal
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from api.runlogs import get_run_log_reader
from callaudit.settings import Settings, load_settings
from resources.database import create_api_engine
from tests.api.conftest import TEST_JWT_SECRET, build_app, session_override
from tests.fixtures.fakes import RunLogs
from tests.fixtures.world import build_world

CHECKS = [
    schemathesis.checks.not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": 20261125,
        "phases": {
            "examples": {"enabled": True},
            # Boundary values of every parameter: thorough but ~30 s more; CALLAUDIT_SCHEMATHESIS_COVERAGE=1 enables it.
            "coverage": {"enabled": os.environ.get("CALLAUDIT_SCHEMATHESIS_COVERAGE") == "1"},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": True, "max-steps": 12},
        },
    }
)


@dataclass
class Live:
    portal: BlockingPortal
    app: FastAPI
    client: httpx.AsyncClient
    headers: dict[str, str]
    connection: AsyncConnection
    session: AsyncSession

    def send(self, kwargs: dict[str, Any]) -> httpx.Response:
        """Replays schemathesis' requests-style arguments through the app's own event loop."""
        body: dict[str, Any] = {}
        if "json" in kwargs:
            body["json"] = kwargs["json"]
        elif kwargs.get("data") is not None:
            data = kwargs["data"]
            body["content" if isinstance(data, (bytes, str)) else "data"] = data
        headers = {k: str(v) for k, v in (kwargs.get("headers") or {}).items()}
        cookies = kwargs.get("cookies") or {}
        if cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
        return self.portal.call(
            lambda: self.client.request(
                kwargs["method"], kwargs["url"], params=kwargs.get("params"), headers=headers, **body
            )
        )


@pytest.fixture(scope="module")
def live(api_settings: Settings, redis_url: str) -> Iterator[Live]:
    flush = redis.Redis.from_url(redis_url)
    flush.flushdb()  # login counters from other tests
    state: dict[str, Any] = {}
    application = build_app(api_settings)

    async def start() -> dict[str, str]:
        lifespan = application.router.lifespan_context(application)
        await lifespan.__aenter__()
        engine: AsyncEngine = create_api_engine(api_settings.database_url.get_secret_value())  # type: ignore[union-attr]
        connection: AsyncConnection = await engine.connect()
        transaction = await connection.begin()
        session = AsyncSession(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
        world = await build_world(session, api_settings)
        application.dependency_overrides[get_session_dependency()] = session_override(session)
        # No Dagster here: the run logs come from an empty event log (their 503 without one is by design).
        application.dependency_overrides[get_run_log_reader] = RunLogs
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://test")
        state.update(lifespan=lifespan, engine=engine, connection=connection, transaction=transaction,
                     session=session, client=client)  # fmt: skip
        return world.headers("admin")

    async def stop() -> None:
        await state["client"].aclose()
        await state["session"].close()
        await state["transaction"].rollback()
        await state["connection"].close()
        await state["engine"].dispose()
        await state["lifespan"].__aexit__(None, None, None)

    with start_blocking_portal() as portal:
        headers = portal.call(start)
        try:
            yield Live(portal, application, state["client"], headers, state["connection"], state["session"])
        finally:
            portal.call(stop)
            flush.flushdb()
            flush.close()


def get_session_dependency() -> Any:
    from api.deps import get_session

    return get_session


def _import_time_schema() -> Any:
    """The app's OpenAPI, built at collection time (parametrization needs it before any fixture runs).

    `test_the_running_app_serves_this_schema` checks it is exactly what the running app serves.
    """
    settings = load_settings(jwt_access_secret=TEST_JWT_SECRET, callaudit_env="test")
    return build_app(settings).openapi()


OPENAPI = _import_time_schema()
# /ready is excluded: it answers 503 by design when Dagster is not running (as in this test).
# Operations that call the CRM live are excluded: here the CRM base URL points nowhere, so they answer
# 502/503 by design after the client's retry budget (slow, and a 5xx the `not_a_server_error` check
# flags). Their validation and error paths are covered in tests/api/test_fiches*.py.
LIVE_CRM_OPERATIONS = (
    r"^/api/fiches/\{fiche_id\}$",
    r"^/api/fiches/\{fiche_id\}/refresh$",
    r"^/api/fiches/search$",
    r"^/api/admin/crm/",
    r"^/api/admin/teams/sync-from-crm$",
    r"^/api/admin/users/from-crm$",
)
# An event stream that is allowed never ends (this client would wait for its whole body); its refusals
# and its stream are covered by tests/api/test_realtime.py and the matrix.
EVENT_STREAMS = (r"^/api/realtime/stream$",)
schema = schemathesis.openapi.from_dict(OPENAPI, config=CONFIG).include(path_regex=r"^/(api/|health$)")
for _pattern in LIVE_CRM_OPERATIONS + EVENT_STREAMS:
    schema = schema.exclude(path_regex=_pattern)


def test_the_running_app_serves_this_schema(live: Live) -> None:
    served = live.portal.call(live.client.get, "/api-docs.json")
    assert served.status_code == 200
    assert served.json() == OPENAPI
    assert {op for path in OPENAPI["paths"].values() for op in path} <= {"get", "post", "patch", "delete", "put"}


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api_conforms_to_its_schema(case: Any, live: Live) -> None:
    kwargs = case.as_transport_kwargs(base_url="http://test", headers=live.headers)
    response = live.send(kwargs)
    case.validate_response(response, checks=CHECKS, headers=live.headers)


def test_api_conforms_to_its_schema_across_call_sequences(live: Live) -> None:
    """Stateful phase: operations chained by the links schemathesis infers from our schema (a created
    user's id fed to its GET / PATCH / invite, a team's id to its members...), so fuzzing reaches rows
    that exist instead of stopping at 404."""
    machine = schema.as_state_machine()
    assert machine.bundles, "no operation links inferred: the stateful phase would test nothing"

    class ThroughTheApp(machine):  # type: ignore[misc,valid-type]
        # Each sequence starts from the same world (a savepoint rolled back afterwards): otherwise a
        # sequence that logs the admin out or deletes a team changes what the next one can reach,
        # and hypothesis cannot replay a failure.
        def setup(self) -> None:
            self.savepoint = live.portal.call(live.connection.begin_nested)

        def teardown(self) -> None:
            live.portal.call(self.savepoint.rollback)
            live.session.expunge_all()

        def call(self, case: Any, **kwargs: Any) -> Any:
            request = case.as_transport_kwargs(base_url="http://test", headers=live.headers)
            # A generated X-API-Key outranks the admin's bearer (401); the stateless test covers
            # that path, sequences are here to go deep.
            request["headers"].pop("X-API-Key", None)
            sent = live.send(request)
            return schemathesis.Response.from_httpx(sent, verify=False)

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, headers=live.headers)

    ThroughTheApp.run(
        settings=settings(
            max_examples=40,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
    )
