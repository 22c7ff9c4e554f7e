"""Webhook subscriptions and their delivery log on the wire."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from api.security import IdIn, IdStr, Str255

EventType = Literal[
    "audit.completed",
    "audit.failed",
    "transcription.completed",
    "transcription.failed",
    "batch.completed",
    "fiches.progressive_fetch.complete",
    "fiches.progressive_fetch.failed",
]

URL_HELP = "http(s) URL of the receiver, checked against SSRF rules"


class SubscriptionIn(BaseModel):
    url: str = Field(min_length=8, max_length=2000, description=URL_HELP)
    event_types: list[EventType] = Field(
        default_factory=list, max_length=20, description="Events to receive; empty: every event"
    )
    description: Str255 | None = None
    team_id: IdIn | None = Field(None, description="A team subscription (needs `webhooks.write` with ALL scope)")


class SubscriptionPatch(BaseModel):
    url: str | None = Field(None, min_length=8, max_length=2000, description=URL_HELP)
    event_types: list[EventType] | None = Field(None, max_length=20)
    description: Str255 | None = None
    enabled: bool | None = Field(None, description="Re-enabling clears the failure streak and sends what waited")


class SubscriptionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read from the row itself

    id: IdStr
    url: str
    event_types: list[str]
    description: str | None
    owner_user_id: IdStr | None
    team_id: IdStr | None
    job_id: str | None
    enabled: bool
    disabled_reason: str | None
    disabled_at: dt.datetime | None
    failure_streak: int
    previous_secret_expires_at: dt.datetime | None = Field(
        description="After a secret rotation: until when the replaced secret still signs (null: it no longer does)"
    )
    created_at: dt.datetime


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="The signing secret (`whsec_...`): shown this once, never again")


MAX_OVERLAP_SECONDS = 7 * 24 * 3600


class SecretRotationIn(BaseModel):
    overlap_seconds: int = Field(
        86400,
        ge=0,
        le=MAX_OVERLAP_SECONDS,
        description="How long the replaced secret keeps signing beside the new one (0: it stops at once)",
    )


class AttemptOut(BaseModel):
    attempt: int
    attempted_at: dt.datetime
    success: bool
    status_code: int | None
    duration_ms: int
    response_excerpt: str | None
    error: str | None
    next_attempt_at: dt.datetime | None


class DeliveryOut(BaseModel):
    id: str = Field(description="The `webhook-id` header: stable across retries and redeliveries")
    subscription_id: IdStr | None
    event_type: str
    status: str = Field(description="pending | delivered | failed")
    attempts: int
    next_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: dt.datetime | None
    created_at: dt.datetime


class DeliveryDetail(DeliveryOut):
    payload: str = Field(description="The exact JSON text sent (and signed)")
    attempt_log: list[AttemptOut]
