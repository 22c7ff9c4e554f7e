"""`/api/webhooks`: subscriptions, their delivery log, redelivery.

Needs `webhooks.read` / `webhooks.write`. SELF scope sees and manages the caller's own subscriptions;
ALL scope everyone's, and only ALL may create team subscriptions. A subscription outside the caller's
reach is a 404. What a subscription receives is bounded by its owner's data scope (see
`domain.outbox.fanout`), whoever created it. The signing secret is returned once, at creation.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path

from api.deps import SessionDep, SettingsDep
from api.errors import Conflict, Forbidden, NotFound
from api.schemas import Envelope, Page, PageParams, ok, page_params
from api.security import EntityId, Grant, require
from api.webhooks import service
from api.webhooks.repository import WebhookRepository, Webhooks
from api.webhooks.schemas import (
    AttemptOut,
    DeliveryDetail,
    DeliveryOut,
    SecretRotationIn,
    SubscriptionCreated,
    SubscriptionIn,
    SubscriptionOut,
    SubscriptionPatch,
)
from domain.models.outbox import OutboxDelivery, WebhookSubscription
from domain.rbac import Scope
from resources.egress import EgressPolicy
from resources.outbox.runner import egress_policy
from resources.outbox.worker import utcnow

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

ReadWebhooks = Annotated[Grant, Depends(require("webhooks", "read"))]
WriteWebhooks = Annotated[Grant, Depends(require("webhooks", "write"))]
Pages = Annotated[PageParams, Depends(page_params)]
DeliveryId = Annotated[str, Path(pattern=r"^msg_[A-Za-z0-9_-]{10,40}$", description="The delivery's webhook-id")]


def get_egress_policy(settings: SettingsDep) -> EgressPolicy:
    return egress_policy(settings)


EgressPolicyDep = Annotated[EgressPolicy, Depends(get_egress_policy)]


def _out(subscription: WebhookSubscription) -> SubscriptionOut:
    return SubscriptionOut.model_validate(subscription)


def _delivery(delivery: OutboxDelivery) -> DeliveryOut:
    pending = delivery.status == "pending"
    return DeliveryOut(
        id=delivery.id,
        subscription_id=delivery.subscription_id,
        event_type=delivery.event_type,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at if pending else None,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        delivered_at=delivery.delivered_at,
        created_at=delivery.created_at,
    )


async def _subscription(webhooks: WebhookRepository, grant: Grant, subscription_id: int) -> WebhookSubscription:
    subscription = await webhooks.subscription(grant, subscription_id)
    if subscription is None:
        raise NotFound("Subscription not found")
    return subscription


@router.get("/subscriptions", response_model=Page[SubscriptionOut], summary="Webhook subscriptions in reach")
async def list_subscriptions(grant: ReadWebhooks, webhooks: Webhooks, page: Pages) -> Page[SubscriptionOut]:
    """The caller's subscriptions (everyone's with ALL scope), newest first, paginated."""
    rows, total = await webhooks.subscriptions_page(grant, page)
    return page.paginate([_out(s) for s in rows], total)


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=Envelope[SubscriptionCreated],
    summary="Subscribe a URL to events (the signing secret is shown once)",
)
async def create_subscription(  # noqa: PLR0917 - FastAPI body and dependencies
    body: SubscriptionIn,
    grant: WriteWebhooks,
    session: SessionDep,
    webhooks: Webhooks,
    settings: SettingsDep,
    policy: EgressPolicyDep,
) -> Envelope[SubscriptionCreated]:
    """The URL must be http(s), without credentials, and resolve only to public addresses (or be an origin of
    `WEBHOOK_ALLOWED_ORIGINS`): 400 naming `url` otherwise. Deliveries are signed with Standard Webhooks
    headers and the original's `X-Webhook-*` headers, using the returned `whsec_` secret."""
    if body.team_id is not None:
        if grant.scope is not Scope.ALL:
            raise Forbidden("Team subscriptions need webhooks.write with ALL scope")
        if not await webhooks.team_exists(body.team_id):
            raise NotFound("Team not found")
    subscription, secret = await service.create_subscription(
        session,
        settings,
        policy,
        url=body.url,
        event_types=list(body.event_types),
        owner_user_id=grant.principal.user_id,
        created_by_id=grant.principal.user_id,
        team_id=body.team_id,
        description=body.description,
    )
    return ok(SubscriptionCreated(**dict(_out(subscription)), secret=secret))


@router.get("/subscriptions/{subscription_id:id}", response_model=Envelope[SubscriptionOut], summary="One subscription")
async def get_subscription(
    subscription_id: EntityId, grant: ReadWebhooks, webhooks: Webhooks
) -> Envelope[SubscriptionOut]:
    """A subscription (never its secret); 404 when missing or out of reach."""
    return ok(_out(await _subscription(webhooks, grant, subscription_id)))


@router.patch(
    "/subscriptions/{subscription_id:id}", response_model=Envelope[SubscriptionOut], summary="Change a subscription"
)
async def update_subscription(  # noqa: PLR0917 - FastAPI path, body and dependencies
    subscription_id: EntityId,
    body: SubscriptionPatch,
    grant: WriteWebhooks,
    session: SessionDep,
    webhooks: Webhooks,
    policy: EgressPolicyDep,
) -> Envelope[SubscriptionOut]:
    """Change the URL (checked again), the events, the description, or enable / disable it. Re-enabling
    clears the failure streak; deliveries that waited while it was disabled are then sent."""
    subscription = await _subscription(webhooks, grant, subscription_id)
    if body.url is not None:
        subscription.url = await service.checked_url(body.url, policy, "url")
    if body.event_types is not None:
        subscription.event_types = list(dict.fromkeys(body.event_types))
    if body.description is not None:
        subscription.description = body.description
    if body.enabled is True and not subscription.enabled:
        subscription.enabled, subscription.disabled_reason, subscription.disabled_at = True, None, None
        subscription.failure_streak = 0
    elif body.enabled is False and subscription.enabled:
        subscription.enabled, subscription.disabled_reason, subscription.disabled_at = (
            False,
            "disabled by a user",
            utcnow(),
        )
    await session.flush()
    await session.refresh(subscription)
    return ok(_out(subscription))


@router.delete(
    "/subscriptions/{subscription_id:id}", response_model=Envelope[SubscriptionOut], summary="Delete a subscription"
)
async def delete_subscription(
    subscription_id: EntityId, grant: WriteWebhooks, session: SessionDep, webhooks: Webhooks
) -> Envelope[SubscriptionOut]:
    """The subscription and its delivery log; deliveries not yet sent are dropped."""
    subscription = await _subscription(webhooks, grant, subscription_id)
    out = _out(subscription)
    await session.delete(subscription)
    await session.flush()
    return ok(out)


@router.post(
    "/subscriptions/{subscription_id:id}/rotate-secret",
    response_model=Envelope[SubscriptionCreated],
    summary="Replace the signing secret (the new one is shown once)",
)
async def rotate_secret(  # noqa: PLR0917 - FastAPI path, body and dependencies
    subscription_id: EntityId,
    body: SecretRotationIn,
    grant: WriteWebhooks,
    session: SessionDep,
    webhooks: Webhooks,
    settings: SettingsDep,
) -> Envelope[SubscriptionCreated]:
    """A new `whsec_` secret, returned this once. For `overlap_seconds` (default a day, at most a week) every
    delivery's `webhook-signature` carries two `v1,` signatures, the new secret's and the replaced one's,
    so the receiver can switch at any time in that window; after it only the new secret signs. The
    original's `X-Webhook-Signature*` headers carry one signature, the new secret's, from now on."""
    subscription = await _subscription(webhooks, grant, subscription_id)
    box = service.secret_box(settings)
    secret = service.rotate_secret(box, subscription, utcnow(), dt.timedelta(seconds=body.overlap_seconds))
    await session.flush()
    await session.refresh(subscription)
    return ok(SubscriptionCreated(**dict(_out(subscription)), secret=secret))


@router.post(
    "/subscriptions/{subscription_id:id}/test",
    status_code=202,
    response_model=Envelope[DeliveryOut],
    summary="Send a test event to the subscription",
)
async def send_test_event(
    subscription_id: EntityId, grant: WriteWebhooks, session: SessionDep, webhooks: Webhooks
) -> Envelope[DeliveryOut]:
    """Queues a `webhook.test` delivery (no data) to check the receiver and its signature verification; it is
    signed, retried and logged like any other. 409 while the subscription is disabled."""
    subscription = await _subscription(webhooks, grant, subscription_id)
    if not subscription.enabled:
        raise Conflict("The subscription is disabled: enable it before testing")
    delivery = service.test_delivery(subscription, utcnow())
    session.add(delivery)
    await session.flush()
    await session.refresh(delivery)
    return ok(_delivery(delivery))


@router.get(
    "/subscriptions/{subscription_id:id}/deliveries",
    response_model=Page[DeliveryOut],
    summary="Delivery log of a subscription",
)
async def list_deliveries(
    subscription_id: EntityId, grant: ReadWebhooks, webhooks: Webhooks, page: Pages
) -> Page[DeliveryOut]:
    """Every delivery of the subscription, newest first: status, attempts, last answer."""
    await _subscription(webhooks, grant, subscription_id)
    rows, total = await webhooks.deliveries_page(grant, subscription_id, page)
    return page.paginate([_delivery(d) for d in rows], total)


async def _visible_delivery(webhooks: WebhookRepository, grant: Grant, delivery_id: str) -> OutboxDelivery:
    delivery = await webhooks.delivery(grant, delivery_id)
    if delivery is None:
        raise NotFound("Delivery not found")
    return delivery


@router.get(
    "/deliveries/{delivery_id}", response_model=Envelope[DeliveryDetail], summary="One delivery and its attempts"
)
async def get_delivery(delivery_id: DeliveryId, grant: ReadWebhooks, webhooks: Webhooks) -> Envelope[DeliveryDetail]:
    """The payload sent and every attempt: status code, response excerpt (2 KiB), duration, error."""
    delivery = await _visible_delivery(webhooks, grant, delivery_id)
    attempts = await webhooks.attempts(delivery.id)
    return ok(
        DeliveryDetail(
            **_delivery(delivery).model_dump(),
            payload=delivery.body,
            attempt_log=[AttemptOut.model_validate(a, from_attributes=True) for a in attempts],
        )
    )


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=Envelope[DeliveryOut],
    summary="Send a delivery again",
)
async def redeliver(
    delivery_id: DeliveryId, grant: WriteWebhooks, session: SessionDep, webhooks: Webhooks
) -> Envelope[DeliveryOut]:
    """Queued for the worker at once, with the same `webhook-id` (receivers deduplicate on it) and a fresh
    round of retries. 409 while its subscription is disabled (enable it first)."""
    delivery = await _visible_delivery(webhooks, grant, delivery_id)
    subscription = await webhooks.subscription_of(delivery)
    if subscription is None or not subscription.enabled:
        raise Conflict("The subscription is disabled: enable it before redelivering")
    service.redeliver(delivery, utcnow())
    await session.flush()
    await session.refresh(delivery)
    return ok(_delivery(delivery))
