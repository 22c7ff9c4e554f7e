"""The skeleton every stage service shares: transactions on worker threads, best-effort events, a clock."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from domain.errors import UnavailableError
from services.ports import Publisher

log = logging.getLogger(__name__)
T = TypeVar("T")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


#: Postgres ends one of two transactions that wait on each other (deadlock) or whose serial order
#: cannot hold (serialization failure), and its documentation's answer is to run it again: writers
#: that share a row in different orders (the `audit_counts` rows of two audits completing) would
#: otherwise fail an audit for a collision of timing.
RETRIED_SQLSTATES = frozenset({"40P01", "40001"})
TRANSACTION_ATTEMPTS = 3


async def in_thread_transaction(
    sessions: sessionmaker[Session], work: Callable[[Session], T], executor: Executor | None = None
) -> T:
    """Run `work` in its own transaction on a worker thread, so an event loop keeps its calls going;
    again, from the start, when Postgres ended it to break a deadlock (`RETRIED_SQLSTATES`).

    `executor`: a pool of the caller's own instead of the loop's default one (see its users).
    """

    def run() -> T:
        attempt = 1
        while True:
            try:
                with sessions.begin() as session:
                    return work(session)
            except DBAPIError as exc:
                if attempt == TRANSACTION_ATTEMPTS or getattr(exc.orig, "sqlstate", None) not in RETRIED_SQLSTATES:
                    raise
                log.warning("transaction run again (attempt %d): %s", attempt + 1, exc.orig)
                attempt += 1

    if executor is None:
        return await asyncio.to_thread(run)
    return await asyncio.get_running_loop().run_in_executor(executor, run)


class StageService:
    """Postgres is the record (one short transaction per write, `_db`); events are best-effort
    (`_publish` logs and carries on when Redis is down); time comes from `clock`, so tests pin it."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        publisher: Publisher | None = None,
        *,
        clock: Callable[[], dt.datetime] = utc_now,
        db_executor: Executor | None = None,
    ) -> None:
        self.sessions = sessions
        self.publisher = publisher
        self._clock = clock
        self._db_executor = db_executor

    async def _db(self, work: Callable[[Session], T]) -> T:
        return await in_thread_transaction(self.sessions, work, self._db_executor)

    async def _publish(self, topics: Sequence[str], event: str, payload: Mapping[str, Any]) -> None:
        if self.publisher is None:
            return
        try:
            await self.publisher.publish_all(topics, event, payload)
        except UnavailableError as exc:
            log.warning("event %s on %s not published: %s", event, topics[0], exc)

    async def _emit(self, topic: str, event: str, payload: Mapping[str, Any]) -> None:
        """`_publish` on one topic: the shape `domain.events.BatchProgress` calls back."""
        await self._publish([topic], event, payload)
