"""Invitation e-mails: queued in the request's transaction, sent by the outbox worker (never inline)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from api.security import Principal
from callaudit.settings import Settings
from resources.mail import queue_mail


def mail_invitation(
    session: AsyncSession, settings: Settings, *, to: str, token: str, expires_at: dt.datetime, inviter: Principal
) -> bool:
    """Queue the invitation mail when e-mail is configured (`SMTP_HOST`); whether it was queued."""
    if not settings.smtp_host or not settings.smtp_sender:
        return False
    local = expires_at.astimezone(ZoneInfo(settings.sales_timezone))
    queue_mail(
        session,
        "invitation",
        to,
        {
            "inviter": inviter.email or "Un administrateur",
            "invite_token": token,
            "expires_at": local.strftime("%d/%m/%Y à %H:%M"),
            "base_url": settings.api_base_url,
        },
    )
    return True
