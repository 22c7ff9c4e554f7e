"""The SQL of the teams and CRM administration: teams, their members, and the users they link.

The routers (`api/admin/teams.py`, `api/admin/crm.py`) keep HTTP (guards, bodies, status codes,
errors); what they read and write goes through these two repositories on the request's session.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

from fastapi import Depends
from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import SessionDep
from api.schemas import PageParams
from api.security import fetch_page
from domain.models.auth import Team, TeamMember, User


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


Teams = Annotated[TeamRepository, Depends(TeamRepository)]
Users = Annotated[UserRepository, Depends(UserRepository)]
