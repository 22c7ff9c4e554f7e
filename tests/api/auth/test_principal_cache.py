"""The principals an API process remembers (decision 123): served from memory, forgotten as soon as
Postgres notifies a change, never served while the notifications cannot be heard.

The API tests' harness rolls every test back (Postgres never notifies a transaction that does not
commit) and turns the cache off; these tests commit, through the app's own sessions."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import pytest_asyncio
from fastapi import FastAPI
from sqlalchemy import delete, insert, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

import api.auth.dependencies as dependencies
from api.auth.principal import Principal, PrincipalKind
from api.auth.principal_cache import CHANNEL, LISTENER, PrincipalCache, listen, start_listener
from api.deps import AppState
from domain.models import Role, TeamMember, User, UserRole, UserStatus
from resources.database import libpq_url
from tests.api.conftest import TEST_JWT_SECRET, build_app, client_for, make_settings
from tests.fixtures.processes import cli_env, served_api
from tests.fixtures.world import World, build_world

NOW = dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC)
LATER = NOW + dt.timedelta(hours=1)


def _principal(user_id: int) -> Principal:
    return Principal(kind=PrincipalKind.USER, grants={}, user_id=user_id, email=f"{user_id}@example.test")


def _listening(ttl: float = 60, max_entries: int = 4096) -> PrincipalCache:
    cache = PrincipalCache(ttl, max_entries)
    cache.set_listening(True)
    return cache


# --- the cache alone --------------------------------------------------------------------------------


def test_it_answers_only_while_listening() -> None:
    cache = PrincipalCache(60)
    cache.put(1, "s", _principal(1), LATER, read_at=cache.generation, now=NOW)
    assert cache.get(1, "s", NOW) is None  # never heard anything: nothing stored
    cache.set_listening(True)
    cache.put(1, "s", _principal(1), LATER, read_at=cache.generation, now=NOW)
    assert cache.get(1, "s", NOW) == _principal(1)
    cache.set_listening(False)  # the listener lost its connection
    assert cache.get(1, "s", NOW) is None
    cache.set_listening(True)  # and got it back: what it missed may have changed anything
    assert cache.get(1, "s", NOW) is None


def test_a_read_that_overlapped_a_notification_is_not_stored() -> None:
    cache = _listening()
    read_at = cache.generation
    cache.forget("2")  # another user's change, heard while user 1's principal was being read
    cache.put(1, "s", _principal(1), LATER, read_at=read_at, now=NOW)
    assert cache.get(1, "s", NOW) is None


def test_a_notification_forgets_its_user_or_everyone() -> None:
    cache = _listening()
    for user_id, session_id in ((1, "a"), (1, "b"), (2, "c")):
        cache.put(user_id, session_id, _principal(user_id), LATER, read_at=cache.generation, now=NOW)
    cache.forget("1")
    assert (cache.get(1, "a", NOW), cache.get(1, "b", NOW)) == (None, None)
    assert cache.get(2, "c", NOW) == _principal(2)
    cache.forget("*")
    assert len(cache) == 0
    cache.put(3, "d", _principal(3), LATER, read_at=cache.generation, now=NOW)
    cache.forget("not a user id")  # whatever it means, it cannot leave anything stale
    assert len(cache) == 0
    cache.put(3, "d", _principal(3), LATER, read_at=cache.generation, now=NOW)
    cache.forget("³")  # a digit to `str.isdigit`, not to `int`
    assert len(cache) == 0


def test_an_entry_ends_with_its_session_or_its_time_to_live() -> None:
    cache = _listening(ttl=60)
    cache.put(1, "long", _principal(1), LATER, read_at=cache.generation, now=NOW)
    cache.put(1, "ending", _principal(1), NOW + dt.timedelta(seconds=10), read_at=cache.generation, now=NOW)
    assert cache.get(1, "ending", NOW + dt.timedelta(seconds=9)) is not None
    assert cache.get(1, "ending", NOW + dt.timedelta(seconds=10)) is None
    assert cache.get(1, "long", NOW + dt.timedelta(seconds=59)) is not None
    assert cache.get(1, "long", NOW + dt.timedelta(seconds=60)) is None


def test_it_holds_at_most_its_bound_the_oldest_going_first() -> None:
    cache = _listening(max_entries=2)
    for user_id in (1, 2, 3):
        cache.put(user_id, "s", _principal(user_id), LATER, read_at=cache.generation, now=NOW)
    assert len(cache) == 2
    assert cache.get(1, "s", NOW) is None
    assert cache.get(3, "s", NOW) == _principal(3)


# --- the triggers and the listener, on the real database ---------------------------------------------


async def _committed(engine: AsyncEngine, *statements: Any) -> None:
    async with AsyncSession(engine) as session:
        for statement in statements:
            await session.execute(statement)
        await session.commit()


async def _heard(connection: psycopg.AsyncConnection[Any], expected: int) -> set[str]:
    """The payloads heard: `expected` of them (waiting up to 10 s on a loaded machine), and any more
    that arrive within 0.2 s after."""
    heard = {n.payload async for n in connection.notifies(timeout=10, stop_after=expected)} if expected else set()
    return heard | {n.payload async for n in connection.notifies(timeout=0.2)}


@pytest.mark.usefixtures("clean_tables")
async def test_every_table_a_principal_is_read_from_notifies(
    async_engine: AsyncEngine, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    async with AsyncSession(async_engine, expire_on_commit=False) as setup:
        world = await build_world(setup, make_settings(database_url, redis_url, tmp_path))
    viewer, admin = world.users["viewer"], world.users["admin"]
    async with await psycopg.AsyncConnection.connect(libpq_url(database_url), autocommit=True) as listener:
        await listener.execute(f"LISTEN {CHANNEL}")
        changes: list[tuple[Any, set[str]]] = [
            (update(User).where(User.id == viewer).values(crm_user_id="crm-moved"), {str(viewer)}),
            (text("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = :u").bindparams(u=admin), {str(admin)}),
            (insert(UserRole).values(user_id=viewer, role_id=world.roles["admin"]), {str(viewer)}),
            (delete(TeamMember).where(TeamMember.user_id == viewer), {str(viewer)}),
            (
                update(UserRole)
                .where(UserRole.user_id == viewer, UserRole.role_id == world.roles["viewer"])
                .values(user_id=admin),
                {str(viewer), str(admin)},
            ),
            (update(Role).where(Role.key == "viewer").values(description="changed"), {"*"}),
            (text("UPDATE permissions SET description = description"), {"*"}),
            (text("DELETE FROM role_permissions WHERE false"), {"*"}),  # a statement, even of no row
            (text("UPDATE teams SET name = name || '!'"), {"*"}),
        ]
        for statement, expected in changes:
            await _committed(async_engine, statement)
            assert await _heard(listener, len(expected)) == expected, statement
        async with AsyncSession(async_engine) as rolled_back:
            await rolled_back.execute(update(User).where(User.id == viewer).values(status=UserStatus.DISABLED))
            await rolled_back.rollback()
        assert await _heard(listener, 0) == set()  # what never committed is never heard


async def _until(condition: Callable[[], bool], what: str) -> None:
    for _ in range(200):
        if condition():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"never: {what}")


async def test_the_listener_forgets_what_it_hears_and_stops_answering_without_its_connection(
    async_engine: AsyncEngine, database_url: str
) -> None:
    cache = PrincipalCache(60)
    stop = start_listener(cache, database_url)
    try:
        await _until(lambda: cache.listening, "listening")
        cache.put(41, "s", _principal(41), LATER, read_at=cache.generation, now=NOW)
        cache.put(42, "s", _principal(42), LATER, read_at=cache.generation, now=NOW)
        await _committed(async_engine, text("SELECT pg_notify(:c, '41')").bindparams(c=CHANNEL))
        await _until(lambda: cache.get(41, "s", NOW) is None, "user 41 forgotten")
        assert cache.get(42, "s", NOW) == _principal(42)

        await _committed(
            async_engine,
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :a").bindparams(
                a=LISTENER
            ),
        )
        await _until(lambda: not cache.listening, "the lost connection noticed")
        assert cache.get(42, "s", NOW) is None
        await _until(lambda: cache.listening, "listening again")
        assert len(cache) == 0
    finally:
        await stop()
    assert not cache.listening


async def test_a_listener_that_cannot_connect_keeps_the_cache_silent(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts = 0

    async def refused() -> psycopg.AsyncConnection[object]:
        nonlocal attempts
        attempts += 1
        raise psycopg.OperationalError("connection refused")

    monkeypatch.setattr("api.auth.principal_cache.asyncio.sleep", _no_wait)
    cache = PrincipalCache(60)
    task = asyncio.create_task(listen(cache, refused))
    await _until(lambda: attempts >= 3, "retried")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not cache.listening


async def test_a_listener_that_does_not_hear_its_own_probe_never_turns_the_cache_on(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    """What a transaction pooler does to a `LISTEN` (the session that listened is not the one that
    hears), played by a connection whose probes go to another channel."""

    class Deaf:
        def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
            self.connection = connection

        async def __aenter__(self) -> Any:
            return self

        async def __aexit__(self, *exc: object) -> None:
            await self.connection.close()

        async def execute(self, query: str, params: tuple[str, str] | None = None) -> Any:
            if params is not None:
                params = ("elsewhere", params[1])
            return await self.connection.execute(query, params)

        def notifies(self, *, timeout: float) -> Any:
            return self.connection.notifies(timeout=timeout)

    connections = 0

    async def deaf() -> Any:
        nonlocal connections
        connections += 1
        return Deaf(await psycopg.AsyncConnection.connect(libpq_url(database_url), autocommit=True))

    monkeypatch.setattr("api.auth.principal_cache.LIVENESS_SECONDS", 0.2)
    monkeypatch.setattr("api.auth.principal_cache.asyncio.sleep", _no_wait)
    cache = PrincipalCache(60)
    task = asyncio.create_task(listen(cache, deaf))
    seen_on = False
    for _ in range(100):
        seen_on |= cache.listening
        if connections >= 3:
            break
        await _real_sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert connections >= 3  # it gave each connection up when its probe did not come back
    assert not seen_on


_real_sleep = asyncio.sleep


async def _no_wait(_seconds: float) -> None:
    await _real_sleep(0)


# --- through the API -----------------------------------------------------------------------------------


@pytest_asyncio.fixture
async def committed(
    async_engine: AsyncEngine, database_url: str, redis_url: str, tmp_path: Path, clean_tables: None
) -> AsyncIterator[tuple[FastAPI, World]]:
    """A started app with the cache on, and a world it reads from committed rows (on the test's own
    event loop, which the listener's task runs on: not the API harness's)."""
    settings = make_settings(database_url, redis_url, tmp_path, auth_principal_cache_seconds=60)
    async with AsyncSession(async_engine, expire_on_commit=False) as setup:
        world = await build_world(setup, settings)
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        await _until(lambda: _cache(app).listening, "the app's listener")
        yield app, world


def _cache(app: FastAPI) -> PrincipalCache:
    state: AppState = app.state.callaudit
    assert state.principals is not None
    return state.principals


async def _me(client: httpx.AsyncClient, world: World, name: str = "viewer") -> httpx.Response:
    return await client.get("/api/auth/me", headers=world.headers(name))


async def _after_notified(app: FastAPI, engine: AsyncEngine, *statements: Any) -> None:
    """Commit `statements`, and wait for the app's listener to hear them (a request arrives later than
    a notification in production: it comes from a client the commit's response went to)."""
    generation = _cache(app).generation
    await _committed(engine, *statements)
    await _until(lambda: _cache(app).generation > generation, "the change heard")


async def test_a_remembered_principal_is_served_without_reading_it_again(
    committed: tuple[FastAPI, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    app, world = committed
    async with client_for(app) as client:
        assert (await _me(client, world)).status_code == 200
        assert len(_cache(app)) == 1

        async def unreachable(*_: Any) -> Any:
            raise AssertionError("read again")

        monkeypatch.setattr(dependencies, "load_session_principal", unreachable)
        response = await _me(client, world)
        assert response.status_code == 200
        assert response.json()["data"]["user"]["email"] == world.emails["viewer"]


async def test_changes_apply_on_the_next_request(committed: tuple[FastAPI, World], async_engine: AsyncEngine) -> None:
    app, world = committed
    viewer = world.users["viewer"]
    async with client_for(app) as client:
        assert (await _me(client, world)).json()["data"]["user"]["roles"] == ["viewer"]
        await _after_notified(app, async_engine, insert(UserRole).values(user_id=viewer, role_id=world.roles["admin"]))
        assert (await _me(client, world)).json()["data"]["user"]["roles"] == ["admin", "viewer"]

        assert (await _me(client, world)).json()["data"]["user"]["groupes"] == ["Team Own"]
        await _after_notified(app, async_engine, delete(TeamMember).where(TeamMember.user_id == viewer))
        assert (await _me(client, world)).json()["data"]["user"]["groupes"] == []

        await _after_notified(
            app, async_engine, update(User).where(User.id == viewer).values(status=UserStatus.DISABLED)
        )
        assert (await _me(client, world)).status_code == 401
        assert (await _me(client, world, "operator")).status_code == 200  # another user's entry still serves


async def test_a_logout_ends_the_remembered_session_at_once(
    committed: tuple[FastAPI, World], async_engine: AsyncEngine
) -> None:
    app, world = committed
    async with client_for(app) as client:
        assert (await _me(client, world, "admin")).status_code == 200
        await _after_notified(
            app,
            async_engine,
            text("UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = :f").bindparams(
                f=world.session_ids[world.users["admin"]]
            ),
        )
        assert (await _me(client, world, "admin")).status_code == 401


# --- `callaudit api --workers 2`, as production serves it ---------------------------------------------


@pytest_asyncio.fixture
async def served(
    async_engine: AsyncEngine, database_url: str, redis_url: str, tmp_path: Path, clean_tables: None
) -> AsyncIterator[tuple[str, World]]:
    """Two workers, each with its own cache and listener, over a committed world."""
    settings = make_settings(database_url, redis_url, tmp_path)
    async with AsyncSession(async_engine, expire_on_commit=False) as setup:
        world = await build_world(setup, settings)
    env = cli_env(
        tmp_path,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        JWT_ACCESS_SECRET=TEST_JWT_SECRET,
        CALLAUDIT_ENV="test",
        LOG_LEVEL="WARNING",
        HOSTNAME="",  # each worker answers `X-Backend-Instance: pid-<its pid>`
    )
    with served_api(env, "--workers", "2") as url:
        yield url, world


async def _served_me(url: str, token: str) -> tuple[str, int]:
    """One request on a connection of its own (the kernel picks the worker), and who answered."""
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{url}/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    return response.headers["X-Backend-Instance"], response.status_code


async def test_every_worker_forgets_a_disabled_user(served: tuple[str, World], async_engine: AsyncEngine) -> None:
    url, world = served
    token = world.access_token("viewer")
    answered: dict[str, list[int]] = {}
    for _ in range(200):  # until both workers have answered twice (the second from memory)
        instance, status = await _served_me(url, token)
        answered.setdefault(instance, []).append(status)
        if len(answered) == 2 and all(len(s) >= 2 for s in answered.values()):
            break
    assert len(answered) == 2, "one worker answered every request"
    assert all(status == 200 for statuses in answered.values() for status in statuses)

    await _committed(
        async_engine, update(User).where(User.id == world.users["viewer"]).values(status=UserStatus.DISABLED)
    )
    refused: set[str] = set()
    for _ in range(400):  # each worker refuses once it has heard (a notification's delivery)
        instance, status = await _served_me(url, token)
        if status == 401:
            refused.add(instance)
        if refused == set(answered):
            break
    assert refused == set(answered), f"never refused by {set(answered) - refused}"
    after = [await _served_me(url, token) for _ in range(20)]
    assert {status for _, status in after} == {401}, after
