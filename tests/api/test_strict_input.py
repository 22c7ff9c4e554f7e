"""Drill 12: input is read strictly; nothing is coerced into something the client did not write."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.world import PASSWORD, World


@pytest.mark.parametrize("raw", ["1.0", "%201", "01", "1e0", "+1"])
async def test_path_ids_are_canonical_integers(client: httpx.AsyncClient, world: World, raw: str) -> None:
    admin = world.headers("admin")
    for path, field in (("/api/audits/{}", "path.audit_id"), ("/api/audit-configs/{}", "path.scorecard_id")):
        response = await client.get(path.format(raw), headers=admin)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["field"] == field
    user = await client.get(f"/api/admin/users/{raw}", headers=admin)
    assert user.status_code == 400, user.text
    assert user.json()["field"] == "path.user_id"


async def test_a_static_admin_path_is_not_an_id(client: httpx.AsyncClient, world: World) -> None:
    response = await client.patch("/api/admin/teams/sync-from-crm", json={}, headers=world.headers("admin"))
    assert response.status_code == 405
    response = await client.delete("/api/admin/users/from-crm", headers=world.headers("admin"))
    assert response.status_code == 405


@pytest.mark.parametrize("name", ["Equ\x00ipe", "Equipe\nNord", "Equipe\x1b[31m", "Equ\x7fipe", "Equ\u0085ipe"])
async def test_control_characters_are_refused_in_names(client: httpx.AsyncClient, world: World, name: str) -> None:
    response = await client.post(
        "/api/admin/teams", json={"name": name, "crm_group_id": "G-NEW"}, headers=world.headers("admin")
    )
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "body.name"
    role = await client.post("/api/admin/roles", json={"key": "k1", "name": name}, headers=world.headers("admin"))
    assert role.status_code == 400
    assert role.json()["field"] == "body.name"


async def test_changing_ones_own_password_needs_the_current_one(client: httpx.AsyncClient, world: World) -> None:
    admin = world.headers("admin")
    me = world.users["admin"]
    new = "another long passphrase"
    # another user's password: the administrator does not know it and need not
    other = await client.patch(f"/api/admin/users/{world.users['viewer']}", json={"password": new}, headers=admin)
    assert other.status_code == 200
    for body in ({"password": new}, {"password": new, "current_password": "wrong password!"}):
        refused = await client.patch(f"/api/admin/users/{me}", json=body, headers=admin)
        assert refused.status_code == 400, refused.text
        assert refused.json()["field"] == "current_password"
    accepted = await client.patch(
        f"/api/admin/users/{me}", json={"password": new, "current_password": PASSWORD}, headers=admin
    )
    assert accepted.status_code == 200, accepted.text
