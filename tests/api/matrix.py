"""The authorization matrix, as data: every `/api` route x every kind of principal x own/other entity.

A new route joins the matrix by adding one `Route(...)` row: its guard, how to build a valid request
for an entity of the caller's own group or of the other group, and the expected status per principal.
`test_matrix.py` turns the rows into pytest cases and fails when a route of the app has no row.

Conventions the matrix enforces everywhere: 401 anonymous, 403 authenticated without the grant,
404 for an entity outside the caller's scope (never 403), 2xx otherwise.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from api.auth.crypto import REFRESH_TOKEN_PREFIX  # noqa: F401 - documents the refresh token format used below
from api.auth.service import create_invite, issue_refresh_token
from domain.models import UserStatus
from domain.rbac import Scope
from tests.api.world import PASSWORD, PRINCIPALS, World

Expectation = int | tuple[int, int]  # one status, or (own entity, other group's entity)


@dataclass
class Request:
    path: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)


Prepare = Callable[[World, str], Awaitable[Request]]


async def _nothing(world: World, ownership: str) -> Request:
    return Request()


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    guard: str | None  # "<key>.<suffix>" checked by `require`, "user" (a user session), None (public)
    expect: Mapping[str, Expectation]
    prepare: Prepare = _nothing
    entity: bool = False  # whether the own / other axis applies

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    def expected(self, principal: str, ownership: str) -> int:
        value = self.expect[principal]
        if isinstance(value, tuple):
            return value[0] if ownership == "own" else value[1]
        return value


def admin_only(ok: int = 200) -> dict[str, Expectation]:
    return {"anonymous": 401, "viewer": 403, "operator": 403, "self_user": 403, "admin": ok, "token": 403}


def public(ok: int = 200) -> dict[str, Expectation]:
    return dict.fromkeys(PRINCIPALS, ok)


def users_only(ok: int = 200) -> dict[str, Expectation]:
    return {"anonymous": 401, "viewer": ok, "operator": ok, "self_user": ok, "admin": ok, "token": 403}


# --- request builders -----------------------------------------------------------------------------


async def _login(world: World, ownership: str) -> Request:
    return Request(json={"email": world.emails["viewer"], "password": PASSWORD})


async def _refresh_token(world: World, ownership: str) -> Request:
    issued, _ = await issue_refresh_token(
        world.session, world.users["viewer"], ttl_seconds=3600, ip=None, user_agent=None
    )
    return Request(json={"refresh_token": issued.token})


async def _invitation(world: World, ownership: str) -> Request:
    user_id = await world.add_user(
        f"{world.unique('invited')}@example.test", status=UserStatus.INVITED, password=None, team="own"
    )
    token, _ = await create_invite(world.session, user_id, created_by_id=None, ttl_seconds=3600)
    return Request(json={"invite_token": token, "password": "a brand new password"})


async def _new_user_body(world: World, ownership: str) -> Request:
    return Request(json={"email": f"{world.unique('new')}@example.test", "role_keys": ["viewer"]})


async def _group_user(world: World, ownership: str) -> Request:
    return Request(path={"user_id": world.users["viewer" if ownership == "own" else "other"]})


async def _fresh_group_user(world: World, ownership: str) -> Request:
    user_id = await world.add_user(f"{world.unique('member')}@example.test", team=ownership)
    return Request(path={"user_id": user_id}, json={"crm_user_id": world.unique("crm")})


async def _fresh_invited_user(world: World, ownership: str) -> Request:
    user_id = await world.add_user(
        f"{world.unique('invitee')}@example.test", team=ownership, status=UserStatus.INVITED, password=None
    )
    return Request(path={"user_id": user_id})


async def _new_role_body(world: World, ownership: str) -> Request:
    return Request(
        json={
            "key": world.unique("role"),
            "name": "Auditors",
            "permission_grants": [{"key": "audits", "read": True, "write": False, "scope": "GROUP"}],
        }
    )


async def _agent_role(world: World, ownership: str) -> Request:
    return Request(path={"role_id": world.roles["agent"]})


async def _fresh_role(world: World, ownership: str) -> Request:
    role_id = await world.add_role(world.unique("temp"), {"fiches": (True, False, Scope.SELF)})
    return Request(path={"role_id": role_id}, json={"name": "Renamed", "permission_keys": ["fiches.read"]})


async def _new_team_body(world: World, ownership: str) -> Request:
    return Request(json={"crm_group_id": world.unique("G"), "name": "New team"})


async def _group_team(world: World, ownership: str) -> Request:
    return Request(path={"team_id": world.teams[ownership]}, json={"responsable_1": "Someone"})


async def _group_team_force(world: World, ownership: str) -> Request:
    return Request(path={"team_id": world.teams[ownership]}, params={"force": "true"})


async def _team_membership(world: World, ownership: str) -> Request:
    user = "viewer" if ownership == "own" else "other"
    return Request(
        path={"team_id": world.teams[ownership], "user_id": world.users[user]},
        json={"user_id": str(world.users[user])},
    )


async def _new_token_body(world: World, ownership: str) -> Request:
    return Request(
        json={
            "name": "ci",
            "owner_user_id": str(world.users["operator"]),
            "permission_grants": [{"key": "fiches", "read": True, "scope": "GROUP"}],
        }
    )


async def _group_token(world: World, ownership: str) -> Request:
    owner = "operator" if ownership == "own" else "other"
    token_id, _ = await world.add_api_token(owner, {"fiches": (Scope.GROUP, None)})
    return Request(path={"token_id": token_id})


async def _group_fiche(world: World, ownership: str) -> Request:
    return Request(path={"fiche_id": world.fiches[ownership]})


async def _group_fiche_id(world: World, ownership: str) -> Request:
    return Request(path={"fiche_id": world.fiche_ids[ownership]})


async def _group_fiche_with_details(world: World, ownership: str) -> Request:
    await world.store_details(ownership)
    return Request(path={"fiche_id": world.fiche_ids[ownership]})


async def _status_batch(world: World, ownership: str) -> Request:
    return Request(json={"fiche_ids": [world.fiche_ids["own"], world.fiche_ids["other"], "999"]})


async def _a_day(world: World, ownership: str) -> Request:
    return Request(params={"date": "2025-03-03"})


async def _future_range(world: World, ownership: str) -> Request:
    # Entirely in the future: nothing to fetch, so the matrix checks access without launching a job.
    return Request(params={"start_date": "2099-01-01", "end_date": "2099-01-05"})


async def _fetch_job(world: World, ownership: str) -> Request:
    return Request(path={"job_id": await world.add_fetch_job("operator")})


async def _crm_user(world: World, ownership: str) -> Request:
    return Request(json={"crm_user_id": await world.first_crm_user_id()})


# --- the matrix -----------------------------------------------------------------------------------

SCOPED_READ: dict[str, Expectation] = {
    "anonymous": 401,
    "viewer": (200, 404),
    "operator": (200, 404),
    "self_user": (200, 404),  # SELF: the own fiche is attributed to them, the other is not
    "admin": (200, 200),
    "token": (200, 404),  # fiches read GROUP, within its owner's (operator's) group
}
SCOPED_WRITE: dict[str, Expectation] = {
    "anonymous": 401,
    "viewer": 403,  # read-only role: no grant, whatever the entity
    "operator": (200, 404),
    "self_user": 403,
    "admin": (200, 200),
    "token": 403,  # the token only has fiches read
}

FICHES_LIST: dict[str, Expectation] = users_only() | {"token": 200}
RECORDINGS_READ: dict[str, Expectation] = {
    "anonymous": 401,
    "viewer": (200, 404),
    "operator": (200, 404),
    "self_user": 403,
    "admin": (200, 200),
    "token": 403,
}

ROUTES: tuple[Route, ...] = (
    # auth: public bootstrap (credentials in the body), and the caller's identity
    Route("POST", "/api/auth/login", None, public(), _login),
    Route("POST", "/api/auth/refresh", None, public(), _refresh_token),
    Route("POST", "/api/auth/logout", None, public(), _refresh_token),
    Route("POST", "/api/auth/invite/accept", None, public(), _invitation),
    Route("GET", "/api/auth/me", "user", users_only()),
    # admin: users
    Route("GET", "/api/admin/users", "admin.users.read", admin_only()),
    Route("POST", "/api/admin/users", "admin.users.write", admin_only(201), _new_user_body),
    Route("GET", "/api/admin/users/{user_id}", "admin.users.read", admin_only(), _group_user, entity=True),
    Route("PATCH", "/api/admin/users/{user_id}", "admin.users.write", admin_only(), _fresh_group_user, entity=True),
    Route(
        "POST",
        "/api/admin/users/{user_id}/invite",
        "admin.users.write",
        admin_only(201),
        _fresh_invited_user,
        entity=True,
    ),
    # admin: roles and permissions
    Route("GET", "/api/admin/roles", "admin.roles.read", admin_only()),
    Route("POST", "/api/admin/roles", "admin.roles.write", admin_only(201), _new_role_body),
    Route("GET", "/api/admin/roles/{role_id}", "admin.roles.read", admin_only(), _agent_role),
    Route("PATCH", "/api/admin/roles/{role_id}", "admin.roles.write", admin_only(), _fresh_role),
    Route("DELETE", "/api/admin/roles/{role_id}", "admin.roles.write", admin_only(), _fresh_role),
    Route("GET", "/api/admin/permissions", "admin.permissions.read", admin_only()),
    # admin: teams
    Route("GET", "/api/admin/teams", "admin.users.read", admin_only()),
    Route("POST", "/api/admin/teams", "admin.users.write", admin_only(201), _new_team_body),
    Route("GET", "/api/admin/teams/{team_id}", "admin.users.read", admin_only(), _group_team, entity=True),
    Route("PATCH", "/api/admin/teams/{team_id}", "admin.users.write", admin_only(), _group_team, entity=True),
    Route("DELETE", "/api/admin/teams/{team_id}", "admin.users.write", admin_only(), _group_team_force, entity=True),
    Route(
        "POST",
        "/api/admin/teams/{team_id}/members",
        "admin.users.write",
        admin_only(),
        _team_membership,
        entity=True,
    ),
    Route(
        "DELETE",
        "/api/admin/teams/{team_id}/members/{user_id}",
        "admin.users.write",
        admin_only(),
        _team_membership,
        entity=True,
    ),
    # admin: API tokens
    Route("GET", "/api/admin/api-tokens", "admin.users.read", admin_only()),
    Route("POST", "/api/admin/api-tokens", "admin.users.write", admin_only(201), _new_token_body),
    Route("GET", "/api/admin/api-tokens/{token_id}", "admin.users.read", admin_only(), _group_token, entity=True),
    Route("DELETE", "/api/admin/api-tokens/{token_id}", "admin.users.write", admin_only(), _group_token, entity=True),
    # admin: the CRM directory (in-process simulator in tests)
    Route("GET", "/api/admin/crm/users", "admin.users.read", admin_only()),
    Route("GET", "/api/admin/crm/teams", "admin.users.read", admin_only()),
    Route("POST", "/api/admin/teams/sync-from-crm", "admin.users.write", admin_only()),
    Route("POST", "/api/admin/users/from-crm", "admin.users.write", admin_only(201), _crm_user),
    # fiches: scoped by the fiches grant (`token` reads GROUP within its owner's group)
    Route("GET", "/api/fiches/search", "fiches.read", FICHES_LIST, _a_day),
    Route("POST", "/api/fiches/status/batch", "fiches.read", FICHES_LIST, _status_batch),
    Route("GET", "/api/fiches/status/by-date", "fiches.read", FICHES_LIST, _a_day),
    Route("GET", "/api/fiches/status/by-date-range", "fiches.read", FICHES_LIST, _future_range),
    Route("GET", "/api/fiches/jobs/{job_id}", "fiches.read", FICHES_LIST, _fetch_job),
    Route("GET", "/api/fiches/{fiche_id}", "fiches.read", SCOPED_READ, _group_fiche_with_details, entity=True),
    Route("GET", "/api/fiches/{fiche_id}/cache", "fiches.read", SCOPED_READ, _group_fiche_id, entity=True),
    Route("GET", "/api/fiches/{fiche_id}/status", "fiches.read", SCOPED_READ, _group_fiche_id, entity=True),
    # recordings: the recordings grant (the agent role and the token have none)
    Route("GET", "/api/recordings/{fiche_id}", "recordings.read", RECORDINGS_READ, _group_fiche_id, entity=True),
    # test-only scoped family (tests/api/probe.py): the SELF / GROUP / ALL behaviour later families copy
    Route("GET", "/api/_probe/fiches", "fiches.read", users_only() | {"token": 200}),
    Route("GET", "/api/_probe/fiches/{fiche_id}", "fiches.read", SCOPED_READ, _group_fiche, entity=True),
    Route("POST", "/api/_probe/fiches/{fiche_id}/refresh", "fiches.fetch", SCOPED_WRITE, _group_fiche, entity=True),
)
