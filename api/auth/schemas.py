"""Request and response bodies of `/api/auth` (shapes of reference §4.3, inside the success envelope)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from api.auth.principal import Principal
from api.security import Email, IdStr, Password
from domain.rbac import Scope

OpaqueToken = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=r"^[\x21-\x7e]+$")]


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Email
    password: Password


class RefreshRequest(BaseModel):
    """The refresh token, when it is not sent as the HttpOnly cookie."""

    model_config = ConfigDict(extra="forbid")

    refresh_token: OpaqueToken | None = None


class InviteAcceptRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    invite_token: Annotated[str, StringConstraints(min_length=20, max_length=500, pattern=r"^[\x21-\x7e]+$")]
    password: Password


class PermissionGrantOut(BaseModel):
    """An effective grant: read / write flags and the widest scope of each across the caller's roles."""

    key: str
    read: bool
    write: bool
    read_scope: Scope | None
    write_scope: Scope | None


class TeamRefOut(BaseModel):
    id: IdStr
    name: str
    crm_group_id: str | None


class Identity(BaseModel):
    id: IdStr
    email: str
    crm_user_id: str | None
    groupes: list[str] = Field(description="Names of the caller's teams (display only; scoping uses CRM group ids)")
    teams: list[TeamRefOut]
    roles: list[str]
    permissions: list[PermissionGrantOut]

    @classmethod
    def of(cls, principal: Principal) -> Identity:
        assert principal.user_id is not None
        assert principal.email is not None
        return cls(
            id=principal.user_id,
            email=principal.email,
            crm_user_id=principal.crm_user_id,
            groupes=principal.team_names,
            teams=[TeamRefOut(id=t.id, name=t.name, crm_group_id=t.crm_group_id) for t in principal.teams],
            roles=list(principal.roles),
            permissions=[
                PermissionGrantOut(
                    key=g.key, read=g.read, write=g.write, read_scope=g.read_scope, write_scope=g.write_scope
                )
                for g in sorted(principal.grants.values(), key=lambda g: g.key)
            ],
        )


class TokenResponse(BaseModel):
    """Login / refresh / invitation acceptance. The refresh token travels only in the HttpOnly cookie."""

    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105
    expires_in: int = Field(description="Access token lifetime in seconds")
    user: Identity


class MeResponse(BaseModel):
    user: Identity


class LogoutResponse(BaseModel):
    logged_out: bool = True
