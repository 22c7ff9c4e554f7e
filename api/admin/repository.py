"""The SQL of the administration: teams and their members, users and their roles, roles and their
grants, the permission catalogue, API tokens.

The routers (`api/admin/*.py`) keep HTTP (guards, bodies, status codes, errors); what they read and
write goes through these repositories on the request's session (each also a FastAPI dependency).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated

from fastapi import Depends
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from api.deps import SessionDep
from api.schemas import PageParams
from api.security import fetch_page, fetch_rows_page
from domain.models.auth import (
    ApiToken,
    ApiTokenGrant,
    Permission,
    Role,
    RolePermission,
    Team,
    TeamMember,
    User,
    UserRole,
    UserStatus,
)
from domain.rbac import Scope


class TeamRepository:
    """Also a FastAPI dependency: `Depends(TeamRepository)` gets the request's session."""

    def __init__(self, session: SessionDep) -> None:
        self.session: AsyncSession = session

    async def page(self, page: PageParams) -> tuple[list[Team], int]:
        return await fetch_page(self.session, select(Team).order_by(Team.name, Team.id), page)

    async def get(self, team_id: int) -> Team | None:
        """The team as stored now (not a stale copy from earlier in the session)."""
        statement = select(Team).where(Team.id == team_id).execution_options(populate_existing=True)
        return (await self.session.scalars(statement)).first()

    async def by_crm_group(self, crm_group_id: str) -> Team | None:
        return (await self.session.scalars(select(Team).where(Team.crm_group_id == crm_group_id))).first()

    async def crm_group_taken(self, crm_group_id: str, *, other_than: int) -> bool:
        statement = select(Team.id).where(Team.crm_group_id == crm_group_id, Team.id != other_than)
        return await self.session.scalar(statement) is not None

    async def linked_crm_groups(self) -> dict[str, int]:
        """CRM group id -> the id of the team linked to it."""
        rows = await self.session.execute(select(Team.crm_group_id, Team.id).where(Team.crm_group_id.is_not(None)))
        return {group_id: team_id for group_id, team_id in rows.all() if group_id is not None}

    async def upsert_crm_group(self, crm_group_id: str, values: Mapping[str, str | None]) -> int:
        """The id of the team linked to the CRM group, created or updated with `values`."""
        statement = (
            insert(Team)
            .values(crm_group_id=crm_group_id, **values)
            .on_conflict_do_update(index_elements=[Team.crm_group_id], set_={**values, "updated_at": func.now()})
            .returning(Team.id)
        )
        return (await self.session.execute(statement)).scalar_one()

    async def member_counts(self, team_ids: Sequence[int]) -> dict[int, int]:
        statement = select(TeamMember.team_id, func.count()).where(TeamMember.team_id.in_(team_ids))
        rows = await self.session.execute(statement.group_by(TeamMember.team_id))
        counts: dict[int, int] = dict(rows.all())
        return counts

    async def members(self, team_ids: Sequence[int]) -> list[tuple[int, User]]:
        """(team id, user) of every member of the teams, by e-mail."""
        statement = (
            select(TeamMember.team_id, User)
            .join(User, User.id == TeamMember.user_id)
            .where(TeamMember.team_id.in_(team_ids))
            .order_by(User.email)
        )
        return [(team_id, user) for team_id, user in (await self.session.execute(statement)).all()]

    async def has_members(self, team_id: int) -> bool:
        return bool(await self.session.scalar(select(func.count()).where(TeamMember.team_id == team_id)))

    async def add_member(self, team_id: int, user_id: int) -> bool:
        """Whether the user was added (False when already a member)."""
        inserted = await self.session.scalar(
            insert(TeamMember)
            .values(team_id=team_id, user_id=user_id)
            .on_conflict_do_nothing()
            .returning(TeamMember.user_id)
        )
        return inserted is not None

    async def remove_member(self, team_id: int, user_id: int) -> None:
        await self.session.execute(
            delete(TeamMember).where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)
        )


class UserRepository:
    """Also a FastAPI dependency: `Depends(UserRepository)` gets the request's session."""

    def __init__(self, session: SessionDep) -> None:
        self.session: AsyncSession = session

    async def exists(self, user_id: int) -> bool:
        return await self.session.scalar(select(User.id).where(User.id == user_id)) is not None

    async def by_crm_user(self, crm_user_id: str) -> User | None:
        return (await self.session.scalars(select(User).where(User.crm_user_id == crm_user_id))).first()

    async def by_email(self, email: str) -> User | None:
        """Case-insensitive, as e-mails are compared everywhere."""
        return (await self.session.scalars(select(User).where(func.lower(User.email) == email.lower()))).first()

    async def linked_to_crm(self, crm_user_ids: Sequence[str], emails: Sequence[str]) -> list[User]:
        """Users linked to one of the CRM users, or whose e-mail is one of `emails` (lower-cased)."""
        statement = select(User).where(or_(User.crm_user_id.in_(crm_user_ids), func.lower(User.email).in_(emails)))
        return list((await self.session.scalars(statement)).all())

    async def ids_of_crm_users(self, crm_user_ids: Sequence[str]) -> list[int]:
        return list((await self.session.scalars(select(User.id).where(User.crm_user_id.in_(crm_user_ids)))).all())

    async def page(
        self, page: PageParams, *, status: UserStatus | None, email_like: str | None
    ) -> tuple[list[User], int]:
        """Users with their roles and teams, by id; `email_like` a LIKE pattern escaped with a backslash."""
        statement = select(User).options(selectinload(User.roles), selectinload(User.teams)).order_by(User.id)
        if status is not None:
            statement = statement.where(User.status == status)
        if email_like is not None:
            statement = statement.where(User.email.ilike(email_like, escape="\\"))
        return await fetch_page(self.session, statement, page)

    async def get(self, user_id: int) -> User | None:
        """The user as stored now, with roles and teams loaded."""
        statement = (
            select(User)
            .where(User.id == user_id)
            .options(selectinload(User.roles), selectinload(User.teams))
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(statement)).first()

    async def email_taken(self, email: str) -> bool:
        return await self.session.scalar(select(User.id).where(User.email == email)) is not None

    async def crm_user_taken(self, crm_user_id: str, *, other_than: int | None = None) -> bool:
        statement = select(User.id).where(User.crm_user_id == crm_user_id)
        if other_than is not None:
            statement = statement.where(User.id != other_than)
        return await self.session.scalar(statement) is not None

    async def replace_roles(self, user_id: int, roles: Iterable[Role]) -> None:
        await self.session.execute(delete(UserRole).where(UserRole.user_id == user_id))
        self.session.add_all(UserRole(user_id=user_id, role_id=r.id) for r in roles)
        await self.session.flush()


class RoleRepository:
    """Also a FastAPI dependency: `Depends(RoleRepository)` gets the request's session."""

    def __init__(self, session: SessionDep) -> None:
        self.session: AsyncSession = session

    async def page(self, page: PageParams) -> tuple[list[Role], int]:
        return await fetch_page(self.session, select(Role).options(selectinload(Role.grants)).order_by(Role.id), page)

    async def get(self, role_id: int) -> Role | None:
        """The role as stored now, with its grants loaded."""
        statement = (
            select(Role)
            .where(Role.id == role_id)
            .options(selectinload(Role.grants))
            .execution_options(populate_existing=True)
        )
        return (await self.session.scalars(statement)).first()

    async def by_keys(self, keys: Sequence[str]) -> dict[str, Role]:
        return {r.key: r for r in (await self.session.scalars(select(Role).where(Role.key.in_(keys)))).all()}

    async def key_taken(self, key: str) -> bool:
        return await self.session.scalar(select(Role.id).where(Role.key == key)) is not None

    async def user_counts(self, role_ids: Sequence[int]) -> dict[int, int]:
        statement = select(UserRole.role_id, func.count()).where(UserRole.role_id.in_(role_ids))
        counts: dict[int, int] = dict((await self.session.execute(statement.group_by(UserRole.role_id))).all())
        return counts

    async def replace_grants(self, role_id: int, grants: Iterable[RolePermission]) -> None:
        await self.session.execute(delete(RolePermission).where(RolePermission.role_id == role_id))
        self.session.add_all(grants)
        await self.session.flush()


class PermissionRepository:
    """Also a FastAPI dependency: `Depends(PermissionRepository)` gets the request's session."""

    def __init__(self, session: SessionDep) -> None:
        self.session: AsyncSession = session

    async def catalogue(self) -> list[Permission]:
        return list((await self.session.scalars(select(Permission).order_by(Permission.key))).all())

    async def by_keys(self, keys: Sequence[str]) -> dict[str, Permission]:
        statement = select(Permission).where(Permission.key.in_(keys))
        return {p.key: p for p in (await self.session.scalars(statement)).all()}


class ApiTokenRepository:
    """Also a FastAPI dependency: `Depends(ApiTokenRepository)` gets the request's session."""

    def __init__(self, session: SessionDep) -> None:
        self.session: AsyncSession = session

    async def page(self, page: PageParams, *, owner_id: int | None) -> tuple[list[tuple[ApiToken, str]], int]:
        """(token, its owner's e-mail), by id."""
        statement = select(ApiToken, User.email).join(User, User.id == ApiToken.owner_id).order_by(ApiToken.id)
        if owner_id is not None:
            statement = statement.where(ApiToken.owner_id == owner_id)
        rows, total = await fetch_rows_page(self.session, statement, page)
        return [(token, email) for token, email in rows], total

    async def get(self, token_id: int) -> tuple[ApiToken, str] | None:
        """(token as stored now, its owner's e-mail)."""
        statement = (
            select(ApiToken, User.email)
            .join(User, User.id == ApiToken.owner_id)
            .where(ApiToken.id == token_id)
            .execution_options(populate_existing=True)
        )
        row = (await self.session.execute(statement)).one_or_none()
        return None if row is None else (row[0], row[1])

    async def add(self, token: ApiToken, grants: Mapping[int, tuple[Scope | None, Scope | None]]) -> None:
        """The token and its grants: permission id -> (read scope, write scope)."""
        self.session.add(token)
        await self.session.flush()
        self.session.add_all(
            ApiTokenGrant(token_id=token.id, permission_id=permission_id, read_scope=read, write_scope=write)
            for permission_id, (read, write) in grants.items()
        )
        await self.session.flush()

    async def revoke(self, token_id: int, at: dt.datetime) -> None:
        await self.session.execute(update(ApiToken).where(ApiToken.id == token_id).values(revoked_at=at))


Teams = Annotated[TeamRepository, Depends(TeamRepository)]
Users = Annotated[UserRepository, Depends(UserRepository)]
Roles = Annotated[RoleRepository, Depends(RoleRepository)]
Permissions = Annotated[PermissionRepository, Depends(PermissionRepository)]
ApiTokens = Annotated[ApiTokenRepository, Depends(ApiTokenRepository)]
