"""`/api/admin/teams`: teams, their members and their CRM group link.

GROUP scope matches a fiche's `crm_group_id` against the CRM group ids of the caller's teams, so a
team only grants visibility once linked (`crm_group_id`), and renaming it changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.admin.common import CONFLICT_RESPONSES, flush_or_409
from api.admin.repository import TeamRepository, Teams, Users
from api.admin.schemas import Deleted, MembershipChanged, TeamCreate, TeamMemberAdd, TeamMemberOut, TeamOut, TeamPatch
from api.deps import SessionDep
from api.errors import Conflict, NotFound
from api.schemas import Envelope, Page, PageParams, ok, page_params
from api.security import EntityId, Grant, require_all
from domain.models.auth import Team, UserStatus

log = logging.getLogger("callaudit.admin")

router = APIRouter(prefix="/teams", tags=["admin: teams"], responses=CONFLICT_RESPONSES)

ReadTeams = Annotated[Grant, Depends(require_all("admin.users", "read"))]
WriteTeams = Annotated[Grant, Depends(require_all("admin.users", "write"))]


async def _teams_out(teams_repo: TeamRepository, teams: Sequence[Team], *, include_users: bool) -> list[TeamOut]:
    ids = [t.id for t in teams]
    counts = await teams_repo.member_counts(ids)
    members: dict[int, list[TeamMemberOut]] = {i: [] for i in ids}
    if include_users and ids:
        for team_id, user in await teams_repo.members(ids):
            members[team_id].append(
                TeamMemberOut(
                    id=user.id, email=user.email, status=UserStatus(user.status), crm_user_id=user.crm_user_id
                )
            )
    return [
        TeamOut(
            id=t.id,
            crm_group_id=t.crm_group_id,
            name=t.name,
            responsable_1=t.responsable_1,
            responsable_2=t.responsable_2,
            responsable_3=t.responsable_3,
            member_count=counts.get(t.id, 0),
            members=members[t.id] if include_users else None,
            created_at=t.created_at,
            updated_at=t.updated_at,
        )
        for t in teams
    ]


async def _get_team(teams_repo: TeamRepository, team_id: int) -> Team:
    team = await teams_repo.get(team_id)
    if team is None:
        raise NotFound("Team not found")
    return team


IncludeUsers = Annotated[bool, Query(description="Include each team's members")]


@router.get("", response_model=Page[TeamOut], summary="List teams with member counts")
async def list_teams(
    _: ReadTeams,
    teams_repo: Teams,
    page: Annotated[PageParams, Depends(page_params)],
    include_users: IncludeUsers = False,
) -> Page[TeamOut]:
    """Teams with their responsables, CRM group link and member count."""
    teams, total = await teams_repo.page(page)
    return page.paginate(await _teams_out(teams_repo, teams, include_users=include_users), total)


@router.get("/{team_id:id}", response_model=Envelope[TeamOut], summary="One team with its members")
async def read_team(team_id: EntityId, _: ReadTeams, teams_repo: Teams) -> Envelope[TeamOut]:
    """One team with its members; 404 when it does not exist."""
    team = await _get_team(teams_repo, team_id)
    return ok((await _teams_out(teams_repo, [team], include_users=True))[0])


@router.post(
    "",
    response_model=Envelope[TeamOut],
    status_code=201,
    responses={200: {"model": Envelope[TeamOut], "description": "An existing team with this CRM group id, updated"}},
    summary="Create a team, or update the one linked to the same CRM group id",
)
async def upsert_team(
    body: TeamCreate, grant: WriteTeams, session: SessionDep, teams_repo: Teams, response: Response
) -> Envelope[TeamOut]:
    """201 with a new team, or 200 with the team already linked to the same `crm_group_id`, updated."""
    team = None
    if body.crm_group_id is not None:
        team = await teams_repo.by_crm_group(body.crm_group_id)
    if team is None:
        team = Team(crm_group_id=body.crm_group_id, name=body.name)
        session.add(team)
    else:
        team.name = body.name
        response.status_code = 200
    for field in ("responsable_1", "responsable_2", "responsable_3"):
        if field in body.model_fields_set:
            setattr(team, field, getattr(body, field))
    await flush_or_409(session, "A team is already linked to this CRM group")
    log.info("team %s saved by %s", team.id, grant.principal.describe())
    return ok((await _teams_out(teams_repo, [await _get_team(teams_repo, team.id)], include_users=False))[0])


@router.patch(
    "/{team_id:id}",
    response_model=Envelope[TeamOut],
    summary="Rename a team, change its responsables or its CRM group link",
)
async def patch_team(
    team_id: EntityId, body: TeamPatch, _: WriteTeams, session: SessionDep, teams_repo: Teams
) -> Envelope[TeamOut]:
    """Only the fields sent change. 409 when the CRM group is linked to another team."""
    team = await _get_team(teams_repo, team_id)
    fields = body.model_fields_set
    if "crm_group_id" in fields and body.crm_group_id != team.crm_group_id:
        if body.crm_group_id is not None and await teams_repo.crm_group_taken(body.crm_group_id, other_than=team.id):
            raise Conflict("A team is already linked to this CRM group", field="crm_group_id")
        team.crm_group_id = body.crm_group_id
    if body.name is not None:
        team.name = body.name
    for field in ("responsable_1", "responsable_2", "responsable_3"):
        if field in fields:
            setattr(team, field, getattr(body, field))
    await flush_or_409(session, "A team is already linked to this CRM group")
    return ok((await _teams_out(teams_repo, [await _get_team(teams_repo, team.id)], include_users=True))[0])


@router.delete(
    "/{team_id:id}",
    response_model=Envelope[Deleted],
    summary="Delete a team (refused while it has members unless force=true)",
)
async def delete_team(
    team_id: EntityId,
    _: WriteTeams,
    session: SessionDep,
    teams_repo: Teams,
    force: Annotated[bool, Query(description="Delete even with members")] = False,
) -> Envelope[Deleted]:
    """Deletes a team; 409 while it has members unless `force=true` (the memberships go with it)."""
    team = await _get_team(teams_repo, team_id)
    if not force and await teams_repo.has_members(team.id):
        raise Conflict("The team has members; pass force=true to delete it anyway")
    await session.delete(team)
    await session.flush()
    return ok(Deleted())


@router.post(
    "/{team_id:id}/members",
    response_model=Envelope[MembershipChanged],
    summary="Add a user to a team (idempotent)",
)
async def add_member(
    team_id: EntityId, body: TeamMemberAdd, _: WriteTeams, teams_repo: Teams, users_repo: Users
) -> Envelope[MembershipChanged]:
    """Adds the user to the team; adding a member again changes nothing."""
    team = await _get_team(teams_repo, team_id)
    if not await users_repo.exists(body.user_id):
        raise NotFound("User not found")
    await teams_repo.add_member(team.id, body.user_id)
    return ok(MembershipChanged(team_id=team.id, user_id=body.user_id, member=True))


@router.delete(
    "/{team_id:id}/members/{user_id:id}",
    response_model=Envelope[MembershipChanged],
    summary="Remove a user from a team (idempotent)",
)
async def remove_member(
    team_id: EntityId, user_id: EntityId, _: WriteTeams, teams_repo: Teams
) -> Envelope[MembershipChanged]:
    """Removes the user from the team; removing a non-member changes nothing."""
    team = await _get_team(teams_repo, team_id)
    await teams_repo.remove_member(team.id, user_id)
    return ok(MembershipChanged(team_id=team.id, user_id=user_id, member=False))
