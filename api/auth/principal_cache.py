"""Principals remembered between requests, forgotten as soon as Postgres says what they read changed.

Every request signed by an access token asks the database for its user, the user's grants and teams,
and whether its login session still stands (`load_session_principal`, one statement): 7 % of an
audit detail's instructions in the API, and a round trip (decision 123). A client sends the same
token many times, so each API process keeps the answer per (user, login session).

The answer must never outlive what it was read from: disabling a user, a role or team change, a
logout or a revoked session take effect on the next request, as without the cache.

* Triggers (migration `i21d_principal_changes`) send `NOTIFY callaudit_principals` after any change to
  the tables the statement reads, with the user's id (`users`, `user_roles`, `team_members`,
  `refresh_tokens`) or `*` (`roles`, `permissions`, `role_permissions`, `teams`, and a `TRUNCATE`):
  every writer is heard, the API, `callaudit seed` or an operator's `psql`.
* `listen` holds one connection per process, straight to Postgres (`DIRECT_URL` when set: a
  transaction pooler does not keep a `LISTEN`), and evicts what each notification names. The cache
  answers only while that connection demonstrably hears: it sends itself a probe notification every
  `LIVENESS_SECONDS` and must hear it come back. When the connection is lost or a probe is not
  heard, the cache is emptied and every request reads the database again until the listener is back.
* A read that started before a notification arrived may have seen the old rows: it is not stored
  (`generation`). Postgres delivers a notification after its transaction commits, so a read that
  starts after the delivery sees the new rows.
* An entry also ends with its login session and after `ttl` seconds, a bound on a change made with
  triggers off (a bulk load under `session_replication_role = replica`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import psycopg

from api.auth.principal import Principal
from resources.database import libpq_url

log = logging.getLogger("callaudit.auth")

CHANNEL = "callaudit_principals"
#: A listener's own notification, which it must hear come back (every other listener ignores it).
PROBE = "probe:"
#: The listener's `application_name`, as `pg_stat_activity` shows it.
LISTENER = "callaudit principal cache"
#: How often the listener sends itself a probe, and how long it waits for it.
LIVENESS_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    until: dt.datetime


class PrincipalCache:
    """(user id, login session id) -> the principal, while the listener is connected."""

    def __init__(self, ttl_seconds: float, max_entries: int = 4096) -> None:
        self.ttl = dt.timedelta(seconds=ttl_seconds)
        self.max_entries = max_entries
        self.listening = False
        #: Bumped by every notification and every change of `listening`: a read stores its answer
        #: only if nothing was heard between its start and its end.
        self.generation = 0
        self._entries: dict[tuple[int, str], _Entry] = {}

    def get(self, user_id: int, session_id: str, now: dt.datetime) -> Principal | None:
        if not self.listening:
            return None
        entry = self._entries.get((user_id, session_id))
        if entry is None:
            return None
        if entry.until <= now:
            self._entries.pop((user_id, session_id), None)
            return None
        return entry.principal

    def put(
        self,
        user_id: int,
        session_id: str,
        principal: Principal,
        session_until: dt.datetime,
        *,
        read_at: int,
        now: dt.datetime,
    ) -> None:
        """Remember `principal`, read from the database when `generation` was `read_at`."""
        if not self.listening or read_at != self.generation:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.pop(next(iter(self._entries)), None)  # the oldest
        self._entries[(user_id, session_id)] = _Entry(principal, min(session_until, now + self.ttl))

    def forget(self, payload: str) -> None:
        """A notification: a user id forgets that user's sessions, anything else (`*`) everyone."""
        self.generation += 1
        user_id = int(payload) if payload.isascii() and payload.isdigit() else None
        if user_id is None:
            self._entries.clear()
            return
        for key in [key for key in self._entries if key[0] == user_id]:
            del self._entries[key]

    def set_listening(self, listening: bool) -> None:
        """Starting or stopping to hear notifications: what was remembered may have missed some."""
        self.generation += 1
        self._entries.clear()
        self.listening = listening

    def __len__(self) -> int:
        return len(self._entries)


Connect = Callable[[], Awaitable[psycopg.AsyncConnection[object]]]


class _ProbeLost(Exception):
    """The listener's own notification did not come back: it may not hear the others either."""


async def listen(cache: PrincipalCache, connect: Connect) -> None:
    """Keep `cache` told of every change, reconnecting with back-off; runs until cancelled.

    The cache answers only once the listener has heard its own probe come back, and every
    `LIVENESS_SECONDS` it must hear a new one: a connection that died silently, or a `LISTEN` that
    a transaction pooler did not keep on one server connection, turns the cache off."""
    backoff = 0.5
    while True:
        try:
            async with await connect() as connection:
                await connection.execute(f"LISTEN {CHANNEL}")
                while True:
                    probe = f"{PROBE}{secrets.token_hex(8)}"
                    await connection.execute("SELECT pg_notify(%s, %s)", (CHANNEL, probe))
                    heard = False
                    async for notify in connection.notifies(timeout=LIVENESS_SECONDS):
                        if notify.payload == probe:
                            heard = True
                            if not cache.listening:
                                cache.set_listening(True)
                                backoff = 0.5
                        elif not notify.payload.startswith(PROBE):  # another process's probe
                            cache.forget(notify.payload)
                    if not heard:
                        raise _ProbeLost
        except Exception as exc:  # whatever broke it, the cache is off until a new connection hears its probe
            log.warning("principal cache: listener lost (%s); reading principals from the database", type(exc).__name__)
        finally:
            cache.set_listening(False)
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)


def start_listener(cache: PrincipalCache, url: str) -> Callable[[], Awaitable[None]]:
    """`listen` on a connection of its own to the database at `url` (not a pooled one: it stays in
    `LISTEN`); returns what stops it."""

    async def connect() -> psycopg.AsyncConnection[object]:
        return await psycopg.AsyncConnection.connect(libpq_url(url), autocommit=True, application_name=LISTENER)

    task = asyncio.create_task(listen(cache, connect), name="principal-cache-listener")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return stop
