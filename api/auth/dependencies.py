"""Authentication dependencies: resolve the caller once per request, then check grants per route.

Credentials, in order:

1. ``X-API-Key: <token>`` -- an API token (``ca_pat_...``) or a legacy static ``API_AUTH_TOKEN(S)``;
2. ``Authorization: Bearer <value>`` -- an API token / static token as above, else an access JWT.

A presented but invalid credential is a 401 (never silently anonymous). The principal (status, roles,
grants, teams) is read from the database, or from what this process remembers of it until the
database notifies a change (`api.auth.principal_cache`): a change applies on the next request.

Routes declare what they need with :class:`require`::

    @router.get("/things/{id}")
    async def get_thing(grant: Annotated[Grant, Depends(require("fiches", "read"))], ...): ...

which answers 401 to anonymous callers and 403 to principals without the grant, and hands the route
the effective `Grant` (scope + principal) for SQL scoping. Out-of-scope entities are then 404.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import Depends
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.crypto import (
    ACCESS_TOKEN_TYPE,
    API_TOKEN_PREFIX,
    InvalidAccessToken,
    Keyring,
    Passwords,
    keyring_for,
    passwords_for,
)
from api.auth.principal import Grant, Principal
from api.auth.principal_cache import PrincipalCache
from api.auth.ratelimit import LoginLimiter
from api.auth.service import (
    load_api_token_principal,
    load_session_principal,
    static_token_principal,
    utcnow,
)
from api.deps import RedisDep, SessionDep, SettingsDep, StateDep
from api.errors import Forbidden, NotAuthenticated
from domain.rbac import PERMISSIONS, Action, Scope, action_for_suffix

log = logging.getLogger("callaudit.auth")

bearer_scheme = HTTPBearer(
    auto_error=False, scheme_name="bearer", description="Access token (JWT) from /api/auth/login, or an API token"
)
api_key_scheme = APIKeyHeader(
    name="X-API-Key", auto_error=False, scheme_name="apiKey", description="API token (`ca_pat_...`)"
)


# `async def`: not run in a worker thread (`api.deps`).
async def get_keyring(settings: SettingsDep) -> Keyring:
    return keyring_for(settings)


async def get_passwords(settings: SettingsDep) -> Passwords:
    return passwords_for(settings)


async def get_login_limiter(redis: RedisDep, settings: SettingsDep) -> LoginLimiter:
    return LoginLimiter(redis, settings)


KeyringDep = Annotated[Keyring, Depends(get_keyring)]
PasswordsDep = Annotated[Passwords, Depends(get_passwords)]
LoginLimiterDep = Annotated[LoginLimiter, Depends(get_login_limiter)]

INVALID_CREDENTIALS = "Invalid or expired credentials"


async def _machine_principal(token: str, session: SessionDep, settings: SettingsDep, keyring: Keyring) -> Principal:
    if token.startswith(API_TOKEN_PREFIX):
        principal = await load_api_token_principal(session, keyring, token)
    else:
        principal = static_token_principal(token, settings.static_api_tokens, Scope(settings.api_auth_token_scope))
    if principal is None:
        log.info("rejected an API token")
        raise NotAuthenticated(INVALID_CREDENTIALS)
    return principal


async def get_optional_principal(  # noqa: PLR0917 - FastAPI dependencies
    session: SessionDep,
    state: StateDep,
    settings: SettingsDep,
    keyring: KeyringDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
) -> Principal | None:
    """The caller, or `None` when no credential was presented; 401 when one was presented but is invalid."""
    if api_key:
        return await _machine_principal(api_key, session, settings, keyring)
    if bearer is None or not bearer.credentials:
        return None
    token = bearer.credentials
    if token.startswith(API_TOKEN_PREFIX):
        return await _machine_principal(token, session, settings, keyring)
    if settings.static_api_tokens:
        static = static_token_principal(token, settings.static_api_tokens, Scope(settings.api_auth_token_scope))
        if static is not None:
            return static
    principal, _ = await user_session_principal(session, keyring, token, principals=state.principals)
    return principal


async def user_session_principal(
    session: AsyncSession,
    keyring: Keyring,
    token: str,
    *,
    typ: str = ACCESS_TOKEN_TYPE,
    principals: PrincipalCache | None = None,
) -> tuple[Principal, str]:
    """The user of a signed token of type `typ` (an access token, or the report pages' cookie) and its
    login session id; 401 when the token is invalid, its session ended or its user may not sign in.
    `principals` remembers the answer until the database changes (`api.auth.principal_cache`)."""
    try:
        claims = keyring.verify_access_token(token, typ=typ)
        user_id = int(claims["sub"])
        session_id = claims.get("sid")
        if not 0 < user_id < 2**63:
            raise ValueError("subject out of range")
        if not isinstance(session_id, str) or len(session_id) > 36:
            raise ValueError("no session id")
    except (InvalidAccessToken, ValueError) as exc:
        log.info("rejected a token of type %s (%s)", typ, exc)
        raise NotAuthenticated(INVALID_CREDENTIALS) from None
    now = utcnow()
    remembered = principals.get(user_id, session_id, now) if principals is not None else None
    if remembered is not None:
        return remembered, session_id
    read_at = principals.generation if principals is not None else 0
    ends, principal = await load_session_principal(session, user_id, session_id)
    if ends is None:
        log.info("rejected a token of type %s of an ended session of user %s", typ, user_id)
        raise NotAuthenticated(INVALID_CREDENTIALS)
    if principal is None:
        log.info("rejected a token of type %s of inactive or deleted user %s", typ, user_id)
        raise NotAuthenticated(INVALID_CREDENTIALS)
    if principals is not None:
        principals.put(user_id, session_id, principal, ends, read_at=read_at, now=now)
    return principal, session_id


OptionalPrincipal = Annotated[Principal | None, Depends(get_optional_principal)]


async def get_principal(principal: OptionalPrincipal) -> Principal:
    if principal is None:
        raise NotAuthenticated()
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def get_user_principal(principal: CurrentPrincipal) -> Principal:
    """Endpoints about a person (e.g. `/me`): machine tokens are authenticated but not allowed."""
    if not principal.is_user:
        raise Forbidden("This endpoint requires a user session")
    return principal


CurrentUser = Annotated[Principal, Depends(get_user_principal)]


class require:
    """Dependency factory: the caller needs `action` on permission `key` (at least `min_scope`).

    `action` is `read`/`write` or any guard suffix of the reference (`run`, `rerun`, `use`, `auth`, ...).
    The instance is kept on the route, so tests and docs can list every route's permission.
    """

    def __init__(self, key: str, action: Action | str = Action.READ, *, min_scope: Scope | None = None) -> None:
        if key not in PERMISSIONS:
            raise ValueError(f"unknown permission {key!r}")
        self.key = key
        self.suffix = str(action)
        self.action = action if isinstance(action, Action) else action_for_suffix(action)
        self.min_scope = min_scope

    @property
    def guard(self) -> str:
        return f"{self.key}.{self.suffix}"

    def __repr__(self) -> str:
        return f"require({self.guard!r})"

    async def __call__(self, principal: OptionalPrincipal) -> Grant:
        return self.authorize(principal)

    def authorize(self, principal: Principal | None) -> Grant:
        if principal is None:
            raise NotAuthenticated()
        grant = principal.grant(self.key, self.action)
        if grant is None or (self.min_scope is not None and grant.scope < self.min_scope):
            log.info("denied %s to %s", self.guard, principal.describe())
            raise Forbidden(f"Missing permission {self.guard}")
        return grant


def require_all(key: str, action: Action | str) -> require:
    """For unscoped families (administration): the grant must reach ALL data."""
    return require(key, action, min_scope=Scope.ALL)
