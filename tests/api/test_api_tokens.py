"""Machine API tokens: shown once, stored hashed, own grants never wider than the owner's, revocable.
Legacy static API_AUTH_TOKEN(S): honoured with their configured scope."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from api.auth.crypto import API_TOKEN_PREFIX
from domain.models import ApiToken, User, UserRole, UserStatus
from domain.rbac import Scope
from tests.fixtures.world import World

TOKENS = "/api/admin/api-tokens"


async def _create(client: httpx.AsyncClient, world: World, **body: Any) -> httpx.Response:
    payload = {"name": "ci", "permission_grants": [{"key": "fiches", "read": True, "scope": "GROUP"}]}
    payload.update(body)
    return await client.post(TOKENS, json=payload, headers=world.headers("admin"))


async def test_token_is_shown_once_and_stored_hashed(client: httpx.AsyncClient, world: World) -> None:
    response = await _create(client, world, owner_user_id=str(world.users["operator"]))
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    secret = data["token"]
    assert secret.startswith(API_TOKEN_PREFIX)
    assert data["token_prefix"] == secret[: len(data["token_prefix"])]
    assert data["owner_user_id"] == str(world.users["operator"])
    assert data["permission_grants"] == [
        {"key": "fiches", "read": True, "write": False, "read_scope": "GROUP", "write_scope": None}
    ]
    stored = await world.session.scalar(select(ApiToken.token_hash).where(ApiToken.id == int(data["id"])))
    assert stored is not None
    assert secret not in stored
    assert len(stored) == 64
    listed = await client.get(TOKENS, headers=world.headers("admin"))
    assert secret not in listed.text
    one = await client.get(f"{TOKENS}/{data['id']}", headers=world.headers("admin"))
    assert "token" not in one.json()["data"]
    assert secret not in one.text


async def test_token_works_within_its_grants_only(client: httpx.AsyncClient, world: World) -> None:
    secret = (await _create(client, world, owner_user_id=str(world.users["operator"]))).json()["data"]["token"]
    for headers in ({"Authorization": f"Bearer {secret}"}, {"X-API-Key": secret}):
        assert (await client.get(f"/api/_probe/fiches/{world.fiches['own']}", headers=headers)).status_code == 200
        assert (await client.get(f"/api/_probe/fiches/{world.fiches['other']}", headers=headers)).status_code == 404
        # the owner (operator) may write fiches, but the token was only given read
        refresh = await client.post(f"/api/_probe/fiches/{world.fiches['own']}/refresh", headers=headers)
        assert refresh.status_code == 403
        assert (await client.get("/api/admin/users", headers=headers)).status_code == 403


async def test_grants_wider_than_the_owner_are_refused(client: httpx.AsyncClient, world: World) -> None:
    too_wide = await _create(
        client, world, owner_user_id=str(world.users["operator"]),
        permission_grants=[{"key": "fiches", "read": True, "scope": "ALL"}],
    )  # fmt: skip
    assert too_wide.status_code == 400
    assert too_wide.json()["field"] == "permission_grants"
    admin_perm = await _create(
        client, world, owner_user_id=str(world.users["operator"]),
        permission_grants=[{"key": "admin.users", "read": True, "scope": "ALL"}],
    )  # fmt: skip
    assert admin_perm.status_code == 400
    unknown = await _create(client, world, permission_grants=[{"key": "nope", "read": True, "scope": "ALL"}])
    assert unknown.status_code == 400
    assert unknown.json()["field"] == "permission_grants.0.key"
    nothing = await _create(client, world, permission_grants=[{"key": "fiches", "scope": "ALL"}])
    assert nothing.status_code == 400


async def test_demoting_the_owner_shrinks_the_token_at_once(client: httpx.AsyncClient, world: World) -> None:
    created = await _create(
        client, world, owner_user_id=str(world.users["operator"]),
        permission_grants=[{"key": "fiches", "read": True, "write": True, "scope": "GROUP"}],
    )  # fmt: skip
    headers = {"Authorization": f"Bearer {created.json()['data']['token']}"}
    url = f"/api/_probe/fiches/{world.fiches['own']}/refresh"
    assert (await client.post(url, headers=headers)).status_code == 200
    await world.session.execute(
        update(UserRole).where(UserRole.user_id == world.users["operator"]).values(role_id=world.roles["viewer"])
    )
    assert (await client.post(url, headers=headers)).status_code == 403  # viewer has no fiches write
    assert (await client.get(f"/api/_probe/fiches/{world.fiches['own']}", headers=headers)).status_code == 200


async def test_disabled_owner_revoked_or_expired_tokens_are_rejected(client: httpx.AsyncClient, world: World) -> None:
    url = f"/api/_probe/fiches/{world.fiches['own']}"
    token_id, secret = await world.add_api_token("operator", {"fiches": (Scope.GROUP, None)})
    headers = {"X-API-Key": secret}
    assert (await client.get(url, headers=headers)).status_code == 200

    await world.session.execute(
        update(User).where(User.id == world.users["operator"]).values(status=UserStatus.DISABLED)
    )
    assert (await client.get(url, headers=headers)).status_code == 401
    await world.session.execute(update(User).where(User.id == world.users["operator"]).values(status=UserStatus.ACTIVE))
    assert (await client.get(url, headers=headers)).status_code == 200

    revoked = await client.delete(f"{TOKENS}/{token_id}", headers=world.headers("admin"))
    assert revoked.status_code == 200
    assert revoked.json() == {"success": True, "data": {"revoked": True}}
    assert (await client.get(url, headers=headers)).status_code == 401
    assert (await client.delete(f"{TOKENS}/{token_id}", headers=world.headers("admin"))).status_code == 200

    _, expiring = await world.add_api_token(
        "operator", {"fiches": (Scope.GROUP, None)}, expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    )
    assert (await client.get(url, headers={"X-API-Key": expiring})).status_code == 401


async def test_malformed_or_unknown_tokens_are_rejected(client: httpx.AsyncClient, world: World) -> None:
    url = f"/api/_probe/fiches/{world.fiches['own']}"
    tampered = world.api_token[:-1] + ("A" if world.api_token[-1] != "A" else "B")
    for value in ("ca_pat_short", tampered, "ca_pat_" + "0" * 49):
        assert (await client.get(url, headers={"X-API-Key": value})).status_code == 401
        assert (await client.get(url, headers={"Authorization": f"Bearer {value}"})).status_code == 401


async def test_last_used_is_recorded(client: httpx.AsyncClient, world: World) -> None:
    before = await world.session.scalar(select(ApiToken.last_used_at).where(ApiToken.id == world.api_token_id))
    assert before is None
    assert (await client.get("/api/_probe/fiches", headers=world.headers("token"))).status_code == 200
    after = await world.session.scalar(select(ApiToken.last_used_at).where(ApiToken.id == world.api_token_id))
    assert after is not None
    listed = await client.get(TOKENS, headers=world.headers("admin"))
    row = next(t for t in listed.json()["data"] if t["id"] == str(world.api_token_id))
    assert row["last_used_at"] is not None
    assert row["active"] is True


async def test_expiry_must_be_in_the_future(client: httpx.AsyncClient, world: World) -> None:
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).isoformat()
    assert (await _create(client, world, expires_at=past)).status_code == 400
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=30)).isoformat()
    created = await _create(client, world, expires_at=future)
    assert created.status_code == 201
    assert created.json()["data"]["expires_at"] is not None


async def test_list_filters_by_owner(client: httpx.AsyncClient, world: World) -> None:
    await world.add_api_token("other", {"fiches": (Scope.GROUP, None)})
    response = await client.get(
        TOKENS, params={"owner_user_id": str(world.users["other"])}, headers=world.headers("admin")
    )
    assert response.status_code == 200
    assert response.json()["pagination"]["total"] == 1
    assert {t["owner_user_id"] for t in response.json()["data"]} == {str(world.users["other"])}


@pytest.mark.parametrize(("scope", "own", "other"), [("ALL", 200, 200), ("GROUP", 404, 404), ("SELF", 404, 404)])
async def test_static_tokens_are_honoured_with_their_scope(
    app_factory: Any, world: World, scope: str, own: int, other: int
) -> None:
    static = "legacy-static-token-value-123456"
    application = await app_factory(api_auth_tokens=f"first-one-xyz,{static}", api_auth_token_scope=scope)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://test") as client:
        for headers in ({"Authorization": f"Bearer {static}"}, {"X-API-Key": static}):
            assert (await client.get(f"/api/_probe/fiches/{world.fiches['own']}", headers=headers)).status_code == own
            assert (
                await client.get(f"/api/_probe/fiches/{world.fiches['other']}", headers=headers)
            ).status_code == other
            assert (await client.get("/api/auth/me", headers=headers)).status_code == 403
        admin = await client.get("/api/admin/users", headers={"X-API-Key": static})
        assert admin.status_code == (200 if scope == "ALL" else 403)  # administration needs ALL
        assert (await client.get("/api/admin/users", headers={"X-API-Key": "wrong"})).status_code == 401
        # user sessions keep working next to static tokens
        assert (await client.get("/api/auth/me", headers=world.headers("viewer"))).status_code == 200
