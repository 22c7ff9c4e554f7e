"""A stage's transaction that Postgres ends to break a deadlock is run again, against the real server."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from domain.models import Fiche
from resources.database import sync_session_factory
from services.base import in_thread_transaction


def test_the_deadlock_victim_runs_again_and_both_writes_land(sync_engine: Engine) -> None:
    with Session(sync_engine) as session, session.begin():
        session.add_all(
            [Fiche(fiche_id="F-LEFT", fetch_status="details"), Fiche(fiche_id="F-RIGHT", fetch_status="details")]
        )
    sessions = sync_session_factory(sync_engine)
    both_hold_one = threading.Barrier(2, timeout=30)
    attempts = {"a": 0, "b": 0}

    def writer(name: str, first: str, second: str) -> Callable[[Session], int]:
        def work(session: Session) -> int:
            attempts[name] += 1
            session.execute(update(Fiche).where(Fiche.fiche_id == first).values(groupe=name))
            if attempts[name] == 1:
                both_hold_one.wait()  # each holds the row the other wants next: a deadlock
            session.execute(update(Fiche).where(Fiche.fiche_id == second).values(groupe=name))
            return attempts[name]

        return work

    async def both() -> list[int]:
        return list(
            await asyncio.gather(
                in_thread_transaction(sessions, writer("a", "F-LEFT", "F-RIGHT")),
                in_thread_transaction(sessions, writer("b", "F-RIGHT", "F-LEFT")),
            )
        )

    assert sorted(asyncio.run(both())) == [1, 2], "one ran once, the deadlock's victim twice"
    victim = next(name for name, count in attempts.items() if count == 2)
    with Session(sync_engine) as session:
        groupes = set(session.scalars(select(Fiche.groupe).where(Fiche.fiche_id.in_(["F-LEFT", "F-RIGHT"]))))
    assert groupes == {victim}, "the victim's run again is the last write of both rows"
