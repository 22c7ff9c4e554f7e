"""`/api/auth`: login, refresh, logout, invitation acceptance and the caller's identity (reference §4.3).

Responses use the success envelope: `{"success": true, "data": {access_token, token_type, expires_in,
user}}` where the original answered the same object at the top level. The refresh token is set as an
HttpOnly cookie (`Path=/api/auth`) and also accepted in the body as `refresh_token`.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Body, Request, Response

from api.auth.crypto import Keyring
from api.auth.dependencies import CurrentUser, KeyringDep, LoginLimiterDep, PasswordsDep
from api.auth.principal import Principal
from api.auth.schemas import (
    Identity,
    InviteAcceptRequest,
    LoginRequest,
    LogoutResponse,
    MeResponse,
    RefreshRequest,
    TokenResponse,
)
from api.auth.service import (
    IssuedRefresh,
    RefreshRejected,
    accept_invite,
    access_claims,
    issue_refresh_token,
    load_user_principal,
    revoke_family,
    revoke_refresh_token,
    rotate_refresh_token,
    utcnow,
)
from api.auth.signin import client_address, sign_in, user_agent
from api.deps import SessionDep, SettingsDep
from api.errors import NotAuthenticated
from api.schemas import Envelope, ok
from callaudit.settings import Settings

log = logging.getLogger("callaudit.auth")

router = APIRouter(prefix="/auth", tags=["auth"])

COOKIE_PATH = "/api/auth"
INVALID_REFRESH = "Invalid or expired refresh token"


def _set_refresh_cookie(response: Response, settings: Settings, refresh: IssuedRefresh) -> None:
    max_age = max(0, int((refresh.expires_at - utcnow()).total_seconds()))
    response.set_cookie(
        settings.auth_refresh_cookie_name,
        refresh.token,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=settings.cookie_secure or settings.auth_cookie_samesite == "none",
        httponly=True,
        samesite=settings.auth_cookie_samesite,
    )


def _clear_refresh_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        settings.auth_refresh_cookie_name,
        path=COOKIE_PATH,
        secure=settings.cookie_secure or settings.auth_cookie_samesite == "none",
        httponly=True,
        samesite=settings.auth_cookie_samesite,
    )


def _token_response(
    principal: Principal, settings: Settings, keyring: Keyring, response: Response, refresh: IssuedRefresh
) -> Envelope[TokenResponse]:
    assert principal.user_id is not None
    access = keyring.issue_access_token(
        str(principal.user_id), settings.auth_access_ttl_seconds, access_claims(principal, refresh.family_id)
    )
    _set_refresh_cookie(response, settings, refresh)
    response.headers["Cache-Control"] = "no-store"
    return ok(
        TokenResponse(access_token=access, expires_in=settings.auth_access_ttl_seconds, user=Identity.of(principal))
    )


def _presented_refresh_token(request: Request, settings: Settings, body: RefreshRequest | None) -> str | None:
    if body is not None and body.refresh_token:
        return body.refresh_token
    return request.cookies.get(settings.auth_refresh_cookie_name) or None


@router.post(
    "/login",
    response_model=Envelope[TokenResponse],
    summary="Log in with e-mail and password",
    description=(
        "Returns a short-lived access token and sets the refresh token as an HttpOnly cookie. Failed attempts "
        "are limited per account and per address (429 with Retry-After). Unknown, disabled or invited "
        "accounts and wrong passwords all answer the same 401."
    ),
)
async def login(
    *,
    body: LoginRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    keyring: KeyringDep,
    passwords: PasswordsDep,
    limiter: LoginLimiterDep,
) -> Envelope[TokenResponse]:
    principal, refresh = await sign_in(
        session,
        passwords,
        limiter,
        request,
        email=body.email,
        password=body.password,
        session_ttl_seconds=settings.auth_refresh_ttl_seconds,
    )
    return _token_response(principal, settings, keyring, response, refresh)


@router.post(
    "/refresh",
    response_model=Envelope[TokenResponse],
    summary="Rotate the refresh token and get a new access token",
    description=(
        "The refresh token comes from the HttpOnly cookie or the body. Each token works once: the response "
        "sets its successor. The same token presented again within `AUTH_REFRESH_REUSE_GRACE_SECONDS` of its "
        "rotation (two tabs refreshing at once) gets the same successor; presented later, it revokes its whole "
        "session."
    ),
)
async def refresh(
    *,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    keyring: KeyringDep,
    body: Annotated[RefreshRequest | None, Body()] = None,
) -> Envelope[TokenResponse]:
    raw = _presented_refresh_token(request, settings, body)
    if raw is None:
        raise NotAuthenticated("Refresh token required")
    try:
        user_id, successor = await rotate_refresh_token(
            session,
            raw,
            ttl_seconds=settings.auth_refresh_ttl_seconds,
            ip=client_address(request),
            user_agent=user_agent(request),
            successor_key=keyring.current_key,
            grace_seconds=settings.auth_refresh_reuse_grace_seconds,
        )
    except RefreshRejected as exc:
        log.info("refresh rejected (%s)", exc.reason)
        raise NotAuthenticated(INVALID_REFRESH) from None
    principal = await load_user_principal(session, user_id)
    if principal is None:
        await revoke_family(session, successor.family_id)
        await session.commit()
        log.info("refresh refused: user %s is not active", user_id)
        raise NotAuthenticated(INVALID_REFRESH)
    return _token_response(principal, settings, keyring, response, successor)


@router.post(
    "/logout",
    response_model=Envelope[LogoutResponse],
    summary="End the session of the refresh token and clear the cookie",
    description="Idempotent: unknown or missing tokens also answer `logged_out: true`.",
)
async def logout(
    *,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    body: Annotated[RefreshRequest | None, Body()] = None,
) -> Envelope[LogoutResponse]:
    raw = _presented_refresh_token(request, settings, body)
    if raw is not None:
        await revoke_refresh_token(session, raw)
    _clear_refresh_cookie(response, settings)
    return ok(LogoutResponse())


@router.post(
    "/invite/accept",
    response_model=Envelope[TokenResponse],
    summary="Set the first password of an invited user and log in",
    description="The invitation is single-use and expires after 7 days.",
)
async def invite_accept(
    *,
    body: InviteAcceptRequest,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    keyring: KeyringDep,
    passwords: PasswordsDep,
) -> Envelope[TokenResponse]:
    user_id = await accept_invite(session, passwords, body.invite_token, body.password)
    principal = await load_user_principal(session, user_id) if user_id is not None else None
    if principal is None or principal.user_id is None:
        log.info("invitation refused")
        raise NotAuthenticated("Invalid or expired invitation")
    refresh, _ = await issue_refresh_token(
        session,
        principal.user_id,
        ttl_seconds=settings.auth_refresh_ttl_seconds,
        ip=client_address(request),
        user_agent=user_agent(request),
    )
    log.info("invitation accepted by user %s", principal.user_id)
    return _token_response(principal, settings, keyring, response, refresh)


@router.get(
    "/me",
    response_model=Envelope[MeResponse],
    summary="The caller's identity, roles, teams and effective grants (as the database holds them now)",
)
async def me(principal: CurrentUser) -> Envelope[MeResponse]:
    """Who the caller is (a user session; API tokens get 403): profile, roles, teams and the effective grant per
    permission with its SELF / GROUP / ALL scope, as the database holds them now (a change applies
    on the next request, decision 123)."""
    return ok(MeResponse(user=Identity.of(principal)))
