"""Claim, send, record: at-least-once delivery that survives a killed worker.

* **Claim** (short transaction): due pending deliveries, `FOR UPDATE SKIP LOCKED`, so workers never
  take the same row; each claimed row gets a fresh `claim_token`, one more attempt, and
  `next_attempt_at = now + lease`. Nothing is held while sending.
* **Send** outside any transaction: webhooks through the SSRF-guarded `EgressClient`, mail over SMTP.
* **Record** (short transaction): only if the row still carries our claim token (a worker that took
  longer than its lease lost the row to another one, whose result counts): the attempt is logged, the
  delivery is done, rescheduled on the retry schedule (with jitter, `Retry-After` honoured) or failed.

A worker killed between claim and record leaves the row pending; once its lease expires another worker
sends it again with the same `webhook-id`, which receivers use to drop the duplicate (Standard Webhooks).
A subscription whose deliveries keep failing for good is disabled; a 410 Gone disables it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.models.outbox import (
    DeliveryAttempt,
    DeliveryChannel,
    DeliveryStatus,
    OutboxDelivery,
    OutboxEvent,
    WebhookSubscription,
)
from domain.outbox import EVENTS, MailMessage
from domain.outbox.fanout import dispatch_events
from domain.outbox.schedule import DEFAULT_SCHEDULE, next_attempt, parse_retry_after
from domain.outbox.secrets_box import SecretBox, SecretsUnavailable
from domain.outbox.signing import webhook_headers
from domain.rbac import Scope
from resources.egress import EgressClient
from resources.mail.sender import MailPermanentError, MailTemporaryError, SmtpSender

log = logging.getLogger(__name__)

EXCERPT_CHARS = 2000


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class OutboxConfig:
    schedule: Sequence[int] = DEFAULT_SCHEDULE
    disable_after: int = 3  # deliveries failed for good in a row before a subscription is disabled
    lease_seconds: float = 60.0  # > the HTTP / SMTP timeout: a live worker always records before it ends
    static_scope: Scope = Scope.ALL
    batch: int = 20
    retention_days: int = 30  # finished deliveries (and their log) and fanned-out events kept this long


def overlapping_secret(subscription: WebhookSubscription | None, now: dt.datetime) -> str | None:
    """The sealed secret a rotation replaced, while its overlap lasts."""
    if subscription is None or subscription.previous_secret_expires_at is None:
        return None
    return subscription.previous_secret_encrypted if subscription.previous_secret_expires_at > now else None


@dataclass(frozen=True)
class Claimed:
    id: str
    token: str
    channel: str
    event_type: str
    body: str
    attempt: int
    round_attempt: int
    subscription_id: int | None
    url: str | None
    secret_encrypted: str | None
    previous_secret_encrypted: str | None  # still in its rotation overlap: signs too
    job_id: str | None


@dataclass(frozen=True)
class Outcome:
    success: bool
    duration_ms: int
    status_code: int | None = None
    excerpt: str | None = None
    error: str | None = None
    permanent: bool = False  # no retry
    gone: bool = False  # the receiver asked to be removed (410): disable the subscription
    retry_after: float | None = None


class OutboxWorker:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        egress: EgressClient,
        *,
        box: SecretBox | None,
        mailer: SmtpSender | None,
        config: OutboxConfig | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.sessions = sessions
        self.egress = egress
        self.box = box
        self.mailer = mailer
        self.config = config or OutboxConfig()
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret

    # --- one pass -------------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Fan out new events, then send what is due; the number of deliveries attempted."""
        async with self.sessions.begin() as session:
            await dispatch_events(session, now=self.clock(), static_scope=self.config.static_scope)
        claimed = await self.claim()
        await asyncio.gather(*(self.deliver(c) for c in claimed))
        return len(claimed)

    async def purge(self) -> int:
        """Forget finished deliveries older than the retention, and events none of whose deliveries is left."""
        cutoff = self.clock() - dt.timedelta(days=self.config.retention_days)
        async with self.sessions.begin() as session:
            deliveries = await session.execute(
                delete(OutboxDelivery).where(
                    OutboxDelivery.status != DeliveryStatus.PENDING, OutboxDelivery.created_at < cutoff
                )
            )
            left = select(OutboxDelivery.id).where(OutboxDelivery.event_id == OutboxEvent.id)
            await session.execute(delete(OutboxEvent).where(OutboxEvent.dispatched_at < cutoff, ~exists(left)))
            return int(deliveries.rowcount or 0)  # type: ignore[attr-defined]

    async def run_forever(self, stop: asyncio.Event, idle_seconds: float = 1.0, heartbeat: Path | None = None) -> None:
        """Passes until `stop`; `heartbeat` (a file) is touched after each pass that reached the database.
        Old finished deliveries are purged at start and then hourly."""
        next_purge = self.clock()
        while not stop.is_set():
            try:
                if self.clock() >= next_purge:
                    await self.purge()
                    next_purge = self.clock() + dt.timedelta(hours=1)
                busy = await self.run_once()
                if heartbeat is not None:
                    await asyncio.to_thread(heartbeat.touch)
            except Exception:
                log.exception("outbox pass failed; retrying")
                busy = 0
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), idle_seconds)

    # --- claim ----------------------------------------------------------------------------------

    async def claim(self) -> list[Claimed]:
        now = self.clock()
        async with self.sessions.begin() as session:
            rows = (
                await session.execute(
                    select(OutboxDelivery, WebhookSubscription)
                    .outerjoin(WebhookSubscription, WebhookSubscription.id == OutboxDelivery.subscription_id)
                    .where(
                        OutboxDelivery.status == DeliveryStatus.PENDING,
                        OutboxDelivery.next_attempt_at <= now,
                        or_(
                            OutboxDelivery.channel == DeliveryChannel.MAIL,
                            WebhookSubscription.enabled.is_(True),
                        ),
                    )
                    .order_by(OutboxDelivery.next_attempt_at)
                    .limit(self.config.batch)
                    .with_for_update(of=OutboxDelivery, skip_locked=True)
                )
            ).all()
            claimed = []
            for delivery, subscription in rows:
                delivery.attempts += 1
                delivery.claim_token = str(uuid.uuid4())
                delivery.next_attempt_at = now + dt.timedelta(seconds=self.config.lease_seconds)
                claimed.append(
                    Claimed(
                        id=delivery.id,
                        token=delivery.claim_token,
                        channel=delivery.channel,
                        event_type=delivery.event_type,
                        body=delivery.body,
                        attempt=delivery.attempts,
                        round_attempt=delivery.attempts - delivery.round_start,
                        subscription_id=delivery.subscription_id,
                        url=subscription.url if subscription else None,
                        secret_encrypted=subscription.secret_encrypted if subscription else None,
                        previous_secret_encrypted=overlapping_secret(subscription, now),
                        job_id=subscription.job_id if subscription else None,
                    )
                )
            return claimed

    # --- send -----------------------------------------------------------------------------------

    async def deliver(self, claimed: Claimed) -> None:
        try:
            if claimed.channel == DeliveryChannel.MAIL:
                outcome = await self._send_mail(claimed)
            else:
                outcome = await self._send_webhook(claimed)
        except Exception as exc:  # a bug must not lose the row: it is retried on the schedule
            log.exception("delivery %s failed unexpectedly", claimed.id)
            outcome = Outcome(False, 0, error=f"{type(exc).__name__}")
        await self.record(claimed, outcome)

    async def _send_webhook(self, claimed: Claimed) -> Outcome:
        if self.box is None or claimed.url is None or claimed.secret_encrypted is None:
            return Outcome(False, 0, error="webhook secrets are not configured (WEBHOOK_SECRETS_KEY)")
        try:
            secret = self.box.open(claimed.secret_encrypted)
            previous = self.box.open(claimed.previous_secret_encrypted) if claimed.previous_secret_encrypted else None
        except SecretsUnavailable as exc:
            return Outcome(False, 0, error=str(exc))
        rule = EVENTS.get(claimed.event_type)
        headers = webhook_headers(
            secret=secret,
            msg_id=claimed.id,
            body=claimed.body,
            now=self.clock(),
            event=rule.short_name if rule else claimed.event_type,
            attempt=claimed.attempt,
            job_id=claimed.job_id,
            previous_secret=previous,
        )
        response = await self.egress.post(claimed.url, claimed.body.encode(), headers)
        excerpt = response.body[:EXCERPT_CHARS].decode("utf-8", "replace") if response.body else None
        retry_after = None
        if response.status_code in {429, 502, 503, 504} and response.headers:
            retry_after = parse_retry_after(response.headers.get("retry-after"), self.clock())
        return Outcome(
            success=response.ok,
            duration_ms=response.duration_ms,
            status_code=response.status_code,
            excerpt=excerpt,
            error=response.error or (None if response.ok else f"HTTP {response.status_code}"),
            gone=response.status_code == 410,
            permanent=response.status_code == 410,
            retry_after=retry_after,
        )

    async def _send_mail(self, claimed: Claimed) -> Outcome:
        if self.mailer is None:
            return Outcome(False, 0, error="e-mail is not configured (SMTP_HOST)")
        message = MailMessage(**json.loads(claimed.body))
        started = asyncio.get_running_loop().time()
        try:
            reply = await self.mailer.send(message)
        except MailPermanentError as exc:
            return Outcome(False, _ms(started), error=str(exc), permanent=True)
        except MailTemporaryError as exc:
            return Outcome(False, _ms(started), error=str(exc))
        return Outcome(True, _ms(started), excerpt=reply[:EXCERPT_CHARS])

    # --- record ---------------------------------------------------------------------------------

    async def record(self, claimed: Claimed, outcome: Outcome) -> None:
        now = self.clock()
        async with self.sessions.begin() as session:
            delivery = (
                await session.scalars(
                    select(OutboxDelivery)
                    .where(OutboxDelivery.id == claimed.id, OutboxDelivery.claim_token == claimed.token)
                    .with_for_update()
                )
            ).first()
            if delivery is None:
                log.info("delivery %s was taken over by another worker; its result counts", claimed.id)
                return
            retry_at = None
            if not outcome.success and not outcome.permanent:
                retry_at = next_attempt(
                    now, claimed.round_attempt, self.config.schedule, retry_after=outcome.retry_after, rng=self.rng
                )
            session.add(
                DeliveryAttempt(
                    delivery_id=delivery.id,
                    attempt=claimed.attempt,
                    attempted_at=now,
                    duration_ms=outcome.duration_ms,
                    success=outcome.success,
                    status_code=outcome.status_code,
                    response_excerpt=outcome.excerpt,
                    error=outcome.error,
                    next_attempt_at=retry_at,
                )
            )
            delivery.claim_token = None
            delivery.last_status_code = outcome.status_code
            delivery.last_error = outcome.error
            if outcome.success:
                delivery.status = DeliveryStatus.DELIVERED
                delivery.delivered_at = now
            elif retry_at is not None:
                delivery.next_attempt_at = retry_at
            else:
                delivery.status = DeliveryStatus.FAILED
            if not outcome.success:
                log.warning(
                    "%s delivery %s (%s), attempt %d failed: %s; %s",
                    delivery.channel,
                    delivery.id,
                    delivery.event_type,
                    claimed.attempt,
                    outcome.error,
                    f"next attempt at {retry_at.isoformat()}" if retry_at else "no retry left",
                )
            if delivery.channel == DeliveryChannel.MAIL and delivery.status != DeliveryStatus.PENDING:
                delivery.body = _without_bodies(delivery.body)  # invitation codes do not stay in the table
            if delivery.subscription_id is not None and delivery.status != DeliveryStatus.PENDING:
                await self._update_subscription(session, delivery.subscription_id, outcome, now)

    async def _update_subscription(
        self, session: AsyncSession, subscription_id: int, outcome: Outcome, now: dt.datetime
    ) -> None:
        subscription = await session.get(WebhookSubscription, subscription_id, with_for_update=True)
        if subscription is None:
            return
        if outcome.success:
            subscription.failure_streak = 0
            return
        subscription.failure_streak += 1
        reason = None
        if outcome.gone:
            reason = "the receiver answered 410 Gone"
        elif subscription.failure_streak >= self.config.disable_after:
            reason = f"{subscription.failure_streak} deliveries in a row failed after every retry"
        if reason and subscription.enabled:
            subscription.enabled = False
            subscription.disabled_reason = reason
            subscription.disabled_at = now
            log.warning("webhook subscription %s disabled: %s", subscription.id, reason)


def _without_bodies(body: str) -> str:
    message = json.loads(body)
    return json.dumps({"to": message.get("to"), "subject": message.get("subject"), "text": "", "html": ""})


def _ms(started: float) -> int:
    return int((asyncio.get_running_loop().time() - started) * 1000)
