"""A schedule's `webhookUrl` as a signing subscription of its own (reference §9.9; §9.12 #9 fixed).

Setting the URL (checked against the SSRF rules by the caller) makes a `WebhookSubscription` tied to
the schedule, with a secret generated then and shown once; changing it moves that subscription,
clearing it removes it. A run's end notice is one delivery to it, queued in the transaction that
concludes the run, then signed (Standard Webhooks and the original's `X-Webhook-*` headers), sent
through the SSRF-guarded client (the address is checked again at connect time), retried and logged
by the outbox worker like every webhook.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.models.automation import AutomationSchedule
from domain.models.outbox import WebhookSubscription
from domain.outbox.secrets_box import SecretBox
from domain.outbox.signing import generate_secret

#: The events a schedule's webhook receives (the notice sent depends on the run's outcome).
NOTICE_EVENTS = ("automation.run.completed", "automation.run.failed")


def schedule_subscription(session: Session, schedule_id: int) -> WebhookSubscription | None:
    return session.scalar(select(WebhookSubscription).where(WebhookSubscription.automation_schedule_id == schedule_id))


def set_schedule_webhook(
    session: Session, schedule: AutomationSchedule, url: str | None, *, box: SecretBox | None, user_id: int | None
) -> str | None:
    """Make the schedule's subscription follow `url`; the secret when a subscription was created (show it once)."""
    existing = schedule_subscription(session, schedule.id)
    if url is None:
        if existing is not None:
            session.delete(existing)
        return None
    if existing is not None:
        if existing.url != url:  # a new receiver starts with a clean record
            existing.url, existing.failure_streak = url, 0
            existing.enabled, existing.disabled_reason, existing.disabled_at = True, None, None
        return None
    if box is None:
        raise ValueError("webhook secrets are not configured")
    secret = generate_secret()
    session.add(
        WebhookSubscription(
            owner_user_id=user_id,
            automation_schedule_id=schedule.id,
            url=url,
            description=f"Automation schedule {schedule.id}: run notices",
            event_types=list(NOTICE_EVENTS),
            secret_encrypted=box.seal(secret),
            created_by_id=user_id,
        )
    )
    return secret
