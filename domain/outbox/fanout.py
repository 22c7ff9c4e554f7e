"""From events to deliveries: which subscriptions may see an event, and what each of them receives.

Runs in the worker, on committed events, with the subscribers' grants as they are now (a user who
lost a permission or was disabled stops receiving). Each (event, subscription) pair becomes at most
one delivery (unique constraint), so a fan-out interrupted half-way and run again duplicates nothing.
Payloads carry fiche data only as far as the subscriber's scope reaches (the original's `partialData`
sent every cached fiche of a range to any requester's URL, §13.2 #5).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.models.auth import Permission, Role, RolePermission, Team, User, UserRole, UserStatus
from domain.models.fiches import Fiche
from domain.models.outbox import DeliveryChannel, DeliveryStatus, OutboxDelivery, OutboxEvent, WebhookSubscription
from domain.outbox.catalogue import EVENTS, EventRule
from domain.outbox.queue import new_delivery_id
from domain.rbac import RoleGrant, Scope, merge_role_grants
from domain.scoping import Subject, apply_fiche_scope, load_subject_async

PARTIAL_DATA_LIMIT = 1000


async def read_subject(session: AsyncSession, user_id: int, permission: str) -> Subject | None:
    """The user's read scope on `permission` now; `None` if the user is not ACTIVE or lacks it."""
    user = (await session.execute(select(User.status, User.crm_user_id).where(User.id == user_id))).one_or_none()
    if user is None or user.status != UserStatus.ACTIVE:
        return None
    rows = (
        await session.execute(
            select(RolePermission.can_read, RolePermission.can_write, RolePermission.scope)
            .join(UserRole, UserRole.role_id == RolePermission.role_id)
            .join(Role, Role.id == RolePermission.role_id)
            .join(Permission, Permission.id == RolePermission.permission_id)
            .where(UserRole.user_id == user_id, Permission.key == permission)
        )
    ).all()
    grant = merge_role_grants(RoleGrant(permission, bool(r), bool(w), Scope(s)) for r, w, s in rows).get(permission)
    if grant is None or grant.read_scope is None:
        return None
    return await load_subject_async(session, user_id=user_id, crm_user_id=user.crm_user_id, scope=grant.read_scope)


async def subscriber_subject(
    session: AsyncSession, subscription: WebhookSubscription, permission: str, static_scope: Scope
) -> Subject | None:
    if subscription.team_id is not None:
        group = await session.scalar(select(Team.crm_group_id).where(Team.id == subscription.team_id))
        return Subject(Scope.GROUP, None, frozenset([group] if group else []))
    if subscription.owner_user_id is not None:
        return await read_subject(session, subscription.owner_user_id, permission)
    return Subject(static_scope)  # made by a static machine token: its configured scope


def wants(subscription: WebhookSubscription, event: OutboxEvent) -> bool:
    if subscription.automation_schedule_id is not None:
        return False  # a schedule's webhookUrl receives its run notices only (queued straight to it)
    if subscription.job_id is not None and subscription.job_id != event.job_id:
        return False
    return not subscription.event_types or event.event_type in subscription.event_types


async def may_receive(
    session: AsyncSession, subscription: WebhookSubscription, subject: Subject, event: OutboxEvent, rule: EventRule
) -> bool:
    if rule.about == "fiche":
        statement = apply_fiche_scope(select(Fiche.id).where(Fiche.fiche_id == event.fiche_id), subject)
        return (await session.scalar(statement.limit(1))) is not None
    if subscription.job_id is not None:
        return subscription.job_id == event.job_id
    own_job = subscription.owner_user_id is not None and subscription.owner_user_id == event.actor_user_id
    return own_job or (subscription.team_id is None and subject.scope is Scope.ALL)


async def _partial_data(
    session: AsyncSession, subject: Subject, start: str, end: str
) -> tuple[list[dict[str, Any]], int]:
    visible = apply_fiche_scope(
        select(Fiche).where(Fiche.sales_date.between(dt.date.fromisoformat(start), dt.date.fromisoformat(end))),
        subject,
    )
    total = int(await session.scalar(select(func.count()).select_from(visible.subquery())) or 0)
    rows = (await session.scalars(visible.order_by(Fiche.sales_date, Fiche.fiche_id).limit(PARTIAL_DATA_LIMIT))).all()
    return [
        {
            "ficheId": f.fiche_id,
            "groupe": f.groupe,
            "prospectNom": f.prospect_nom,
            "prospectPrenom": f.prospect_prenom,
            "recordingsCount": f.recordings_count,
            "createdAt": f.created_at.isoformat(),
        }
        for f in rows
    ], total


async def build_body(session: AsyncSession, event: OutboxEvent, rule: EventRule, subject: Subject) -> str:
    """The exact JSON text a subscriber receives (signed and stored as is)."""
    data = dict(event.payload)
    body: dict[str, Any] = {"type": event.event_type, "timestamp": event.created_at.isoformat(), "data": data}
    if event.event_type.startswith("fiches.progressive_fetch.") and event.job_id is not None:
        body |= {"event": rule.short_name, "jobId": event.job_id}
        if "startDate" in data and "endDate" in data:
            data["partialData"], data["currentFichesCount"] = await _partial_data(
                session, subject, str(data["startDate"]), str(data["endDate"])
            )
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"), default=str)


async def dispatch_events(
    session: AsyncSession, *, now: dt.datetime, static_scope: Scope = Scope.ALL, limit: int = 100
) -> int:
    """Turn up to `limit` undispatched events into deliveries, in the caller's transaction."""
    events: Sequence[OutboxEvent] = (
        await session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.dispatched_at.is_(None))
            .order_by(OutboxEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    if not events:
        return 0
    subscriptions = (
        await session.scalars(select(WebhookSubscription).where(WebhookSubscription.enabled.is_(True)))
    ).all()
    subjects: dict[tuple[int, str], Subject | None] = {}
    for event in events:
        rule = EVENTS.get(event.event_type)
        for subscription in subscriptions if rule is not None else []:
            assert rule is not None
            if not wants(subscription, event):
                continue
            key = (subscription.id, rule.permission)
            if key not in subjects:
                subjects[key] = await subscriber_subject(session, subscription, rule.permission, static_scope)
            subject = subjects[key]
            if subject is None or not await may_receive(session, subscription, subject, event, rule):
                continue
            await session.execute(
                insert(OutboxDelivery)
                .values(
                    id=new_delivery_id(),
                    channel=DeliveryChannel.WEBHOOK.value,
                    event_id=event.id,
                    subscription_id=subscription.id,
                    event_type=event.event_type,
                    body=await build_body(session, event, rule, subject),
                    status=DeliveryStatus.PENDING.value,
                    next_attempt_at=now,
                )
                .on_conflict_do_nothing(index_elements=["event_id", "subscription_id"])
            )
        event.dispatched_at = now
    await session.flush()
    return len(events)
