"""Authentication and session logic over the database: principals, logins, refresh rotation, invitations.

Functions take the request's `AsyncSession` and never commit, except where a security decision
must survive the error response that follows it (refresh-token reuse revokes the family, then 401).
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, Select, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.crypto import (
    API_TOKEN_PREFIX,
    INVITE_TOKEN_PREFIX,
    REFRESH_TOKEN_PREFIX,
    Keyring,
    Passwords,
    derive_token,
    generate_token,
    is_well_formed,
    sha256_hex,
)
from api.auth.principal import Principal, PrincipalKind, TeamRef
from domain.models.auth import (
    ApiToken,
    ApiTokenGrant,
    InviteToken,
    Permission,
    RefreshToken,
    Role,
    RolePermission,
    Team,
    TeamMember,
    User,
    UserRole,
    UserStatus,
)
from domain.rbac import EffectiveGrant, RoleGrant, Scope, all_grants, intersect_grants, merge_role_grants

log = logging.getLogger("callaudit.auth")

#: `last_used_at` of an API token is written at most this often.
LAST_USED_RESOLUTION = dt.timedelta(seconds=60)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- principals -----------------------------------------------------------------------------------


@functools.cache
def _principal_statement() -> Select[Any]:
    """The user's identity, its roles' grants and its teams in one row (one round trip, not three):
    the grants and the teams as JSON arrays, the teams in the order they are listed.

    Built once, the user a `user_id` parameter: every authenticated request runs it, and building it
    (three selects, two aggregates) cost more Python than executing it (decision 110)."""
    grants = (
        select(
            func.json_agg(
                func.json_build_array(
                    Role.key, Permission.key, RolePermission.can_read, RolePermission.can_write, RolePermission.scope
                )
            )
        )
        .select_from(UserRole)
        .join(Role, Role.id == UserRole.role_id)
        .outerjoin(RolePermission, RolePermission.role_id == Role.id)
        .outerjoin(Permission, Permission.id == RolePermission.permission_id)
        .where(UserRole.user_id == User.id)
        .scalar_subquery()
    )
    teams = (
        select(
            func.json_agg(
                aggregate_order_by(func.json_build_array(Team.id, Team.name, Team.crm_group_id), Team.name, Team.id)
            )
        )
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.user_id == User.id)
        .scalar_subquery()
    )
    return select(User.id, User.email, User.status, User.crm_user_id, grants, teams).where(
        User.id == bindparam("user_id")
    )


def _principal_of(row: Sequence[Any] | None) -> Principal | None:
    if row is None:
        return None
    user_id, email, status, crm_user_id, grant_rows, team_rows, *_ = row
    if status != UserStatus.ACTIVE:
        return None
    roles = sorted({role for role, *_ in grant_rows or ()})
    grants = merge_role_grants(
        RoleGrant(key, bool(can_read), bool(can_write), Scope(scope))
        for _, key, can_read, can_write, scope in grant_rows or ()
        if key is not None
    )
    return Principal(
        kind=PrincipalKind.USER,
        grants=grants,
        user_id=user_id,
        email=email,
        crm_user_id=crm_user_id,
        roles=tuple(roles),
        teams=tuple(TeamRef(*team) for team in team_rows or ()),
    )


async def load_user_principal(session: AsyncSession, user_id: int) -> Principal | None:
    """The user's current identity, roles, merged grants and teams; `None` unless the user is ACTIVE."""
    return _principal_of((await session.execute(_principal_statement(), {"user_id": user_id})).one_or_none())


@functools.cache
def _session_principal_statement() -> Select[Any]:
    """`_principal_statement` and when the login session ends if it stands (`_alive`), built once."""
    return _principal_statement().add_columns(
        _alive().with_only_columns(func.max(RefreshToken.expires_at)).scalar_subquery()
    )


async def load_session_principal(
    session: AsyncSession, user_id: int, session_id: str
) -> tuple[dt.datetime | None, Principal | None]:
    """When the login session ends (`None`: it has ended, `_alive`), and the user as
    `load_user_principal` reads it, in the same statement: every request signed by an access token
    asks both."""
    parameters = {"user_id": user_id, "session_id": session_id, "now": utcnow()}
    connection = await session.connection()  # Core rows: the ORM's result machinery adds nothing to columns
    row = (await connection.execute(_session_principal_statement(), parameters)).one_or_none()
    return (None if row is None else row[-1]), _principal_of(row)


async def load_api_token_principal(session: AsyncSession, keyring: Keyring, token: str) -> Principal | None:
    """An active `ca_pat_` token: its grants intersected with its owner's *current* grants."""
    if not is_well_formed(token, API_TOKEN_PREFIX):
        return None
    candidates = keyring.api_token_hash_candidates(token)
    now = utcnow()
    row = (
        await session.execute(
            select(ApiToken.id, ApiToken.owner_id, ApiToken.token_hash, ApiToken.last_used_at).where(
                ApiToken.token_hash.in_(candidates),
                ApiToken.revoked_at.is_(None),
                or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now),
            )
        )
    ).one_or_none()
    if row is None:
        return None
    owner = await load_user_principal(session, row.owner_id)
    if owner is None:
        return None
    token_grants = await load_api_token_grants(session, row.id)
    values: dict[str, object] = {}
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
        values["last_used_at"] = now
    if row.token_hash != candidates[0]:
        values["token_hash"] = candidates[0]  # verified under a previous key: move it to the current one
    if values:
        await session.execute(update(ApiToken).where(ApiToken.id == row.id).values(**values))
    return Principal(
        kind=PrincipalKind.API_TOKEN,
        grants=intersect_grants(token_grants, owner.grants),
        user_id=owner.user_id,
        email=owner.email,
        crm_user_id=owner.crm_user_id,
        roles=owner.roles,
        teams=owner.teams,
        token_id=row.id,
    )


async def load_api_token_grants(session: AsyncSession, token_id: int) -> dict[str, EffectiveGrant]:
    rows = (
        await session.execute(
            select(Permission.key, ApiTokenGrant.read_scope, ApiTokenGrant.write_scope)
            .join(Permission, Permission.id == ApiTokenGrant.permission_id)
            .where(ApiTokenGrant.token_id == token_id)
        )
    ).all()
    return {
        key: EffectiveGrant(key, Scope(read) if read else None, Scope(write) if write else None)
        for key, read, write in rows
    }


def static_token_principal(token: str, configured: Sequence[str], scope: Scope) -> Principal | None:
    """Legacy `API_AUTH_TOKEN(S)`: every permission at `API_AUTH_TOKEN_SCOPE`; constant-time comparison."""
    presented = token.encode("utf-8", "surrogatepass")
    matched = False
    for candidate in configured:
        matched |= hmac.compare_digest(presented, candidate.encode())
    if not matched:
        return None
    return Principal(kind=PrincipalKind.STATIC_TOKEN, grants=all_grants(scope))


def access_claims(principal: Principal, session_id: str) -> dict[str, object]:
    """`sid`, the login session checked on every request, and informational copies for clients (the
    server never authorizes from them: it re-reads the database)."""
    return {
        "sid": session_id,
        "email": principal.email,
        "roles": list(principal.roles),
        "crm_user_id": principal.crm_user_id,
        "groupes": principal.team_names,
        "permission_grants": [
            {
                "key": g.key,
                "read": g.read,
                "write": g.write,
                "read_scope": g.read_scope,
                "write_scope": g.write_scope,
            }
            for g in sorted(principal.grants.values(), key=lambda g: g.key)
        ],
    }


# --- passwords and login --------------------------------------------------------------------------


async def authenticate(session: AsyncSession, passwords: Passwords, email: str, password: str) -> int | None:
    """The id of the ACTIVE user with these credentials, else `None` (same work either way)."""
    user = (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()
    usable = user is not None and user.status == UserStatus.ACTIVE and user.password_hash is not None
    check = await passwords.verify(user.password_hash if usable and user is not None else None, password)
    if not check.ok or user is None:
        return None
    values: dict[str, object] = {"last_login_at": utcnow()}
    if check.new_hash is not None:
        values["password_hash"] = check.new_hash
        log.info("password hash of user %s upgraded to the current parameters", user.id)
    await session.execute(update(User).where(User.id == user.id).values(**values))
    return user.id


# --- refresh tokens -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedRefresh:
    token: str
    expires_at: dt.datetime
    family_id: str


async def issue_refresh_token(
    session: AsyncSession,
    user_id: int,
    *,
    ttl_seconds: int,
    ip: str | None,
    user_agent: str | None,
    family_id: str | None = None,
    expires_at: dt.datetime | None = None,
    raw: str | None = None,
) -> tuple[IssuedRefresh, int]:
    raw = raw or generate_token(REFRESH_TOKEN_PREFIX)
    family = family_id or str(uuid.uuid4())
    expiry = expires_at or utcnow() + dt.timedelta(seconds=ttl_seconds)
    row = RefreshToken(
        user_id=user_id,
        family_id=family,
        token_hash=sha256_hex(raw),
        expires_at=expiry,
        created_by_ip=(ip or None) and ip[:64],
        user_agent=(user_agent or None) and user_agent[:512],
    )
    session.add(row)
    await session.flush()
    return IssuedRefresh(raw, expiry, family), row.id


class RefreshRejected(Exception):
    """The refresh token cannot be used; `reason` is for logs only."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def revoke_family(session: AsyncSession, family_id: str) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def revoke_user_sessions(session: AsyncSession, user_id: int) -> None:
    """End every login session of a user (disable, password change)."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def _successor_in_grace(
    session: AsyncSession,
    known: Row[int, str, dt.datetime | None, dt.datetime | None, int | None],
    successor_raw: str,
    now: dt.datetime,
    grace_seconds: int,
) -> IssuedRefresh | None:
    """The successor a concurrent refresh of the same token got, while it is fresh and unused."""
    if known.revoked_at is not None or known.replaced_by_id is None or known.used_at is None:
        return None
    if now - known.used_at > dt.timedelta(seconds=grace_seconds):
        return None
    expires_at = (
        await session.execute(
            select(RefreshToken.expires_at).where(
                RefreshToken.id == known.replaced_by_id,
                RefreshToken.token_hash == sha256_hex(successor_raw),
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > now,
            )
        )
    ).scalar_one_or_none()
    return None if expires_at is None else IssuedRefresh(successor_raw, expires_at, known.family_id)


async def rotate_refresh_token(
    session: AsyncSession,
    raw: str,
    *,
    ttl_seconds: int,
    ip: str | None,
    user_agent: str | None,
    successor_key: bytes,
    grace_seconds: int,
) -> tuple[int, IssuedRefresh]:
    """Consume `raw` and issue its successor in the same family (same absolute expiry).

    The successor is derived from `raw` under `successor_key`, so a second refresh with the same token
    within `grace_seconds` (two tabs refreshing at once) gets the same successor instead of tripping the
    reuse detection, as long as that successor is unused. Any other presentation of a token that was
    already rotated or revoked is treated as theft (RFC 9700 §4.14.2): the whole family is revoked and
    *committed* before the caller answers 401.
    """
    if not is_well_formed(raw, REFRESH_TOKEN_PREFIX):
        raise RefreshRejected("malformed")
    token_hash = sha256_hex(raw)
    successor_raw = derive_token(REFRESH_TOKEN_PREFIX, successor_key, raw)
    now = utcnow()
    consumed = (
        await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == token_hash,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > now,
            )
            .values(used_at=now)
            .returning(RefreshToken.id, RefreshToken.user_id, RefreshToken.family_id, RefreshToken.expires_at)
        )
    ).one_or_none()
    if consumed is None:
        known = (
            await session.execute(
                select(
                    RefreshToken.user_id,
                    RefreshToken.family_id,
                    RefreshToken.used_at,
                    RefreshToken.revoked_at,
                    RefreshToken.replaced_by_id,
                ).where(RefreshToken.token_hash == token_hash)
            )
        ).one_or_none()
        if known is None:
            raise RefreshRejected("unknown")
        shared = await _successor_in_grace(session, known, successor_raw, now, grace_seconds)
        if shared is not None:
            return known.user_id, shared
        if known.used_at is not None or known.revoked_at is not None:
            await revoke_family(session, known.family_id)
            await session.commit()
            log.warning(
                "refresh token reuse detected: session family %s of user %s revoked", known.family_id, known.user_id
            )
            raise RefreshRejected("reused")
        raise RefreshRejected("expired")
    successor, successor_id = await issue_refresh_token(
        session,
        consumed.user_id,
        ttl_seconds=ttl_seconds,
        ip=ip,
        user_agent=user_agent,
        family_id=consumed.family_id,
        expires_at=consumed.expires_at,
        raw=successor_raw,
    )
    await session.execute(
        update(RefreshToken).where(RefreshToken.id == consumed.id).values(replaced_by_id=successor_id)
    )
    return consumed.user_id, successor


def _alive() -> Select[Any]:
    """The login session (refresh token family) `session_id` of user `user_id`, while it still stands
    at `now` (parameters).

    Logout, reuse detection, disabling a user and a password change revoke the family; checking it on
    every request makes them end the access tokens already issued too, not only future refreshes."""
    return select(RefreshToken.id).where(
        RefreshToken.family_id == bindparam("session_id"),
        RefreshToken.user_id == bindparam("user_id"),
        RefreshToken.revoked_at.is_(None),
        RefreshToken.expires_at > bindparam("now"),
    )


async def revoke_refresh_token(session: AsyncSession, raw: str) -> None:
    """Logout: end the session family the token belongs to (idempotent, unknown tokens ignored)."""
    if not is_well_formed(raw, REFRESH_TOKEN_PREFIX):
        return
    family = (
        await session.execute(select(RefreshToken.family_id).where(RefreshToken.token_hash == sha256_hex(raw)))
    ).scalar_one_or_none()
    if family is not None:
        await revoke_family(session, family)


# --- invitations ----------------------------------------------------------------------------------


async def create_invite(
    session: AsyncSession, user_id: int, *, created_by_id: int | None, ttl_seconds: int
) -> tuple[str, dt.datetime]:
    """A new single-use invitation; earlier unused invitations of the user stop working."""
    await session.execute(delete(InviteToken).where(InviteToken.user_id == user_id, InviteToken.used_at.is_(None)))
    raw = generate_token(INVITE_TOKEN_PREFIX)
    expires_at = utcnow() + dt.timedelta(seconds=ttl_seconds)
    session.add(
        InviteToken(user_id=user_id, token_hash=sha256_hex(raw), created_by_id=created_by_id, expires_at=expires_at)
    )
    await session.flush()
    return raw, expires_at


async def accept_invite(session: AsyncSession, passwords: Passwords, raw: str, password: str) -> int | None:
    """Consume the invitation atomically, set the first password and activate; `None` if unusable."""
    if not is_well_formed(raw, INVITE_TOKEN_PREFIX):
        return None
    now = utcnow()
    user_id = (
        await session.execute(
            update(InviteToken)
            .where(
                InviteToken.token_hash == sha256_hex(raw),
                InviteToken.used_at.is_(None),
                InviteToken.expires_at > now,
            )
            .values(used_at=now)
            .returning(InviteToken.user_id)
        )
    ).scalar_one_or_none()
    if user_id is None:
        return None
    password_hash = await passwords.hash(password)
    return (
        await session.execute(
            update(User)
            .where(User.id == user_id, User.status == UserStatus.INVITED)
            .values(password_hash=password_hash, status=UserStatus.ACTIVE, last_login_at=now)
            .returning(User.id)
        )
    ).scalar_one_or_none()
