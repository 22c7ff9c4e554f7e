"""API test harness: the real app on the test Postgres and Redis, every test rolled back.

* `api_settings`: the app's settings pointed at the test servers, a fixed JWT secret, fast argon2.
* `app`: the app (built once, lifespan entered once) with `get_session` overridden to hand every
  request the test's `async_db_session`; commits become savepoint releases, the test rolls back.
* `client`: an `httpx.AsyncClient` on the app (ASGI, no network).
* `world`: seeded roles plus one principal of every kind and fiches of two CRM groups (`tests.fixtures.world`).

Speed: async tests here share one event loop for the session, so the engine and the started app are
built once; each module opens one connection with an outer transaction and builds the world in it
once; each test runs inside a SAVEPOINT of that transaction and rolls it back. Nothing is committed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import redis
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession
from sqlalchemy.orm import Session, sessionmaker

from api.analytics.router import get_export_sessions
from api.app import create_app
from api.chat.deps import get_chat_sessions
from api.deps import get_session
from api.fiches.deps import api_crm_config, get_crm_client, get_sync_sessions
from api.reports.audio import get_recording_source
from api.runlogs import get_run_log_reader
from api.runs import get_run_launcher
from callaudit.demo_crm.app import create_app as create_simulator
from callaudit.demo_crm.config import SimulatorConfig
from callaudit.settings import Settings, load_settings
from resources.crm import CrmClient
from resources.database import create_api_engine
from tests.api import probe
from tests.fixtures.fakes import RecordingLauncher, RunLogs
from tests.fixtures.world import World, build_world

TEST_JWT_SECRET = "test-only-signing-secret-0123456789abcdef"
_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """An async test of tests/api that uses this harness runs on the session's event loop (shared engine
    and app); one that builds its own app or clients on the root fixtures keeps its own loop."""
    marker = pytest.mark.asyncio(loop_scope="session")
    for item in items:
        if (
            pytest_asyncio.is_async_test(item)
            and _HERE in Path(str(item.path)).resolve().parents
            and _uses_harness(item)
        ):
            item.add_marker(marker, append=False)


def _uses_harness(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    definitions = info.name2fixturedefs.values() if info else []
    return any(defs[-1].func.__module__ == __name__ for defs in definitions)


def make_settings(database_url: str, redis_url: str, home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "redis_url": redis_url,
        "jwt_access_secret": TEST_JWT_SECRET,
        "callaudit_env": "test",
        "callaudit_home": home,
        "auth_password_hash_profile": "fast-test",
        "api_auth_token": None,
        "api_auth_tokens": None,
        "cors_origins": "http://localhost:3000",
        "log_level": "INFO",
        # webhook URLs of the API tests point at a closed loopback port (never contacted by the API)
        "webhook_allowed_origins": "http://127.0.0.1:9",
        # Each test's transaction is rolled back, never committed: Postgres would never notify the
        # cache of its changes (`tests/api/auth/test_principal_cache.py` commits and turns it on).
        "auth_principal_cache_seconds": 0,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture(scope="session")
def api_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("api-home")


@pytest.fixture(scope="session")
def api_settings(database_url: str, redis_url: str, api_home: Path) -> Settings:
    return make_settings(database_url, redis_url, api_home)


# --- database: one connection per module, one savepoint per test ------------------------------------


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def api_engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_api_engine(database_url, pool_size=2)
    yield engine
    await engine.dispose()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def module_connection(api_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with api_engine.connect() as connection:
        outer = await connection.begin()
        try:
            yield connection
        finally:
            await outer.rollback()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def module_world(module_connection: AsyncConnection, api_settings: Settings) -> World:
    session = AsyncSession(bind=module_connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    world = await build_world(session, api_settings)
    await session.close()
    return world


@pytest_asyncio.fixture(loop_scope="session")
async def async_db_session(module_connection: AsyncConnection) -> AsyncIterator[AsyncSession]:
    """Overrides the root fixture: a session inside a SAVEPOINT rolled back after the test."""
    savepoint = await module_connection.begin_nested()
    session = AsyncSession(bind=module_connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        await session.close()
        if savepoint.is_active:
            await savepoint.rollback()


@pytest_asyncio.fixture(loop_scope="session")
async def world(module_world: World, async_db_session: AsyncSession) -> World:
    module_world.session = async_db_session
    return module_world


# --- the app ------------------------------------------------------------------------------------------


def session_override(session: AsyncSession) -> Callable[[], AsyncIterator[AsyncSession]]:
    """`get_session` for tests: the test's session, committed (savepoint) or rolled back like in production."""

    async def _get_session() -> AsyncIterator[AsyncSession]:
        if session.in_transaction():
            await session.commit()  # keep what the test set up before the request
        session.expunge_all()  # like a fresh session: nothing cached from earlier requests
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()
        finally:
            session.expunge_all()

    return _get_session


def build_app(settings: Settings) -> FastAPI:
    application = create_app(settings)
    application.include_router(probe.router, prefix="/api")
    return application


@asynccontextmanager
async def running(application: FastAPI, session: AsyncSession, *, start: bool = True) -> AsyncIterator[FastAPI]:
    application.dependency_overrides[get_session] = session_override(session)
    try:
        if start:
            async with application.router.lifespan_context(application):
                yield application
        else:
            yield application
    finally:
        application.dependency_overrides.clear()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def started_app(api_settings: Settings) -> AsyncIterator[FastAPI]:
    """Building the routes costs ~0.4 s and the lifespan opens clients: once per session."""
    application = build_app(api_settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def crm_sync_sessions(sync_engine: Engine) -> Iterator[sessionmaker[Session]]:
    """What `FicheSync` writes in its own transactions, kept in one rolled back after the test."""
    with sync_engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield sessionmaker(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
        finally:
            transaction.rollback()


def in_process_simulator() -> FastAPI:
    return create_simulator(SimulatorConfig(seed=7, fiches_per_day=4))


def in_process_crm(application: FastAPI) -> CrmClient:
    """A CRM client on the demo simulator served in-process (no thread, no socket)."""
    simulator = in_process_simulator()
    state = application.state.callaudit
    return CrmClient(
        "http://demo-crm.test",
        state.redis,
        config=api_crm_config(3, 1),
        transport=httpx.ASGITransport(app=simulator),
    )


class InProcessRecordings:
    """The recordings relay's source for route and scope tests: the in-process simulator. The guarded
    `EgressClient` itself relays a live simulator in `test_reports.py`."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send_streamed(self, method: str, url: str, *, headers: Mapping[str, str] | None = None) -> httpx.Response:
        return await self.client.send(self.client.build_request(method, url, headers=headers), stream=True)


@pytest.fixture
def launcher() -> RecordingLauncher:
    """What the test's app was asked to launch (and how Dagster answers it)."""
    return RecordingLauncher()


@pytest.fixture
def run_logs() -> RunLogs:
    return RunLogs()


@pytest_asyncio.fixture(loop_scope="session")
async def app(
    started_app: FastAPI,
    async_db_session: AsyncSession,
    redis_client: redis.Redis,
    crm_sync_sessions: sessionmaker[Session],
    launcher: RecordingLauncher,
    run_logs: RunLogs,
) -> AsyncIterator[FastAPI]:
    """The shared app; the CRM (and its recording URLs) is the in-process simulator, Dagster launches
    are recorded only."""
    crm = in_process_crm(started_app)
    recordings_http = httpx.AsyncClient(transport=httpx.ASGITransport(app=in_process_simulator()))
    async with running(started_app, async_db_session, start=False) as application:
        application.dependency_overrides[get_crm_client] = lambda: crm
        application.dependency_overrides[get_recording_source] = lambda: InProcessRecordings(recordings_http)
        application.dependency_overrides[get_sync_sessions] = lambda: crm_sync_sessions
        application.dependency_overrides[get_run_launcher] = lambda: launcher
        application.dependency_overrides[get_run_log_reader] = lambda: run_logs
        # A chat answer writes after the request's session is gone: with the test's session too.
        application.dependency_overrides[get_chat_sessions] = lambda: asynccontextmanager(
            session_override(async_db_session)
        )
        application.dependency_overrides[get_export_sessions] = application.dependency_overrides[get_chat_sessions]
        yield application
    await crm.aclose()
    await recordings_http.aclose()


@pytest_asyncio.fixture(loop_scope="session")
async def app_factory(
    api_settings: Settings, async_db_session: AsyncSession, redis_client: redis.Redis, api_home: Path
) -> AsyncIterator[Callable[..., Any]]:
    """`await app_factory(**settings_overrides)` -> another started app sharing the test's session."""
    async with AsyncExitStack() as stack:

        async def factory(**overrides: Any) -> FastAPI:
            settings = make_settings(
                api_settings.database_url.get_secret_value(),  # type: ignore[union-attr]
                api_settings.redis_url.get_secret_value(),  # type: ignore[union-attr]
                api_home,
                **overrides,
            )
            return await stack.enter_async_context(running(build_app(settings), async_db_session))

        yield factory


def client_for(application: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://test")


@pytest_asyncio.fixture(loop_scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as c:
        yield c
