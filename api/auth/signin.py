"""Signing in with e-mail and password: the one path `/api/auth/login` and the report pages' form share.

Both throttle with the same `LoginLimiter` counters (a lockout from one is a lockout from the other),
check the password the same way and open a login session (a refresh token family) that logout, reuse
detection, a password change or disabling the user end.
"""

from __future__ import annotations

import logging

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.crypto import Passwords
from api.auth.principal import Principal
from api.auth.ratelimit import LoginLimiter
from api.auth.service import IssuedRefresh, authenticate, issue_refresh_token, load_user_principal
from api.errors import NotAuthenticated

log = logging.getLogger("callaudit.auth")

INVALID_LOGIN = "Invalid email or password"


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def user_agent(request: Request) -> str | None:
    return request.headers.get("user-agent")


async def sign_in(
    session: AsyncSession,
    passwords: Passwords,
    limiter: LoginLimiter,
    request: Request,
    *,
    email: str,
    password: str,
    session_ttl_seconds: int,
) -> tuple[Principal, IssuedRefresh]:
    """The ACTIVE user with these credentials and their new login session; `RateLimited` over the
    limits, `NotAuthenticated` (one message whatever the reason) otherwise."""
    address = client_address(request)
    await limiter.check(email, address)
    user_id = await authenticate(session, passwords, email, password)
    principal = await load_user_principal(session, user_id) if user_id is not None else None
    if principal is None or principal.user_id is None:
        await limiter.record_failure(email, address)
        log.info("login failed from %s", address)
        raise NotAuthenticated(INVALID_LOGIN)
    await limiter.reset_account(email, address)
    refresh, _ = await issue_refresh_token(
        session, principal.user_id, ttl_seconds=session_ttl_seconds, ip=address, user_agent=user_agent(request)
    )
    log.info("login succeeded for user %s (session %s)", principal.user_id, refresh.family_id)
    return principal, refresh
