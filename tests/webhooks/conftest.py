"""Outbox tests: the worker on the real test database (its own committed transactions), a real HTTP
receiver on loopback, and a clock the test moves (retry times are asserted on the stored schedule)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.models import Fiche, Team
from domain.outbox.secrets_box import SecretBox
from resources.database import async_session_factory
from resources.egress import EgressClient, EgressPolicy
from resources.mail import SmtpSender
from resources.outbox import OutboxConfig, OutboxWorker
from tests.receiver import Receiver, receiving

KEY = "test-only-webhook-secrets-key-0123456789"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def at(self, when: dt.datetime) -> None:
        self.now = when


@dataclass
class Outbox:
    sessions: async_sessionmaker[AsyncSession]
    receiver: Receiver
    clock: Clock
    box: SecretBox
    own_group: str = "G-HOOK"
    own_fiche: str = "910001"
    other_fiche: str = "910002"
    clients: list[EgressClient] = field(default_factory=list)

    def worker(self, config: OutboxConfig | None = None, mailer: SmtpSender | None = None) -> OutboxWorker:
        egress = EgressClient(EgressPolicy.build([self.receiver.url]))
        self.clients.append(egress)
        return OutboxWorker(self.sessions, egress, box=self.box, mailer=mailer, config=config, clock=self.clock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


@pytest.fixture
async def outbox(async_engine: AsyncEngine, receiver: Receiver, clean_tables: None) -> AsyncIterator[Outbox]:
    sessions = async_session_factory(async_engine)
    world = Outbox(sessions, receiver, Clock(), SecretBox(KEY))
    async with sessions.begin() as session:
        session.add(Team(name="Hooks", crm_group_id=world.own_group))
        session.add(Fiche(fiche_id=world.own_fiche, crm_group_id=world.own_group, groupe="Hooks"))
        session.add(Fiche(fiche_id=world.other_fiche, crm_group_id="G-ELSEWHERE", groupe="Ailleurs"))
    yield world
    for client in world.clients:
        await client.aclose()
