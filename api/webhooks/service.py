"""Webhook subscriptions: who sees which, creation with a one-time secret, redelivery."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import AppError, BadRequest, ErrorCode
from callaudit.settings import Settings
from domain.models.outbox import DeliveryChannel, DeliveryStatus, OutboxDelivery, WebhookSubscription
from domain.outbox import new_delivery_id
from domain.outbox.secrets_box import SecretBox, SecretsUnavailable
from domain.outbox.signing import generate_secret
from resources.egress import EgressPolicy, EgressRefused, check_url
from resources.outbox.runner import secrets_key


class WebhooksNotConfigured(AppError):
    status_code = 500
    code = ErrorCode.CONFIGURATION_ERROR


def secret_box(settings: Settings) -> SecretBox:
    try:
        return SecretBox(secrets_key(settings))
    except SecretsUnavailable as exc:
        raise WebhooksNotConfigured(str(exc)) from None


async def checked_url(url: str, policy: EgressPolicy, field: str) -> str:
    try:
        return (await check_url(url, policy)).url
    except EgressRefused as exc:
        raise BadRequest(f"{field}: {exc}", field=field) from None


async def create_subscription(
    session: AsyncSession,
    settings: Settings,
    policy: EgressPolicy,
    *,
    url: str,
    event_types: list[str],
    owner_user_id: int | None,
    created_by_id: int | None,
    team_id: int | None = None,
    job_id: str | None = None,
    description: str | None = None,
    secret: str | None = None,
    url_field: str = "url",
) -> tuple[WebhookSubscription, str]:
    """A new subscription and its secret (the given one, or a fresh `whsec_`), which the caller shows once."""
    box = secret_box(settings)
    url = await checked_url(url, policy, url_field)
    secret = secret or generate_secret()
    subscription = WebhookSubscription(
        owner_user_id=None if team_id is not None else owner_user_id,
        team_id=team_id,
        job_id=job_id,
        url=url,
        description=description,
        event_types=list(dict.fromkeys(event_types)),
        secret_encrypted=box.seal(secret),
        created_by_id=created_by_id,
    )
    session.add(subscription)
    await session.flush()
    await session.refresh(subscription)
    return subscription, secret


def rotate_secret(box: SecretBox, subscription: WebhookSubscription, now: dt.datetime, overlap: dt.timedelta) -> str:
    """A fresh signing secret; the current one keeps signing beside it for `overlap` (a secret still
    in an earlier overlap stops: one previous secret at a time)."""
    secret = generate_secret()
    keep = overlap > dt.timedelta(0)
    subscription.previous_secret_encrypted = subscription.secret_encrypted if keep else None
    subscription.previous_secret_expires_at = now + overlap if keep else None
    subscription.secret_encrypted = box.seal(secret)
    return secret


def test_delivery(subscription: WebhookSubscription, now: dt.datetime) -> OutboxDelivery:
    body = {"type": "webhook.test", "timestamp": now.isoformat(), "data": {"subscription_id": str(subscription.id)}}
    return OutboxDelivery(
        id=new_delivery_id(),
        channel=DeliveryChannel.WEBHOOK.value,
        subscription_id=subscription.id,
        event_type="webhook.test",
        body=json.dumps(body, separators=(",", ":")),
        status=DeliveryStatus.PENDING.value,
        next_attempt_at=now,
    )


def redeliver(delivery: OutboxDelivery, now: dt.datetime) -> None:
    """Send again at once, same `webhook-id`, with a fresh round of the retry schedule."""
    delivery.status = DeliveryStatus.PENDING
    delivery.round_start = delivery.attempts
    delivery.next_attempt_at = now
    delivery.claim_token = None
    delivery.delivered_at = None
