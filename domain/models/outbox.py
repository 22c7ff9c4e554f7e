"""The outbox: events written in the transaction of the change they announce, and their deliveries.

* `OutboxEvent`: one row per announced change (`audit.completed`, ...), inserted by `domain.outbox.enqueue`
  in the caller's transaction, so an event exists exactly when its change was committed.
* `WebhookSubscription`: a receiver URL of a user (or of a team, of one progressive fetch job, or of
  one automation schedule), its event filter and its signing secret (encrypted at rest).
* `OutboxDelivery`: one message to one receiver (a webhook subscription, or an e-mail), with its
  retry state; its id is the Standard Webhooks `webhook-id`, stable across retries and redeliveries.
* `DeliveryAttempt`: the delivery log, one row per attempt.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from domain.models.base import Base, IdMixin, TimestampMixin


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # attempts exhausted, refused for good, or the receiver was removed


class DeliveryChannel(enum.StrEnum):
    WEBHOOK = "webhook"
    MAIL = "mail"


class OutboxEvent(IdMixin, Base):
    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_undispatched", "id", postgresql_where=text("dispatched_at IS NULL")),)

    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    fiche_id: Mapped[str | None] = mapped_column(String(64))  # scope of fiche events
    job_id: Mapped[str | None] = mapped_column(String(64))  # progressive fetch / batch id
    actor_user_id: Mapped[int | None] = mapped_column(BigInteger)  # who started the job (job events)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookSubscription(IdMixin, TimestampMixin, Base):
    __tablename__ = "webhook_subscriptions"

    owner_user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    team_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("fiche_fetch_jobs.id", ondelete="CASCADE"), index=True
    )
    #: The automation schedule whose `webhookUrl` this is: it receives that schedule's run notices only.
    automation_schedule_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("automation_schedules.id", ondelete="CASCADE"), unique=True
    )
    url: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str | None] = mapped_column(String(255))
    #: Event types delivered; empty = every type of the catalogue.
    event_types: Mapped[list[str]] = mapped_column(JSONB, nullable=False, default=list, server_default="[]")
    secret_encrypted: Mapped[str] = mapped_column(Text, nullable=False)
    #: After a rotation, the secret replaced: deliveries are signed with it too until it expires.
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    enabled: Mapped[bool] = mapped_column(nullable=False, default=True, server_default="true")
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    #: Consecutive deliveries that failed for good; reset by any success.
    failure_streak: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    created_by_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="SET NULL"))


class OutboxDelivery(TimestampMixin, Base):
    __tablename__ = "outbox_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "subscription_id"),
        Index("ix_outbox_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # `msg_...`: the webhook-id
    channel: Mapped[str] = mapped_column(String(8), nullable=False)
    event_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("outbox_events.id", ondelete="CASCADE"))
    subscription_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"), index=True
    )
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    #: Webhooks: the exact JSON text sent (signed as is). Mail: the message as JSON (to, subject, bodies).
    body: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    #: `attempts` when the current round started (a redelivery starts a new round of the schedule).
    round_start: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    next_attempt_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    claim_token: Mapped[str | None] = mapped_column(String(36))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class DeliveryAttempt(IdMixin, Base):
    __tablename__ = "delivery_attempts"

    delivery_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("outbox_deliveries.id", ondelete="CASCADE"), nullable=False, index=True
    )
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    attempted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    success: Mapped[bool] = mapped_column(nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
