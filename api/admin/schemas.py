"""Bodies of `/api/admin` (reference §4.4 shapes; ids are strings, dates ISO 8601)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.security import Email, IdIn, IdStr, Password, Str64, Str128, Str255, Str2000
from domain.models.auth import UserStatus
from domain.rbac import Scope

RoleKey = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
PermissionKey = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9._-]+$")]
LegacyGuard = Annotated[str, StringConstraints(min_length=3, max_length=80, pattern=r"^[a-z0-9._-]+$")]
NonEmpty = Field(min_length=1)


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- permissions ------------------------------------------------------------------------------------


class PermissionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: IdStr
    key: str
    description: str


# --- grants -----------------------------------------------------------------------------------------


class GrantIn(Input):
    """Read / write on one permission, with one scope (reference §10.6)."""

    key: PermissionKey
    read: bool = False
    write: bool = False
    scope: Scope = Scope.SELF


class GrantOut(BaseModel):
    key: str
    read: bool
    write: bool
    scope: Scope


class TokenGrantOut(BaseModel):
    key: str
    read: bool
    write: bool
    read_scope: Scope | None
    write_scope: Scope | None


# --- roles ------------------------------------------------------------------------------------------


class RoleCreate(Input):
    key: RoleKey
    name: Annotated[Str128, NonEmpty]
    description: Str2000 | None = None
    permission_grants: Annotated[list[GrantIn], Field(max_length=100)] | None = None
    permission_keys: Annotated[list[LegacyGuard], Field(max_length=200)] | None = Field(
        None, description="Legacy form, e.g. `audits.read`: each becomes a GROUP-scoped grant"
    )


class RolePatch(Input):
    name: Annotated[Str128, NonEmpty] | None = None
    description: Str2000 | None = None
    permission_grants: Annotated[list[GrantIn], Field(max_length=100)] | None = None
    permission_keys: Annotated[list[LegacyGuard], Field(max_length=200)] | None = None


class RoleOut(BaseModel):
    id: IdStr
    key: str
    name: str
    description: str | None
    built_in: bool
    permissions: list[str] = Field(description="Keys the role grants anything on")
    permission_grants: list[GrantOut]
    user_count: int
    created_at: dt.datetime
    updated_at: dt.datetime


# --- teams ------------------------------------------------------------------------------------------


class TeamMemberOut(BaseModel):
    id: IdStr
    email: str
    status: UserStatus
    crm_user_id: str | None


class TeamOut(BaseModel):
    id: IdStr
    crm_group_id: str | None = Field(description="The CRM group this team is; GROUP scope matches fiches by it")
    name: str
    responsable_1: str | None
    responsable_2: str | None
    responsable_3: str | None
    member_count: int
    members: list[TeamMemberOut] | None = Field(None, description="With `include_users=true`")
    created_at: dt.datetime
    updated_at: dt.datetime


class TeamCreate(Input):
    crm_group_id: Annotated[Str64, NonEmpty] | None = Field(
        None, description="When a team with this CRM group id exists it is updated (200) instead of created (201)"
    )
    name: Annotated[Str255, NonEmpty]
    responsable_1: Str255 | None = None
    responsable_2: Str255 | None = None
    responsable_3: Str255 | None = None


class TeamPatch(Input):
    crm_group_id: Annotated[Str64, NonEmpty] | None = Field(None, description="`null` unlinks the team")
    name: Annotated[Str255, NonEmpty] | None = None
    responsable_1: Str255 | None = None
    responsable_2: Str255 | None = None
    responsable_3: Str255 | None = None


class TeamMemberAdd(Input):
    user_id: IdIn


# --- users ------------------------------------------------------------------------------------------


class UserOut(BaseModel):
    id: IdStr
    email: str
    status: UserStatus
    crm_user_id: str | None
    roles: list[str]
    teams: list[str] = Field(description="Team names")
    last_login_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class UserCreate(Input):
    email: Email
    password: Password | None = Field(
        None, description="Without a password the user is INVITED and an invitation token is returned (once)"
    )
    role_keys: Annotated[list[RoleKey], Field(max_length=20)] | None = Field(None, description="Default: viewer")
    crm_user_id: Annotated[Str64, NonEmpty] | None = None


class UserPatch(Input):
    status: UserStatus | None = None
    password: Password | None = None
    current_password: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        None, description="Required to change one's own password (a stolen session must not take the account over)"
    )
    role_keys: Annotated[list[RoleKey], Field(max_length=20)] | None = None
    crm_user_id: Annotated[Str64, NonEmpty] | None = Field(None, description="`null` unlinks the CRM user")


class InviteOut(BaseModel):
    invite_token: str = Field(description="Shown once; forward it to the user out of band")
    expires_at: dt.datetime


class UserCreated(BaseModel):
    user: UserOut
    invite_token: str | None
    invite_expires_at: dt.datetime | None


# --- API tokens -------------------------------------------------------------------------------------


class ApiTokenCreate(Input):
    name: Annotated[Str128, NonEmpty]
    owner_user_id: IdIn | None = Field(None, description="The user the token acts for (default: the caller)")
    expires_at: dt.datetime | None = None
    permission_grants: Annotated[list[GrantIn], Field(min_length=1, max_length=100)]


class ApiTokenOut(BaseModel):
    id: IdStr
    name: str
    token_prefix: str = Field(description="First characters of the token, to recognise it")
    owner_user_id: IdStr
    owner_email: str
    created_by_id: IdStr | None
    created_at: dt.datetime
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    active: bool
    permission_grants: list[TokenGrantOut]


class ApiTokenCreated(ApiTokenOut):
    token: str = Field(description="The secret, shown only in this response")


class Deleted(BaseModel):
    deleted: bool = True


class Revoked(BaseModel):
    revoked: bool = True


class MembershipChanged(BaseModel):
    team_id: IdStr
    user_id: IdStr
    member: bool
