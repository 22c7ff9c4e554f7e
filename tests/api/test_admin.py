"""Administration behaviour beyond authorization: validation, conflicts, protections, pagination."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from domain.models import RefreshToken, TeamMember
from domain.rbac import BUILT_IN_ROLES, PERMISSIONS
from tests.fixtures.world import PASSWORD, World

USERS = "/api/admin/users"
ROLES = "/api/admin/roles"
TEAMS = "/api/admin/teams"


@pytest.fixture
def admin(world: World) -> dict[str, str]:
    return world.headers("admin")


# --- users ----------------------------------------------------------------------------------------


async def test_create_active_user_with_roles(client: httpx.AsyncClient, world: World, admin: dict[str, str]) -> None:
    response = await client.post(
        USERS,
        json={"email": "New.Person@Example.test", "password": "long enough", "role_keys": ["operator", "viewer"],
              "crm_user_id": "crm-new"},
        headers=admin,
    )  # fmt: skip
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["invite_token"] is None
    user = data["user"]
    assert user["email"] == "new.person@example.test"
    assert user["status"] == "ACTIVE"
    assert user["roles"] == ["operator", "viewer"]
    assert isinstance(user["id"], str)
    login = await client.post("/api/auth/login", json={"email": "new.person@example.test", "password": "long enough"})
    assert login.status_code == 200


async def test_user_validation_and_conflicts(client: httpx.AsyncClient, world: World, admin: dict[str, str]) -> None:
    duplicate = await client.post(USERS, json={"email": world.emails["viewer"], "password": PASSWORD}, headers=admin)
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "CONFLICT"
    unknown_role = await client.post(
        USERS, json={"email": "x@example.test", "role_keys": ["viewer", "nope"]}, headers=admin
    )
    assert unknown_role.status_code == 400
    assert unknown_role.json()["field"] == "role_keys.1"
    short = await client.post(USERS, json={"email": "y@example.test", "password": "short"}, headers=admin)
    assert short.status_code == 400
    assert short.json()["field"] == "body.password"
    bad_email = await client.post(USERS, json={"email": "not-an-email"}, headers=admin)
    assert bad_email.status_code == 400
    assert bad_email.json()["field"] == "body.email"
    extra = await client.post(USERS, json={"email": "z@example.test", "is_admin": True}, headers=admin)
    assert extra.status_code == 400  # unknown fields are refused (no mass assignment)
    crm_taken = await client.post(USERS, json={"email": "w@example.test", "crm_user_id": "crm-viewer"}, headers=admin)
    assert crm_taken.status_code == 409


async def test_admins_cannot_lock_themselves_out(
    client: httpx.AsyncClient, world: World, admin: dict[str, str]
) -> None:
    me = f"{USERS}/{world.users['admin']}"
    assert (await client.patch(me, json={"status": "DISABLED"}, headers=admin)).status_code == 409
    assert (await client.patch(me, json={"role_keys": ["viewer"]}, headers=admin)).status_code == 409
    assert (
        await client.patch(me, json={"status": "ACTIVE", "crm_user_id": "crm-admin"}, headers=admin)
    ).status_code == 200


async def test_patch_replaces_roles_and_links_crm(
    client: httpx.AsyncClient, world: World, admin: dict[str, str]
) -> None:
    url = f"{USERS}/{world.users['viewer']}"
    response = await client.patch(url, json={"role_keys": ["operator"], "crm_user_id": None}, headers=admin)
    assert response.status_code == 200
    assert response.json()["data"]["roles"] == ["operator"]
    assert response.json()["data"]["crm_user_id"] is None
    taken = await client.patch(url, json={"crm_user_id": "crm-operator"}, headers=admin)
    assert taken.status_code == 409
    missing = await client.patch(f"{USERS}/999999999", json={"status": "ACTIVE"}, headers=admin)
    assert missing.status_code == 404


async def test_disabling_revokes_sessions(client: httpx.AsyncClient, world: World, admin: dict[str, str]) -> None:
    await client.post("/api/auth/login", json={"email": world.emails["viewer"], "password": PASSWORD})
    assert (
        await client.patch(f"{USERS}/{world.users['viewer']}", json={"status": "DISABLED"}, headers=admin)
    ).status_code == 200
    active = await world.session.scalar(
        select(func.count()).where(RefreshToken.user_id == world.users["viewer"], RefreshToken.revoked_at.is_(None))
    )
    assert active == 0


async def test_user_list_filters_and_paginates(client: httpx.AsyncClient, world: World, admin: dict[str, str]) -> None:
    page = await client.get(USERS, params={"limit": 2, "page": 2}, headers=admin)
    assert page.status_code == 200
    body = page.json()
    assert body["pagination"] == {"page": 2, "limit": 2, "total": 5, "total_pages": 3}
    assert len(body["data"]) == 2
    assert (await client.get(USERS, params={"limit": 201}, headers=admin)).status_code == 400
    assert (await client.get(USERS, params={"page": 0}, headers=admin)).status_code == 400
    found = await client.get(USERS, params={"q": "OPERATOR"}, headers=admin)
    assert [u["email"] for u in found.json()["data"]] == [world.emails["operator"]]
    wildcard = await client.get(USERS, params={"q": "%"}, headers=admin)
    assert wildcard.json()["pagination"]["total"] == 0
    invited = await client.get(USERS, params={"status": "INVITED"}, headers=admin)
    assert invited.json()["pagination"]["total"] == 0


# --- roles ----------------------------------------------------------------------------------------


async def test_built_in_roles_are_protected(client: httpx.AsyncClient, world: World, admin: dict[str, str]) -> None:
    for key in BUILT_IN_ROLES:
        url = f"{ROLES}/{world.roles[key]}"
        assert (await client.delete(url, headers=admin)).status_code == 409
        grants = await client.patch(url, json={"permission_keys": ["fiches.read"]}, headers=admin)
        assert grants.status_code == 409
        renamed = await client.patch(url, json={"name": f"{key} (renamed)"}, headers=admin)
        assert renamed.status_code == 200
        assert renamed.json()["data"]["built_in"] is True


async def test_roles_in_use_cannot_be_deleted(client: httpx.AsyncClient, world: World, admin: dict[str, str]) -> None:
    response = await client.delete(f"{ROLES}/{world.roles['agent']}", headers=admin)
    assert response.status_code == 409
    assert "assigned" in response.json()["error"]


async def test_role_grants_merge_and_legacy_keys(
    client: httpx.AsyncClient, world: World, admin: dict[str, str]
) -> None:
    response = await client.post(
        ROLES,
        json={
            "key": "qa-lead",
            "name": "QA lead",
            "permission_grants": [
                {"key": "audits", "read": True, "scope": "SELF"},
                {"key": "audits", "write": True, "scope": "ALL"},
            ],
            "permission_keys": ["fiches.read", "audits.rerun"],
        },
        headers=admin,
    )
    assert response.status_code == 201, response.text
    role = response.json()["data"]
    assert role["built_in"] is False
    assert role["permission_grants"] == [
        {"key": "audits", "read": True, "write": True, "scope": "ALL"},
        {"key": "fiches", "read": True, "write": False, "scope": "GROUP"},
    ]
    assert role["permissions"] == ["audits", "fiches"]
    duplicate = await client.post(ROLES, json={"key": "qa-lead", "name": "again"}, headers=admin)
    assert duplicate.status_code == 409
    bad = await client.post(ROLES, json={"key": "x", "name": "x", "permission_keys": ["fiches.fly"]}, headers=admin)
    assert bad.status_code == 400
    assert bad.json()["field"] == "permission_keys.0"
    unknown = await client.post(
        ROLES, json={"key": "y", "name": "y", "permission_grants": [{"key": "nope", "read": True}]}, headers=admin
    )
    assert unknown.status_code == 400
    assert unknown.json()["field"] == "permission_grants.0.key"


async def test_seeded_roles_match_the_reference(client: httpx.AsyncClient, world: World, admin: dict[str, str]) -> None:
    response = await client.get(ROLES, params={"limit": 200}, headers=admin)
    roles = {r["key"]: r for r in response.json()["data"]}
    for key, definition in BUILT_IN_ROLES.items():
        expected = sorted(
            ({"key": g.key, "read": g.read, "write": g.write, "scope": g.scope.value} for g in definition.grants),
            key=lambda g: str(g["key"]),
        )
        assert roles[key]["permission_grants"] == expected
    permissions = await client.get("/api/admin/permissions", headers=admin)
    assert len(permissions.json()["data"]) == len(PERMISSIONS)


# --- teams ----------------------------------------------------------------------------------------


async def test_team_upsert_by_crm_group(client: httpx.AsyncClient, world: World, admin: dict[str, str]) -> None:
    created = await client.post(TEAMS, json={"crm_group_id": "G-NEW", "name": "New"}, headers=admin)
    assert created.status_code == 201
    updated = await client.post(
        TEAMS, json={"crm_group_id": "G-NEW", "name": "Renamed", "responsable_1": "Ana"}, headers=admin
    )
    assert updated.status_code == 200
    assert updated.json()["data"]["id"] == created.json()["data"]["id"]
    assert updated.json()["data"]["name"] == "Renamed"
    taken = await client.patch(f"{TEAMS}/{created.json()['data']['id']}", json={"crm_group_id": "G-OWN"}, headers=admin)
    assert taken.status_code == 409


async def test_team_members_and_deletion(client: httpx.AsyncClient, world: World, admin: dict[str, str]) -> None:
    team = f"{TEAMS}/{world.teams['other']}"
    body = {"user_id": str(world.users["viewer"])}
    assert (await client.post(f"{team}/members", json=body, headers=admin)).status_code == 200
    assert (await client.post(f"{team}/members", json=body, headers=admin)).status_code == 200  # idempotent
    detail = await client.get(team, headers=admin)
    assert sorted(m["email"] for m in detail.json()["data"]["members"]) == [
        world.emails["other"],
        world.emails["viewer"],
    ]
    listed = await client.get(TEAMS, params={"include_users": "true"}, headers=admin)
    assert {t["name"]: t["member_count"] for t in listed.json()["data"]} == {"Team Other": 2, "Team Own": 3}
    missing_user = await client.post(f"{team}/members", json={"user_id": "999999999"}, headers=admin)
    assert missing_user.status_code == 404
    removed = await client.delete(f"{team}/members/{world.users['viewer']}", headers=admin)
    assert removed.json()["data"] == {
        "team_id": str(world.teams["other"]),
        "user_id": str(world.users["viewer"]),
        "member": False,
    }
    assert (await client.delete(team, headers=admin)).status_code == 409  # still has a member
    assert (await client.delete(team, params={"force": "true"}, headers=admin)).status_code == 200
    assert await world.session.scalar(select(func.count()).where(TeamMember.team_id == world.teams["other"])) == 0
    assert (await client.get(team, headers=admin)).status_code == 404


async def test_renaming_a_team_changes_no_visibility(
    client: httpx.AsyncClient, world: World, admin: dict[str, str]
) -> None:
    url = f"/api/_probe/fiches/{world.fiches['own']}"
    assert (await client.get(url, headers=world.headers("viewer"))).status_code == 200
    renamed = await client.patch(f"{TEAMS}/{world.teams['own']}", json={"name": "Team Other"}, headers=admin)
    assert renamed.status_code == 200
    assert (await client.get(url, headers=world.headers("viewer"))).status_code == 200
    other = f"/api/_probe/fiches/{world.fiches['other']}"
    assert (await client.get(other, headers=world.headers("viewer"))).status_code == 404  # same name, other group
    # linking the team to another CRM group is what moves visibility
    relinked = await client.patch(f"{TEAMS}/{world.teams['own']}", json={"crm_group_id": "G-ELSEWHERE"}, headers=admin)
    assert relinked.status_code == 200
    assert (await client.get(url, headers=world.headers("viewer"))).status_code == 404
    unlinked = await client.patch(f"{TEAMS}/{world.teams['own']}", json={"crm_group_id": None}, headers=admin)
    assert unlinked.json()["data"]["crm_group_id"] is None
