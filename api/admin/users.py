"""`/api/admin/users`: accounts, their status, password and roles, and invitations.

Invitations: `POST /users` without a password creates an INVITED user and returns a single-use
invitation token (7 days) once; `POST /users/{id}/invite` issues a fresh one (earlier ones stop
working). The user redeems it at `POST /api/auth/invite/accept`.

Disabling a user or setting their password ends all their sessions; access tokens and API tokens stop
working on the next request because every request re-reads the user's status.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from api.admin.common import CONFLICT_RESPONSES, flush_or_409, like_pattern, roles_by_key
from api.admin.invitations import mail_invitation
from api.admin.repository import RoleRepository, Roles, UserRepository, Users
from api.admin.schemas import InviteOut, UserCreate, UserCreated, UserOut, UserPatch
from api.auth.dependencies import PasswordsDep
from api.auth.service import create_invite, revoke_user_sessions
from api.deps import SessionDep, SettingsDep
from api.errors import BadRequest, Conflict, NotFound
from api.schemas import Envelope, Page, PageParams, ok, page_params
from api.security import EntityId, Grant, Str255, require_all
from domain.models.auth import User, UserStatus
from domain.rbac import DEFAULT_ROLE

log = logging.getLogger("callaudit.admin")

router = APIRouter(prefix="/users", tags=["admin: users"], responses=CONFLICT_RESPONSES)

ReadUsers = Annotated[Grant, Depends(require_all("admin.users", "read"))]
WriteUsers = Annotated[Grant, Depends(require_all("admin.users", "write"))]

INVITE_TTL_SECONDS = 7 * 86_400


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        status=UserStatus(user.status),
        crm_user_id=user.crm_user_id,
        roles=[r.key for r in user.roles],
        teams=[t.name for t in user.teams],
        last_login_at=user.last_login_at,
        created_at=user.created_at,
        updated_at=user.updated_at,
    )


async def get_user(users: UserRepository, user_id: int) -> User:
    user = await users.get(user_id)
    if user is None:
        raise NotFound("User not found")
    return user


async def set_roles(users: UserRepository, roles: RoleRepository, user_id: int, role_keys: Sequence[str]) -> None:
    """Replace the user's roles; an unknown key is a 400 naming it."""
    await users.replace_roles(user_id, await roles_by_key(roles, role_keys))


@router.get("", response_model=Page[UserOut], summary="List users")
async def list_users(
    _: ReadUsers,
    users_repo: Users,
    page: Annotated[PageParams, Depends(page_params)],
    status: Annotated[UserStatus | None, Query(description="Only users with this status")] = None,
    q: Annotated[Str255 | None, Query(description="Part of the e-mail address")] = None,
) -> Page[UserOut]:
    """Users with their roles and teams, filtered and paginated (`page` starts at 1). Needs `admin.users` read."""
    users, total = await users_repo.page(page, status=status, email_like=like_pattern(q.lower()) if q else None)
    return page.paginate([user_out(u) for u in users], total)


@router.get("/{user_id:id}", response_model=Envelope[UserOut], summary="One user")
async def read_user(user_id: EntityId, _: ReadUsers, users_repo: Users) -> Envelope[UserOut]:
    """One user with roles, teams and CRM link; 404 when it does not exist."""
    return ok(user_out(await get_user(users_repo, user_id)))


@router.post(
    "",
    response_model=Envelope[UserCreated],
    status_code=201,
    summary="Create a user (ACTIVE with a password, else INVITED with an invitation)",
)
async def create_user(  # noqa: PLR0917 - FastAPI dependencies
    body: UserCreate,
    grant: WriteUsers,
    session: SessionDep,
    users_repo: Users,
    roles_repo: Roles,
    passwords: PasswordsDep,
    settings: SettingsDep,
) -> Envelope[UserCreated]:
    """With a password the user is ACTIVE at once; without, INVITED with a one-time invitation token returned here
    only. 409 when the e-mail or the CRM user is taken."""
    if await users_repo.email_taken(body.email):
        raise Conflict("A user with this e-mail already exists", field="email")
    if body.crm_user_id is not None and await users_repo.crm_user_taken(body.crm_user_id):
        raise Conflict("This CRM user is already linked to another user", field="crm_user_id")
    roles = await roles_by_key(roles_repo, body.role_keys if body.role_keys is not None else [DEFAULT_ROLE])
    user = User(
        email=body.email,
        crm_user_id=body.crm_user_id,
        status=UserStatus.ACTIVE if body.password else UserStatus.INVITED,
        password_hash=await passwords.hash(body.password) if body.password else None,
    )
    session.add(user)
    await flush_or_409(session, "A user with this e-mail or CRM user already exists")
    await users_repo.replace_roles(user.id, roles)
    invite_token, invite_expires = None, None
    if body.password is None:
        invite_token, invite_expires = await create_invite(
            session, user.id, created_by_id=grant.principal.user_id, ttl_seconds=INVITE_TTL_SECONDS
        )
        mail_invitation(
            session, settings, to=user.email, token=invite_token, expires_at=invite_expires, inviter=grant.principal
        )
    log.info("user %s created by %s", user.id, grant.principal.describe())
    return ok(
        UserCreated(
            user=user_out(await get_user(users_repo, user.id)),
            invite_token=invite_token,
            invite_expires_at=invite_expires,
        )
    )


@router.patch(
    "/{user_id:id}",
    response_model=Envelope[UserOut],
    summary="Change a user's status, password, roles (replaced) or CRM link",
    description="Administrators cannot change their own status or roles (409), so they cannot lock themselves out.",
)
async def patch_user(  # noqa: PLR0917 - FastAPI path, body and dependencies
    user_id: EntityId,
    body: UserPatch,
    grant: WriteUsers,
    session: SessionDep,
    users_repo: Users,
    roles_repo: Roles,
    passwords: PasswordsDep,
) -> Envelope[UserOut]:
    user = await get_user(users_repo, user_id)
    is_self = grant.principal.user_id == user.id
    if is_self and (body.role_keys is not None or (body.status is not None and body.status != user.status)):
        raise Conflict("You cannot change your own status or roles")
    end_sessions = False
    if body.status is not None and body.status != user.status:
        user.status = body.status
        end_sessions = body.status != UserStatus.ACTIVE
    if body.password is not None:
        if is_self:
            check = await passwords.verify(user.password_hash, body.current_password or "")
            if not check.ok:
                raise BadRequest("The current password is required and must be correct", field="current_password")
        user.password_hash = await passwords.hash(body.password)
        end_sessions = True
    if "crm_user_id" in body.model_fields_set and body.crm_user_id != user.crm_user_id:
        if body.crm_user_id is not None and await users_repo.crm_user_taken(body.crm_user_id, other_than=user.id):
            raise Conflict("This CRM user is already linked to another user", field="crm_user_id")
        user.crm_user_id = body.crm_user_id
    await flush_or_409(session, "This CRM user is already linked to another user")
    if body.role_keys is not None:
        await set_roles(users_repo, roles_repo, user.id, body.role_keys)
    if end_sessions:
        await revoke_user_sessions(session, user.id)
    log.info("user %s updated by %s", user.id, grant.principal.describe())
    return ok(user_out(await get_user(users_repo, user.id)))


@router.post(
    "/{user_id:id}/invite",
    response_model=Envelope[InviteOut],
    status_code=201,
    summary="Issue a new invitation for an INVITED user (earlier invitations stop working)",
)
async def invite_user(
    user_id: EntityId, grant: WriteUsers, session: SessionDep, users_repo: Users, settings: SettingsDep
) -> Envelope[InviteOut]:
    """A fresh one-time invitation token for an INVITED user, returned here only; earlier invitations stop working.
    409 for users who are not INVITED."""
    user = await get_user(users_repo, user_id)
    if user.status != UserStatus.INVITED:
        raise Conflict("Only INVITED users can be invited")
    token, expires_at = await create_invite(
        session, user.id, created_by_id=grant.principal.user_id, ttl_seconds=INVITE_TTL_SECONDS
    )
    mail_invitation(session, settings, to=user.email, token=token, expires_at=expires_at, inviter=grant.principal)
    log.info("invitation issued for user %s by %s", user.id, grant.principal.describe())
    return ok(InviteOut(invite_token=token, expires_at=expires_at))
