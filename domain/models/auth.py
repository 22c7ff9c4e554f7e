"""Users, roles and grants, teams, sessions (refresh tokens), invitations and machine API tokens.

Secrets are never stored: refresh and invitation tokens as SHA-256, API tokens as HMAC-SHA256 with a
server key, passwords as argon2id. Enumerations are short strings guarded by CHECK constraints.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    String,
    Text,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from domain.models.base import Base, IdMixin, TimestampMixin
from domain.rbac import Scope


class UserStatus(enum.StrEnum):
    INVITED = "INVITED"
    ACTIVE = "ACTIVE"
    DISABLED = "DISABLED"


def _in(column: str, values: type[enum.StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("status", UserStatus), name="status"),)

    email: Mapped[str] = mapped_column(String(320), unique=True, nullable=False)
    password_hash: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default=UserStatus.ACTIVE, server_default=UserStatus.ACTIVE
    )
    # The CRM user this account is: SELF scope matches `Fiche.attribution_user_id` against it.
    crm_user_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    roles: Mapped[list[Role]] = relationship(secondary="user_roles", lazy="raise", order_by="Role.key")
    teams: Mapped[list[Team]] = relationship(
        secondary="team_members", back_populates="members", lazy="raise", order_by="Team.name"
    )


class Permission(IdMixin, Base):
    __tablename__ = "permissions"

    key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="", server_default="")


class Role(IdMixin, TimestampMixin, Base):
    __tablename__ = "roles"

    key: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    # Built-in roles (admin, operator, viewer) cannot be deleted and their grants belong to `callaudit seed`.
    built_in: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="false")

    grants: Mapped[list[RolePermission]] = relationship(
        back_populates="role", cascade="all, delete-orphan", passive_deletes=True, lazy="raise"
    )


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("roles.id", ondelete="RESTRICT"), primary_key=True, index=True
    )


class RolePermission(Base):
    """One grant of a role: read / write flags on a permission, with one scope."""

    __tablename__ = "role_permissions"
    __table_args__ = (CheckConstraint(_in("scope", Scope), name="scope"),)

    role_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)
    permission_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("permissions.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    can_read: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="false")
    can_write: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="false")
    scope: Mapped[str] = mapped_column(String(8), nullable=False, default=Scope.SELF, server_default=Scope.SELF)

    role: Mapped[Role] = relationship(back_populates="grants", lazy="raise")
    permission: Mapped[Permission] = relationship(lazy="joined")


class Team(IdMixin, TimestampMixin, Base):
    """A team of users, linked to a CRM group: GROUP scope matches fiches by `crm_group_id`, never by name."""

    __tablename__ = "teams"

    crm_group_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    responsable_1: Mapped[str | None] = mapped_column(String(255))
    responsable_2: Mapped[str | None] = mapped_column(String(255))
    responsable_3: Mapped[str | None] = mapped_column(String(255))

    members: Mapped[list[User]] = relationship(
        secondary="team_members", back_populates="teams", lazy="raise", order_by="User.email"
    )


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class RefreshToken(IdMixin, Base):
    """One refresh token of a login session ("family"). Rotation links each token to its successor;
    presenting a token that was already used or revoked revokes the whole family."""

    __tablename__ = "refresh_tokens"

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    family_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    replaced_by_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("refresh_tokens.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    # Absolute: every token of a family expires when the first one does (no endless sliding session).
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))


class InviteToken(IdMixin, Base):
    """A single-use invitation for an INVITED user to set a first password (7 days)."""

    __tablename__ = "invite_tokens"

    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_by_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ApiToken(IdMixin, Base):
    """A machine token (`ca_pat_...`): acts for its owner with its own grants, never wider than the owner's."""

    __tablename__ = "api_tokens"
    owner_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    # The first characters of the token, shown in lists so a leaked token can be recognised.
    token_prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    grants: Mapped[list[ApiTokenGrant]] = relationship(
        back_populates="token", cascade="all, delete-orphan", passive_deletes=True, lazy="raise"
    )


class ApiTokenGrant(Base):
    """One grant of an API token; unlike role grants, read and write carry their own scope."""

    __tablename__ = "api_token_grants"
    __table_args__ = (
        CheckConstraint(f"read_scope IS NULL OR {_in('read_scope', Scope)}", name="read_scope"),
        CheckConstraint(f"write_scope IS NULL OR {_in('write_scope', Scope)}", name="write_scope"),
    )

    token_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True)
    permission_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("permissions.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    read_scope: Mapped[str | None] = mapped_column(String(8))
    write_scope: Mapped[str | None] = mapped_column(String(8))

    token: Mapped[ApiToken] = relationship(back_populates="grants", lazy="raise")
    permission: Mapped[Permission] = relationship(lazy="joined")
