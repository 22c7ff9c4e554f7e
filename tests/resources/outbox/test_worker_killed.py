"""Killing the worker process mid-delivery loses nothing and duplicates nothing but the same webhook-id."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import standardwebhooks
from sqlalchemy import select

from domain.models import DeliveryAttempt, OutboxDelivery
from resources.outbox import OutboxConfig
from tests.fixtures.outbox import KEY, Outbox, announce, subscribe
from tests.fixtures.processes import cli_env


async def test_killed_mid_delivery_is_sent_again_with_the_same_id(
    outbox: Outbox, database_url: str, redis_url: str, tmp_path: Path
) -> None:
    _, secret = await subscribe(outbox)
    await announce(outbox, outbox.own_fiche)
    outbox.receiver.hold = threading.Event()  # the first request waits in the receiver...
    env = cli_env(
        tmp_path,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        CALLAUDIT_ENV="test",
        WEBHOOK_SECRETS_KEY=KEY,
        WEBHOOK_ALLOWED_ORIGINS=outbox.receiver.url,
    )
    # The loop has nothing else to run meanwhile: blocking on the process and the receiver is fine.
    worker = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, "-m", "callaudit", "outbox-worker"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert outbox.receiver.arrived.wait(120), "the worker process never delivered"
    finally:
        os.killpg(worker.pid, signal.SIGKILL)  # ...while the worker is killed
        worker.wait(10)
    outbox.receiver.hold.set()
    outbox.receiver.hold = None

    async with outbox.sessions() as session:
        delivery = (await session.scalars(select(OutboxDelivery))).one()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    assert delivery.claim_token is not None  # claimed by the dead worker; its lease runs out

    config = OutboxConfig(lease_seconds=60)
    worker_b = outbox.worker(config)
    assert await worker_b.run_once() == 0  # the lease still holds
    outbox.clock.at(delivery.next_attempt_at + dt.timedelta(seconds=1))
    assert await worker_b.run_once() == 1

    first, second = outbox.receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery.id
    assert first.body == second.body
    standardwebhooks.Webhook(secret).verify(second.body.decode(), second.headers)
    async with outbox.sessions() as session:
        delivery = (await session.scalars(select(OutboxDelivery))).one()
        log = (await session.scalars(select(DeliveryAttempt))).all()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)
    assert [(a.attempt, a.success) for a in log] == [(2, True)]
    assert await worker_b.run_once() == 0  # nothing left, nothing sent twice more
    assert len(outbox.receiver.requests) == 2
