"""Writing to the outbox: plain inserts in the caller's session, no I/O."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from domain.models.outbox import DeliveryChannel, DeliveryStatus, OutboxDelivery, OutboxEvent
from domain.outbox.catalogue import EVENTS


def new_delivery_id(prefix: str = "msg") -> str:
    """`msg_<26 random chars>`: the Standard Webhooks `webhook-id` (no `.`, not guessable)."""
    return f"{prefix}_{secrets.token_urlsafe(20)}"


def enqueue(
    session: Session | AsyncSession,
    event_type: str,
    payload: Mapping[str, Any],
    *,
    fiche_id: str | None = None,
    job_id: str | None = None,
    actor_user_id: int | None = None,
) -> OutboxEvent:
    """Queue `event_type` in the caller's transaction (flushed with it, committed with it)."""
    rule = EVENTS.get(event_type)
    if rule is None:
        raise ValueError(f"unknown outbox event {event_type!r}")
    if rule.about == "fiche" and fiche_id is None:
        raise ValueError(f"{event_type} needs the fiche it is about")
    if rule.about == "job" and job_id is None:
        raise ValueError(f"{event_type} needs the job it is about")
    event = OutboxEvent(
        event_type=event_type,
        payload=json.loads(json.dumps(dict(payload), default=str)),
        fiche_id=fiche_id,
        job_id=job_id,
        actor_user_id=actor_user_id,
    )
    session.add(event)
    return event


@dataclass(frozen=True)
class MailMessage:
    to: str
    subject: str
    text: str
    html: str


def enqueue_webhook(
    session: Session | AsyncSession, subscription_id: int, event_type: str, data: Mapping[str, Any]
) -> OutboxDelivery:
    """Queue a notice for one subscription in the caller's transaction (no fan-out: it has one receiver),
    in the body every webhook has (`{type, timestamp, data}`); the worker signs, sends and retries it."""
    now = dt.datetime.now(dt.UTC)
    body = {"type": event_type, "timestamp": now.isoformat(), "data": dict(data)}
    delivery = OutboxDelivery(
        id=new_delivery_id(),
        channel=DeliveryChannel.WEBHOOK.value,
        subscription_id=subscription_id,
        event_type=event_type,
        body=json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str),
        status=DeliveryStatus.PENDING.value,
        next_attempt_at=now,
    )
    session.add(delivery)
    return delivery


def enqueue_mail(session: Session | AsyncSession, message: MailMessage, *, kind: str) -> OutboxDelivery:
    """Queue an e-mail in the caller's transaction; the worker sends it and retries on failure."""
    delivery = OutboxDelivery(
        id=new_delivery_id("mail"),
        channel=DeliveryChannel.MAIL.value,
        event_type=f"mail.{kind}",
        body=json.dumps(asdict(message), ensure_ascii=False),
        status=DeliveryStatus.PENDING.value,
        next_attempt_at=dt.datetime.now(dt.UTC),
    )
    session.add(delivery)
    return delivery
