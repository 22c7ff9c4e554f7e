"""A schedule's `webhookUrl` is notified through the webhook outbox: signed, sent once, SSRF-guarded.

The run is executed by the runner (fake stages, real database), its notice queued by the table
notifier in the run's concluding transaction, and sent by the real outbox worker to a real HTTP
receiver on loopback, then verified with the `standardwebhooks` library.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator

import pytest
import standardwebhooks
from sqlalchemy import Engine, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session, sessionmaker

from domain.models.automation import AutomationLog, AutomationNotification, AutomationSchedule
from domain.models.outbox import DeliveryAttempt, OutboxDelivery, WebhookSubscription
from domain.outbox.secrets_box import SecretBox
from domain.schedules.notifications import TableNotifier, WebhookNotice
from domain.schedules.runner import AutomationRunner, RunSettings
from domain.schedules.webhook import set_schedule_webhook
from resources.database import async_session_factory
from resources.egress import EgressClient, EgressPolicy, Resolver
from resources.outbox import OutboxWorker
from tests.fixtures.schedules import Plan, RecordingEvents, harness, new_run, schedule
from tests.fixtures.standins.receiver import Receiver, receiving

pytestmark = pytest.mark.usefixtures("clean_tables")

KEY = "test-only-webhook-secrets-key-0123456789"
BOX = SecretBox(KEY)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


def hooked_schedule(engine: Engine, url: str) -> tuple[int, str]:
    schedule_id = schedule(engine, webhook_url=url, notify_emails=[], run_audits=False)
    with Session(engine) as session, session.begin():
        row = session.get_one(AutomationSchedule, schedule_id)
        secret = set_schedule_webhook(session, row, url, box=BOX, user_id=None)
    assert secret is not None
    return schedule_id, secret


def execute(engine: Engine, schedule_id: int) -> int:
    """One run of the schedule over one fiche, to the end, notices through the outbox tables."""
    h = harness(engine, {"8001": Plan()})
    run_id = new_run(engine, schedule_id)
    h.pipeline.run_id, h.pipeline.schedule_id = run_id, schedule_id
    AutomationRunner(
        run_id,
        sessions=sessionmaker(engine, expire_on_commit=False),
        pipeline=h.pipeline,
        events=RecordingEvents(),
        notifier=lambda session: TableNotifier(session, run_id),
        settings=RunSettings(max_recordings_per_fiche=50),
    ).execute()
    return run_id


def worker(engine: AsyncEngine, policy: EgressPolicy) -> tuple[OutboxWorker, EgressClient]:
    egress = EgressClient(policy)
    return OutboxWorker(async_session_factory(engine), egress, box=BOX, mailer=None), egress


async def test_a_runs_notice_reaches_the_schedules_webhook_signed_and_once(
    sync_engine: Engine, async_engine: AsyncEngine, receiver: Receiver
) -> None:
    schedule_id, secret = hooked_schedule(sync_engine, receiver.url + "/automation")
    run_id = execute(sync_engine, schedule_id)
    # A retried run hands the same notice over again: its key is recorded, nothing more is queued.
    again = WebhookNotice(f"automation-run:{run_id}:webhook", schedule_id, receiver.url, "automation.run.completed", {})
    with Session(sync_engine) as session, session.begin():
        TableNotifier(session, run_id).send_webhook(again)

    outbox, egress = worker(async_engine, EgressPolicy.build([receiver.url]))
    try:
        assert await outbox.run_once() == 1
        assert await outbox.run_once() == 0
    finally:
        await egress.aclose()

    [request] = receiver.requests
    assert request.path == "/automation"
    body = request.body.decode()
    payload = standardwebhooks.Webhook(secret).verify(body, request.headers)
    assert payload["type"] == "automation.run.completed"
    assert payload["data"]["run_id"] == str(run_id)
    assert payload["data"]["schedule_id"] == str(schedule_id)
    assert (payload["data"]["status"], payload["data"]["total_fiches"]) == ("completed", 1)
    assert request.headers["x-webhook-event"] == "automation.run.completed"
    key = secret.encode()
    assert request.headers["x-webhook-signature"] == "sha256=" + hmac.new(key, request.body, hashlib.sha256).hexdigest()
    with Session(sync_engine) as session:
        notification = session.scalars(select(AutomationNotification)).one()
        delivery = session.scalars(select(OutboxDelivery)).one()
    assert notification.delivery_id == delivery.id == request.headers["webhook-id"]
    assert (delivery.status, delivery.event_type) == ("delivered", "automation.run.completed")


def rebinding(name: str) -> Resolver:
    """`name` resolves to loopback, as a public name re-pointed inside after the URL was checked would."""

    async def resolve(host: str, port: int) -> list[str]:
        assert host == name
        return ["127.0.0.1"]

    return resolve


async def test_a_webhook_url_that_resolves_to_a_private_address_is_refused_at_connect_time(
    sync_engine: Engine, async_engine: AsyncEngine, receiver: Receiver
) -> None:
    port = receiver.url.rsplit(":", 1)[1]
    name = "hooks.rebound.example"
    schedule_id, _ = hooked_schedule(sync_engine, f"http://{name}:{port}/automation")
    run_id = execute(sync_engine, schedule_id)

    outbox, egress = worker(async_engine, EgressPolicy.build([], resolver=rebinding(name)))
    try:
        assert await outbox.run_once() == 1
    finally:
        await egress.aclose()

    assert receiver.requests == []  # listening there, and never reached
    with Session(sync_engine) as session:
        delivery = session.scalars(select(OutboxDelivery)).one()
        attempt = session.scalars(select(DeliveryAttempt)).one()
        notification = session.scalars(select(AutomationNotification)).one()
    assert (notification.run_id, notification.delivery_id) == (run_id, delivery.id)
    assert (attempt.success, attempt.status_code) == (False, None)
    assert "blocked destination" in str(attempt.error)
    assert delivery.status == "pending"  # retried on the schedule, checked again each time


def test_a_url_stored_without_a_subscription_is_logged_not_lost_silently(sync_engine: Engine) -> None:
    schedule_id = schedule(
        sync_engine, webhook_url="https://hooks.example.test/legacy", notify_emails=[], run_audits=False
    )
    run_id = execute(sync_engine, schedule_id)
    with Session(sync_engine) as session:
        assert session.scalars(select(OutboxDelivery)).all() == []
        messages = session.scalars(select(AutomationLog.message).where(AutomationLog.run_id == run_id)).all()
    assert any("set webhookUrl again" in m for m in messages)


def test_the_subscription_follows_the_schedules_url(sync_engine: Engine) -> None:
    schedule_id, _ = hooked_schedule(sync_engine, "https://hooks.example.test/a")
    with Session(sync_engine) as session, session.begin():
        row = session.get_one(AutomationSchedule, schedule_id)
        assert set_schedule_webhook(session, row, "https://hooks.example.test/b", box=BOX, user_id=None) is None
    with Session(sync_engine) as session:
        [subscription] = session.scalars(select(WebhookSubscription)).all()
        assert (subscription.url, subscription.automation_schedule_id) == ("https://hooks.example.test/b", schedule_id)
        assert subscription.event_types == ["automation.run.completed", "automation.run.failed"]
    with Session(sync_engine) as session, session.begin():
        row = session.get_one(AutomationSchedule, schedule_id)
        set_schedule_webhook(session, row, None, box=None, user_id=None)
    with Session(sync_engine) as session:
        assert session.scalars(select(WebhookSubscription)).all() == []
