"""CRM-backed administration: the CRM's users and groups, team sync, one-click user from the CRM.

All routes need `admin.users.*` with ALL scope. CRM failures are 502 (gateway) or 503 (Redis, which
carries the deployment-wide CRM caps), rendered by `api/errors.py`; messages never carry the gateway's
URL or token.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from api.admin.common import CONFLICT_RESPONSES, flush_or_409
from api.admin.repository import Roles, TeamRepository, Teams, Users
from api.admin.schemas import Input, RoleKey, TeamOut, UserOut
from api.admin.teams import _get_team, _teams_out
from api.admin.users import INVITE_TTL_SECONDS, get_user, set_roles, user_out
from api.auth.service import create_invite
from api.deps import SessionDep
from api.errors import BadRequest, Conflict
from api.fiches.deps import CrmDep
from api.schemas import Envelope, ok
from api.security import Grant, Str64, require_all
from domain.crm.store import assign_crm_group_ids
from domain.models.auth import Team, User, UserStatus
from domain.rbac import DEFAULT_ROLE

log = logging.getLogger("callaudit.admin")

router = APIRouter(tags=["admin: CRM"], responses={**CONFLICT_RESPONSES, 502: {"description": "The CRM failed"}})

ReadUsers = Annotated[Grant, Depends(require_all("admin.users", "read"))]
WriteUsers = Annotated[Grant, Depends(require_all("admin.users", "write"))]


class LinkedUser(BaseModel):
    id: str
    email: str
    status: str


class CrmUserOut(BaseModel):
    id: str
    nom: str | None = None
    prenom: str | None = None
    email: str | None = None
    login: str | None = None
    agence: str | None = None
    role: str | None = None
    actif: bool | None = None
    app_user: LinkedUser | None = Field(None, description="The app user linked by CRM id, else by e-mail")


class CrmGroupOut(BaseModel):
    id: str
    nom: str | None = None
    membres_count: int | None = None
    responsable_1: str | None = None
    responsable_2: str | None = None
    responsable_3: str | None = None
    user_ids: list[str] | None = None
    team_id: str | None = Field(None, description="The app team linked to this CRM group")


class SyncResult(BaseModel):
    teams_upserted: int
    members_added: int
    fiches_linked: int = Field(description="Fiches whose CRM group id was filled in from the group names")


class UserFromCrm(Input):
    crm_user_id: Annotated[Str64, Field(min_length=1)]
    role_keys: list[RoleKey] | None = Field(None, max_length=20, description="Replaces the roles (default: viewer)")
    crm_group_id: Annotated[Str64, Field(min_length=1)] | None = Field(
        None, description="Force the CRM group; default: the group listing the user"
    )


class UserFromCrmOut(BaseModel):
    user: UserOut
    team: TeamOut | None
    groupe: str | None = Field(description="Alias of the team name (original shape)")
    invite_token: str | None


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _group_out(raw: dict[str, Any], team_id: int | None) -> CrmGroupOut:
    ids = raw.get("user_ids")
    return CrmGroupOut(
        id=str(raw.get("id")),
        nom=_opt(raw.get("nom")),
        membres_count=raw.get("membres_count") if isinstance(raw.get("membres_count"), int) else None,
        responsable_1=_opt(raw.get("responsable_1")),
        responsable_2=_opt(raw.get("responsable_2")),
        responsable_3=_opt(raw.get("responsable_3")),
        user_ids=[str(i) for i in ids] if isinstance(ids, list) else None,
        team_id=_opt(team_id),
    )


@router.get("/crm/users", response_model=Envelope[list[CrmUserOut]], summary="CRM users, with their app user")
async def crm_users(_: ReadUsers, users_repo: Users, crm: CrmDep) -> Envelope[list[CrmUserOut]]:
    """Every user of the CRM, each with the app user linked to it (null when none). Needs `admin.users` read; 502
    when the CRM fails."""
    raw = await crm.users()
    ids = [str(u.get("id")) for u in raw]
    emails = [str(u["email"]).lower() for u in raw if u.get("email")]
    linked = await users_repo.linked_to_crm(ids, emails)
    by_crm = {u.crm_user_id: u for u in linked if u.crm_user_id}
    by_email = {u.email.lower(): u for u in linked}
    out = []
    for u in raw:
        user = by_crm.get(str(u.get("id"))) or by_email.get(str(u.get("email") or "").lower())
        out.append(
            CrmUserOut(
                id=str(u.get("id")),
                nom=_opt(u.get("nom")),
                prenom=_opt(u.get("prenom")),
                email=_opt(u.get("email")),
                login=_opt(u.get("login")),
                agence=_opt(u.get("agence")),
                role=_opt(u.get("role")),
                actif=u.get("actif") if isinstance(u.get("actif"), bool) else None,
                app_user=LinkedUser(id=str(user.id), email=user.email, status=user.status) if user else None,
            )
        )
    return ok(out)


@router.get("/crm/teams", response_model=Envelope[list[CrmGroupOut]], summary="CRM groups (passthrough)")
async def crm_teams(
    _: ReadUsers,
    teams_repo: Teams,
    crm: CrmDep,
    include_users: Annotated[bool, Query(description="Include each group's member ids")] = False,
) -> Envelope[list[CrmGroupOut]]:
    """The CRM's groups as the gateway returns them, each with the id of the team linked to it. Needs `admin.users`
    read; 502 when the CRM fails."""
    groups = await crm.groups(include_users)
    teams = await teams_repo.linked_crm_groups()
    return ok([_group_out(g, teams.get(str(g.get("id")))) for g in groups])


async def _upsert_team(teams_repo: TeamRepository, group: dict[str, Any]) -> Team:
    group_id = str(group["id"])
    values = {
        "name": str(group.get("nom") or f"CRM group {group_id}")[:255],
        **{f"responsable_{i}": _opt(group.get(f"responsable_{i}")) for i in (1, 2, 3)},
    }
    return await _get_team(teams_repo, await teams_repo.upsert_crm_group(group_id, values))


@router.post(
    "/teams/sync-from-crm",
    response_model=Envelope[SyncResult],
    summary="Upsert every CRM group as a team (optionally add members; never removes)",
)
async def sync_teams(
    *,
    grant: WriteUsers,
    session: SessionDep,
    teams_repo: Teams,
    users_repo: Users,
    crm: CrmDep,
    sync_members: Annotated[bool, Query(description="Add linked users to their group's team")] = False,
) -> Envelope[SyncResult]:
    """Creates or updates one team per CRM group (matched by CRM group id); with `sync_members`, links the app
    users of the group's members. Never removes a team or a member. Needs `admin.users` write."""
    groups = [g for g in await crm.groups(sync_members) if g.get("id") is not None]
    added = 0
    for group in groups:
        team = await _upsert_team(teams_repo, group)
        member_ids = [str(i) for i in group.get("user_ids") or []]
        if sync_members and member_ids:
            for user_id in await users_repo.ids_of_crm_users(member_ids):
                added += await teams_repo.add_member(team.id, user_id)
    by_name = {str(g["nom"]): str(g["id"]) for g in groups if g.get("nom")}
    linked = await session.run_sync(lambda s: assign_crm_group_ids(s, by_name))
    log.info("%d CRM groups synced by %s", len(groups), grant.principal.describe())
    return ok(SyncResult(teams_upserted=len(groups), members_added=added, fiches_linked=linked))


@router.post(
    "/users/from-crm",
    response_model=Envelope[UserFromCrmOut],
    status_code=201,
    summary="Create or link a user from a CRM user, with roles, team and an invitation",
)
async def user_from_crm(
    *,
    body: UserFromCrm,
    grant: WriteUsers,
    session: SessionDep,
    teams_repo: Teams,
    users_repo: Users,
    roles_repo: Roles,
    crm: CrmDep,
) -> Envelope[UserFromCrmOut]:
    """Creates the app user of a CRM user (or links an existing one with the same e-mail), gives roles and a team,
    and returns a one-time invitation token. 409 when the CRM user or the e-mail belongs to someone else."""
    crm_user = next((u for u in await crm.users() if str(u.get("id")) == body.crm_user_id), None)
    if crm_user is None:
        raise BadRequest("No such CRM user", field="crm_user_id")
    email = str(crm_user.get("email") or "").strip().lower()
    if not email:
        raise BadRequest("This CRM user has no e-mail address", field="crm_user_id")
    groups = await crm.groups(body.crm_group_id is None)
    if body.crm_group_id is not None:
        group = next((g for g in groups if str(g.get("id")) == body.crm_group_id), None)
        if group is None:
            raise BadRequest("No such CRM group", field="crm_group_id")
    else:
        group = next((g for g in groups if body.crm_user_id in [str(i) for i in g.get("user_ids") or []]), None)

    by_link = await users_repo.by_crm_user(body.crm_user_id)
    by_email = await users_repo.by_email(email)
    if by_link is not None and by_email is not None and by_link.id != by_email.id:
        raise Conflict("The CRM user is linked to one user and their e-mail belongs to another", field="crm_user_id")
    user = by_link or by_email
    if user is not None and user.crm_user_id not in (None, body.crm_user_id):
        raise Conflict("This e-mail's user is linked to another CRM user", field="crm_user_id")
    if user is None:
        user = User(email=email, crm_user_id=body.crm_user_id, status=UserStatus.INVITED, password_hash=None)
        session.add(user)
        await flush_or_409(session, "A user with this e-mail or CRM user already exists")
        await set_roles(users_repo, roles_repo, user.id, body.role_keys or [DEFAULT_ROLE])
    else:
        user.crm_user_id = body.crm_user_id
        await flush_or_409(session, "This CRM user is already linked to another user")
        if body.role_keys is not None:
            await set_roles(users_repo, roles_repo, user.id, body.role_keys)
    team_out = None
    if group is not None:
        team = await _upsert_team(teams_repo, group)
        await teams_repo.add_member(team.id, user.id)
        team_out = (await _teams_out(teams_repo, [team], include_users=False))[0]
    invite = None
    if user.password_hash is None:
        invite, _ = await create_invite(
            session, user.id, created_by_id=grant.principal.user_id, ttl_seconds=INVITE_TTL_SECONDS
        )
    log.info("user %s linked to CRM user by %s", user.id, grant.principal.describe())
    return ok(
        UserFromCrmOut(
            user=user_out(await get_user(users_repo, user.id)),
            team=team_out,
            groupe=team_out.name if team_out else None,
            invite_token=invite,
        )
    )
