"""Webhook deliveries end to end: outbox row -> fan-out -> signed POST -> delivery log."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import pytest
import standardwebhooks
from sqlalchemy import func, select, update

from api.webhooks.service import rotate_secret
from domain.models import DeliveryAttempt, OutboxDelivery, WebhookSubscription
from resources.outbox import OutboxConfig
from tests.fixtures.outbox import Outbox, announce, subscribe


async def test_delivery_verifies_with_the_standard_webhooks_library(outbox: Outbox) -> None:
    subscription_id, secret = await subscribe(outbox, events=["audit.completed"])
    await announce(outbox, outbox.own_fiche)
    assert await outbox.worker().run_once() == 1

    [request] = outbox.receiver.requests
    body = request.body.decode()
    payload = standardwebhooks.Webhook(secret).verify(body, request.headers)
    assert payload["type"] == "audit.completed"
    assert payload["data"]["score_percentage"] == 91.5
    # the original's headers, for existing receivers
    key = secret.encode()
    assert request.headers["x-webhook-signature"] == "sha256=" + hmac.new(key, request.body, hashlib.sha256).hexdigest()
    signed_v2 = f"{request.headers['x-webhook-timestamp']}.{body}".encode()
    assert request.headers["x-webhook-signature-v2"] == "sha256=" + hmac.new(key, signed_v2, hashlib.sha256).hexdigest()
    assert request.headers["x-webhook-delivery-id"] == request.headers["webhook-id"]
    assert request.headers["x-webhook-attempt"] == "1"
    async with outbox.sessions() as session:
        delivery = (await session.scalars(select(OutboxDelivery))).one()
        attempt = (await session.scalars(select(DeliveryAttempt))).one()
    assert (delivery.status, delivery.subscription_id, delivery.id) == (
        "delivered",
        subscription_id,
        request.headers["webhook-id"],
    )
    assert (attempt.success, attempt.status_code, attempt.attempt, attempt.response_excerpt) == (True, 200, 1, "ok")


async def test_a_tampered_body_fails_verification(outbox: Outbox) -> None:
    _, secret = await subscribe(outbox)
    await announce(outbox, outbox.own_fiche)
    await outbox.worker().run_once()
    [request] = outbox.receiver.requests
    tampered = request.body.replace(b"91.5", b"99.9")
    try:
        standardwebhooks.Webhook(secret).verify(tampered.decode(), request.headers)
    except standardwebhooks.WebhookVerificationError:
        pass
    else:
        raise AssertionError("a modified body must not verify")


async def test_events_outside_the_subscribers_scope_are_not_sent(outbox: Outbox) -> None:
    await subscribe(outbox)
    await announce(outbox, outbox.other_fiche)  # a fiche of another CRM group than the team's
    await announce(outbox, outbox.own_fiche, "transcription.failed")
    await outbox.worker().run_once()
    assert [json.loads(r.body)["type"] for r in outbox.receiver.requests] == ["transcription.failed"]


async def test_event_filter(outbox: Outbox) -> None:
    await subscribe(outbox, events=["audit.failed"])
    await announce(outbox, outbox.own_fiche, "audit.completed")
    await outbox.worker().run_once()
    assert outbox.receiver.requests == []


async def test_failing_receiver_gets_retries_on_schedule_then_is_disabled(outbox: Outbox) -> None:
    outbox.receiver.answers = [(500, {}, b"boom")]
    subscription_id, _ = await subscribe(outbox)
    await announce(outbox, outbox.own_fiche)
    worker = outbox.worker(OutboxConfig(schedule=(10, 60), disable_after=1))
    start = outbox.clock.now

    assert await worker.run_once() == 1
    async with outbox.sessions() as session:
        due = (await session.scalars(select(OutboxDelivery.next_attempt_at))).one()
    assert start + dt.timedelta(seconds=8) <= due <= start + dt.timedelta(seconds=12)
    outbox.clock.at(start + dt.timedelta(seconds=7))
    assert await worker.run_once() == 0  # not due yet
    outbox.clock.at(due)
    assert await worker.run_once() == 1
    async with outbox.sessions() as session:
        second_due = (await session.scalars(select(OutboxDelivery.next_attempt_at))).one()
    assert due + dt.timedelta(seconds=48) <= second_due <= due + dt.timedelta(seconds=72)
    outbox.clock.at(second_due)
    assert await worker.run_once() == 1
    outbox.clock.at(second_due + dt.timedelta(days=2))
    assert await worker.run_once() == 0  # schedule spent

    ids = {r.headers["webhook-id"] for r in outbox.receiver.requests}
    assert len(ids) == 1
    assert [r.headers["x-webhook-attempt"] for r in outbox.receiver.requests] == ["1", "2", "3"]
    async with outbox.sessions() as session:
        delivery = (await session.scalars(select(OutboxDelivery))).one()
        subscription = await session.get(WebhookSubscription, subscription_id)
        log = (await session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id))).all()
    assert delivery.status == "failed"
    assert [(a.attempt, a.status_code, a.success, a.response_excerpt) for a in log] == [
        (1, 500, False, "boom"),
        (2, 500, False, "boom"),
        (3, 500, False, "boom"),
    ]
    assert log[-1].next_attempt_at is None
    assert subscription is not None
    assert not subscription.enabled
    assert subscription.disabled_reason is not None


async def test_gone_disables_at_once_and_redelivery_sends_the_same_id(outbox: Outbox) -> None:
    from api.webhooks.service import redeliver

    outbox.receiver.answers = [(410, {}, b""), (204, {}, b"")]
    subscription_id, secret = await subscribe(outbox)
    await announce(outbox, outbox.own_fiche)
    worker = outbox.worker()
    await worker.run_once()
    async with outbox.sessions.begin() as session:
        subscription = await session.get(WebhookSubscription, subscription_id)
        assert subscription is not None
        assert not subscription.enabled
        assert "410" in (subscription.disabled_reason or "")
        subscription.enabled = True
        delivery = (await session.scalars(select(OutboxDelivery))).one()
        assert delivery.status == "failed"
        redeliver(delivery, outbox.clock.now)
    assert await worker.run_once() == 1
    first, second = outbox.receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    standardwebhooks.Webhook(secret).verify(second.body.decode(), second.headers)
    async with outbox.sessions() as session:
        assert (await session.scalars(select(OutboxDelivery.status))).one() == "delivered"


async def test_retry_after_is_honoured_within_the_schedule(outbox: Outbox) -> None:
    outbox.receiver.answers = [(503, {"Retry-After": "120"}, b"")]
    await subscribe(outbox)
    await announce(outbox, outbox.own_fiche)
    start = outbox.clock.now
    await outbox.worker(OutboxConfig(schedule=(5, 300))).run_once()
    async with outbox.sessions() as session:
        due = (await session.scalars(select(OutboxDelivery.next_attempt_at))).one()
    assert start + dt.timedelta(seconds=96) <= due <= start + dt.timedelta(seconds=144)


async def test_fan_out_twice_creates_one_delivery_per_subscription(outbox: Outbox) -> None:
    from domain.models import OutboxEvent
    from domain.outbox.fanout import dispatch_events

    await subscribe(outbox)
    await announce(outbox, outbox.own_fiche)
    async with outbox.sessions.begin() as session:
        await dispatch_events(session, now=outbox.clock.now)
        # a crash before the event was marked: the next pass sees it again
        for event in (await session.scalars(select(OutboxEvent))).all():
            event.dispatched_at = None
    async with outbox.sessions.begin() as session:
        await dispatch_events(session, now=outbox.clock.now)
    async with outbox.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxDelivery)) == 1


async def test_concurrent_workers_never_claim_the_same_delivery(outbox: Outbox) -> None:
    import asyncio

    await subscribe(outbox)
    for _ in range(12):
        await announce(outbox, outbox.own_fiche)
    first, second = outbox.worker(OutboxConfig(batch=8)), outbox.worker(OutboxConfig(batch=8))
    async with outbox.sessions.begin() as session:
        from domain.outbox.fanout import dispatch_events

        await dispatch_events(session, now=outbox.clock.now)
    a, b = await asyncio.gather(first.claim(), second.claim())
    ids_a, ids_b = {c.id for c in a}, {c.id for c in b}
    assert not ids_a & ids_b
    rest = await first.claim()  # what neither took is still there; what they took is leased
    assert len(ids_a | ids_b | {c.id for c in rest}) == 12


async def test_a_test_event_reaches_the_receiver_signed(outbox: Outbox) -> None:
    from api.webhooks.service import test_delivery

    subscription_id, secret = await subscribe(outbox)
    async with outbox.sessions.begin() as session:
        subscription = await session.get(WebhookSubscription, subscription_id)
        assert subscription is not None
        session.add(test_delivery(subscription, outbox.clock.now))
    assert await outbox.worker().run_once() == 1
    [request] = outbox.receiver.requests
    payload = standardwebhooks.Webhook(secret).verify(request.body.decode(), request.headers)
    assert payload["type"] == "webhook.test"
    assert request.headers["x-webhook-event"] == "webhook.test"


async def test_purge_forgets_old_finished_deliveries_and_keeps_pending_ones(outbox: Outbox) -> None:
    from domain.models import OutboxEvent

    outbox.receiver.answers = [(200, {}, b"ok"), (500, {}, b"")]
    await subscribe(outbox)
    await announce(outbox, outbox.own_fiche)
    await announce(outbox, outbox.own_fiche)
    worker = outbox.worker(OutboxConfig(retention_days=30))
    await worker.run_once()  # the first delivered, the second pending a retry
    outbox.clock.at(outbox.clock.now + dt.timedelta(days=31))
    assert await worker.purge() == 1
    async with outbox.sessions() as session:
        left = (await session.scalars(select(OutboxDelivery))).all()
        events = (await session.scalars(select(OutboxEvent))).all()
        log = (await session.scalars(select(DeliveryAttempt))).all()
    assert [d.status for d in left] == ["pending"]
    assert [e.id for e in events] == [left[0].event_id]  # its event stays while a delivery needs it
    assert [a.delivery_id for a in log] == [left[0].id]


async def test_a_rotated_secret_and_the_one_it_replaced_both_verify_until_the_overlap_ends(outbox: Outbox) -> None:
    subscription_id, old = await subscribe(outbox, events=["audit.completed"])
    async with outbox.sessions.begin() as session:
        subscription = await session.get(WebhookSubscription, subscription_id)
        assert subscription is not None
        new = rotate_secret(outbox.box, subscription, outbox.clock(), dt.timedelta(hours=1))
    assert new != old

    await announce(outbox, outbox.own_fiche)
    assert await outbox.worker().run_once() == 1
    [during] = outbox.receiver.requests
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    for secret in (new, old):  # the receiver may switch at any time of the overlap
        assert (
            standardwebhooks.Webhook(secret).verify(during.body.decode(), during.headers)["type"] == "audit.completed"
        )
    key = new.encode()  # the original's single signature: the new secret's
    assert during.headers["x-webhook-signature"] == "sha256=" + hmac.new(key, during.body, hashlib.sha256).hexdigest()

    async with outbox.sessions.begin() as session:  # an hour later (the library checks timestamps on its own clock)
        await session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.id == subscription_id)
            .values(previous_secret_expires_at=outbox.clock() - dt.timedelta(seconds=1))
        )
    await announce(outbox, outbox.own_fiche)
    assert await outbox.worker().run_once() == 1
    after = outbox.receiver.requests[1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert standardwebhooks.Webhook(new).verify(after.body.decode(), after.headers)["type"] == "audit.completed"
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(old).verify(after.body.decode(), after.headers)
