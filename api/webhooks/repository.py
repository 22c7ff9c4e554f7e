"""The SQL of the webhook routes: the subscriptions and deliveries a grant reaches, and their attempts.

SELF scope reaches the caller's own subscriptions (and their deliveries); ALL scope everyone's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy import ColumnElement, Select, false, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import SessionDep
from api.schemas import PageParams
from api.security import Grant, fetch_page
from domain.models import Team
from domain.models.outbox import DeliveryAttempt, OutboxDelivery, WebhookSubscription
from domain.rbac import Scope


def visible_clause(grant: Grant) -> ColumnElement[bool]:
    """ALL: every subscription; otherwise the caller's own (team subscriptions are for ALL scope)."""
    if grant.scope is Scope.ALL:
        return true()
    if grant.principal.user_id is None:
        return false()
    return WebhookSubscription.owner_user_id == grant.principal.user_id


def _subscriptions(grant: Grant) -> Select[WebhookSubscription]:
    return select(WebhookSubscription).where(visible_clause(grant))


def _deliveries(grant: Grant) -> Select[OutboxDelivery]:
    return (
        select(OutboxDelivery)
        .join(WebhookSubscription, WebhookSubscription.id == OutboxDelivery.subscription_id)
        .where(visible_clause(grant))
    )


class WebhookRepository:
    """Also a FastAPI dependency: `Depends(WebhookRepository)` gets the request's session."""

    def __init__(self, session: SessionDep) -> None:
        self.session: AsyncSession = session

    async def subscriptions_page(self, grant: Grant, page: PageParams) -> tuple[list[WebhookSubscription], int]:
        """The subscriptions in reach, newest first."""
        return await fetch_page(self.session, _subscriptions(grant).order_by(WebhookSubscription.id.desc()), page)

    async def subscription(self, grant: Grant, subscription_id: int) -> WebhookSubscription | None:
        statement = _subscriptions(grant).where(WebhookSubscription.id == subscription_id).limit(1)
        return (await self.session.scalars(statement)).first()

    async def deliveries_page(
        self, grant: Grant, subscription_id: int, page: PageParams
    ) -> tuple[list[OutboxDelivery], int]:
        """The subscription's deliveries in reach, newest first."""
        statement = (
            _deliveries(grant)
            .where(OutboxDelivery.subscription_id == subscription_id)
            .order_by(OutboxDelivery.created_at.desc(), OutboxDelivery.id)
        )
        return await fetch_page(self.session, statement, page)

    async def delivery(self, grant: Grant, delivery_id: str) -> OutboxDelivery | None:
        statement = _deliveries(grant).where(OutboxDelivery.id == delivery_id).limit(1)
        return (await self.session.scalars(statement)).first()

    async def attempts(self, delivery_id: str) -> list[DeliveryAttempt]:
        """The delivery's attempts, oldest first."""
        statement = select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)
        return list((await self.session.scalars(statement.order_by(DeliveryAttempt.id))).all())

    async def subscription_of(self, delivery: OutboxDelivery) -> WebhookSubscription | None:
        return await self.session.get(WebhookSubscription, delivery.subscription_id)

    async def team_exists(self, team_id: int) -> bool:
        return await self.session.get(Team, team_id) is not None


Webhooks = Annotated[WebhookRepository, Depends(WebhookRepository)]
