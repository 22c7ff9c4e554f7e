"""Login, refresh rotation with reuse detection, logout, invitations and password rehashing."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select, update

from api.auth.crypto import REFRESH_TOKEN_PREFIX, sha256_hex
from api.auth.service import create_invite
from domain.models import InviteToken, RefreshToken, User, UserStatus
from tests.fixtures.world import PASSWORD, World, refresh_cookie

LOGIN = "/api/auth/login"
REFRESH = "/api/auth/refresh"
LOGOUT = "/api/auth/logout"
ACCEPT = "/api/auth/invite/accept"


async def login(client: httpx.AsyncClient, world: World, who: str = "viewer") -> httpx.Response:
    response = await client.post(LOGIN, json={"email": world.emails[who], "password": PASSWORD})
    assert response.status_code == 200, response.text
    return response


async def test_login_returns_the_original_shape_in_the_envelope(client: httpx.AsyncClient, world: World) -> None:
    response = await login(client, world)
    body = response.json()
    assert body["success"] is True
    data = body["data"]
    assert set(data) == {"access_token", "token_type", "expires_in", "user"}
    assert data["token_type"] == "Bearer"
    assert data["expires_in"] == world.settings.auth_access_ttl_seconds
    user = data["user"]
    assert user["id"] == str(world.users["viewer"])
    assert user["email"] == world.emails["viewer"]
    assert user["crm_user_id"] == "crm-viewer"
    assert user["groupes"] == ["Team Own"]
    assert user["roles"] == ["viewer"]
    fiches = next(p for p in user["permissions"] if p["key"] == "fiches")
    assert fiches == {"key": "fiches", "read": True, "write": False, "read_scope": "GROUP", "write_scope": None}
    assert response.headers["cache-control"] == "no-store"


async def test_login_sets_a_hardened_refresh_cookie(client: httpx.AsyncClient, world: World) -> None:
    response = await login(client, world)
    cookie = refresh_cookie(response)
    assert cookie.value.startswith(REFRESH_TOKEN_PREFIX)
    assert cookie["httponly"]
    assert cookie["path"] == "/api/auth"
    assert cookie["samesite"].lower() == "lax"
    assert int(cookie["max-age"]) > world.settings.auth_refresh_ttl_seconds - 60
    stored = await world.session.scalar(select(RefreshToken.token_hash).order_by(RefreshToken.id.desc()).limit(1))
    assert stored == sha256_hex(cookie.value)  # only the hash is stored


async def test_cookie_is_secure_in_production_like_settings(app_factory: Any, world: World) -> None:
    secure_app = await app_factory(auth_cookie_secure=True, auth_cookie_samesite="strict")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=secure_app), base_url="http://test") as client:
        cookie = refresh_cookie(await login(client, world))
    assert cookie["secure"]
    assert cookie["samesite"].lower() == "strict"


async def test_login_email_is_case_insensitive(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(LOGIN, json={"email": "  VIEWER@Example.TEST ", "password": PASSWORD})
    assert response.status_code == 200


@pytest.mark.parametrize("case", ["wrong password", "unknown account", "disabled account", "invited account"])
async def test_failed_logins_all_look_the_same(client: httpx.AsyncClient, world: World, case: str) -> None:
    email, password = world.emails["operator"], PASSWORD
    if case == "wrong password":
        password = "not the password"
    elif case == "unknown account":
        email = "nobody@example.test"
    elif case == "disabled account":
        await world.session.execute(update(User).where(User.email == email).values(status=UserStatus.DISABLED))
    else:
        email = "invited@example.test"
        await world.add_user(email, status=UserStatus.INVITED, password=None)
    response = await client.post(LOGIN, json={"email": email, "password": password})
    assert response.status_code == 401
    assert response.json() == {"success": False, "error": "Invalid email or password", "code": "AUTHENTICATION_ERROR"}


async def test_refresh_rotates_through_cookie_and_body(client: httpx.AsyncClient, world: World) -> None:
    first = refresh_cookie(await login(client, world)).value
    # cookie transport
    response = await client.post(REFRESH, headers={"Cookie": f"refresh_token={first}"})
    assert response.status_code == 200, response.text
    second = refresh_cookie(response).value
    assert second != first
    me = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {response.json()['data']['access_token']}"}
    )
    assert me.status_code == 200
    # body transport
    response = await client.post(REFRESH, json={"refresh_token": second})
    assert response.status_code == 200, response.text
    third = refresh_cookie(response).value
    rows = (
        (
            await world.session.execute(
                select(RefreshToken)
                .where(RefreshToken.family_id.not_in(world.session_ids.values()))  # the world's own sessions
                .order_by(RefreshToken.id)
            )
        )
        .scalars()
        .all()
    )
    assert len({r.family_id for r in rows}) == 1
    assert [r.used_at is not None for r in rows] == [True, True, False]
    assert rows[0].replaced_by_id == rows[1].id
    assert rows[1].replaced_by_id == rows[2].id
    assert len({r.expires_at for r in rows}) == 1  # absolute expiry: rotation does not extend the session
    assert third.startswith(REFRESH_TOKEN_PREFIX)


async def _rotated_long_ago(world: World, token: str) -> None:
    """Move a rotation out of the grace window (the clock is the database's; no waiting)."""
    await world.session.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == sha256_hex(token))
        .values(used_at=RefreshToken.used_at - dt.timedelta(hours=1))
    )
    await world.commit()


async def test_reusing_a_rotated_token_revokes_the_whole_family(client: httpx.AsyncClient, world: World) -> None:
    stolen = refresh_cookie(await login(client, world)).value
    legit = refresh_cookie(await client.post(REFRESH, json={"refresh_token": stolen})).value
    other_session = refresh_cookie(await login(client, world)).value  # another device: unaffected
    await _rotated_long_ago(world, stolen)

    reuse = await client.post(REFRESH, json={"refresh_token": stolen})
    assert reuse.status_code == 401
    assert reuse.json()["error"] == "Invalid or expired refresh token"
    # the legitimate successor is dead too: the attacker and the user must both log in again
    assert (await client.post(REFRESH, json={"refresh_token": legit})).status_code == 401
    assert (await client.post(REFRESH, json={"refresh_token": other_session})).status_code == 200
    revoked = await world.session.scalar(
        select(func.count()).where(RefreshToken.revoked_at.is_not(None), RefreshToken.user_id == world.users["viewer"])
    )
    assert revoked == 2


async def test_two_tabs_refreshing_at_once_share_one_successor(client: httpx.AsyncClient, world: World) -> None:
    live = select(func.count()).where(RefreshToken.user_id == world.users["viewer"], RefreshToken.revoked_at.is_(None))
    before = await world.session.scalar(live)  # the test world's own session of the user
    token = refresh_cookie(await login(client, world)).value
    first = await client.post(REFRESH, json={"refresh_token": token})
    second = await client.post(REFRESH, json={"refresh_token": token})  # the other tab, same cookie
    assert (first.status_code, second.status_code) == (200, 200), second.text
    successor = refresh_cookie(first).value
    assert refresh_cookie(second).value == successor
    assert second.json()["data"]["access_token"]
    assert await world.session.scalar(live) == (before or 0) + 2  # the login's token and one successor, none revoked
    assert (await client.post(REFRESH, json={"refresh_token": successor})).status_code == 200


async def test_grace_ends_once_the_shared_successor_is_used(client: httpx.AsyncClient, world: World) -> None:
    token = refresh_cookie(await login(client, world)).value
    successor = refresh_cookie(await client.post(REFRESH, json={"refresh_token": token})).value
    latest = refresh_cookie(await client.post(REFRESH, json={"refresh_token": successor})).value
    assert (await client.post(REFRESH, json={"refresh_token": token})).status_code == 401
    assert (await client.post(REFRESH, json={"refresh_token": latest})).status_code == 401  # family revoked


async def test_refresh_rejects_unknown_malformed_and_missing_tokens(client: httpx.AsyncClient, world: World) -> None:
    assert (await client.post(REFRESH)).status_code == 401
    assert (await client.post(REFRESH, json={"refresh_token": "ca_rt_nope"})).status_code == 401
    assert (await client.post(REFRESH, json={"refresh_token": "ca_rt_" + "A" * 49})).status_code == 401
    assert (await client.post(REFRESH, json={})).status_code == 401


async def test_expired_refresh_token_is_rejected(client: httpx.AsyncClient, world: World) -> None:
    token = refresh_cookie(await login(client, world)).value
    await world.session.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == sha256_hex(token))
        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    )
    assert (await client.post(REFRESH, json={"refresh_token": token})).status_code == 401


async def test_refresh_of_a_disabled_user_is_rejected(client: httpx.AsyncClient, world: World) -> None:
    token = refresh_cookie(await login(client, world)).value
    await world.session.execute(update(User).where(User.id == world.users["viewer"]).values(status=UserStatus.DISABLED))
    assert (await client.post(REFRESH, json={"refresh_token": token})).status_code == 401


async def test_logout_ends_the_session_and_clears_the_cookie(client: httpx.AsyncClient, world: World) -> None:
    token = refresh_cookie(await login(client, world)).value
    response = await client.post(LOGOUT, headers={"Cookie": f"refresh_token={token}"})
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": {"logged_out": True}}
    cleared = refresh_cookie(response)
    assert cleared.value == ""
    assert int(cleared["max-age"]) == 0
    assert (await client.post(REFRESH, json={"refresh_token": token})).status_code == 401
    # idempotent, also without any token
    assert (await client.post(LOGOUT, json={"refresh_token": token})).status_code == 200
    assert (await client.post(LOGOUT)).status_code == 200


async def test_admin_password_change_ends_sessions(client: httpx.AsyncClient, world: World) -> None:
    token = refresh_cookie(await login(client, world)).value
    response = await client.patch(
        f"/api/admin/users/{world.users['viewer']}", json={"password": "a new password"}, headers=world.headers("admin")
    )
    assert response.status_code == 200
    assert (await client.post(REFRESH, json={"refresh_token": token})).status_code == 401
    assert (await client.post(LOGIN, json={"email": world.emails["viewer"], "password": PASSWORD})).status_code == 401
    ok = await client.post(LOGIN, json={"email": world.emails["viewer"], "password": "a new password"})
    assert ok.status_code == 200


async def test_login_upgrades_outdated_password_hashes(client: httpx.AsyncClient, world: World) -> None:
    old = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1).hash(PASSWORD)
    await world.session.execute(update(User).where(User.id == world.users["viewer"]).values(password_hash=old))
    await login(client, world)
    new = await world.session.scalar(select(User.password_hash).where(User.id == world.users["viewer"]))
    assert new != old
    assert new is not None
    assert "m=8,t=1,p=1" in new  # the configured (test) parameters
    await login(client, world)  # and it still verifies


# --- invitations ----------------------------------------------------------------------------------


async def _invited(world: World) -> tuple[int, str]:
    user_id = await world.add_user("newcomer@example.test", status=UserStatus.INVITED, password=None)
    token, _ = await create_invite(world.session, user_id, created_by_id=world.users["admin"], ttl_seconds=3600)
    return user_id, token


async def test_invitation_sets_the_password_and_logs_in(client: httpx.AsyncClient, world: World) -> None:
    user_id, token = await _invited(world)
    response = await client.post(ACCEPT, json={"invite_token": token, "password": "first password!"})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["user"]["id"] == str(user_id)
    assert refresh_cookie(response).value.startswith(REFRESH_TOKEN_PREFIX)
    user = await world.session.get(User, user_id)
    assert user is not None
    await world.session.refresh(user)
    assert user.status == UserStatus.ACTIVE
    assert (
        await client.post(LOGIN, json={"email": "newcomer@example.test", "password": "first password!"})
    ).status_code == 200


async def test_invitation_is_single_use(client: httpx.AsyncClient, world: World) -> None:
    _, token = await _invited(world)
    assert (await client.post(ACCEPT, json={"invite_token": token, "password": "first password!"})).status_code == 200
    again = await client.post(ACCEPT, json={"invite_token": token, "password": "second password"})
    assert again.status_code == 401
    assert again.json()["error"] == "Invalid or expired invitation"


async def test_expired_or_superseded_invitations_fail(client: httpx.AsyncClient, world: World) -> None:
    user_id, token = await _invited(world)
    await world.session.execute(
        update(InviteToken)
        .where(InviteToken.token_hash == sha256_hex(token))
        .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
    )
    assert (await client.post(ACCEPT, json={"invite_token": token, "password": "first password!"})).status_code == 401
    first, _ = await create_invite(world.session, user_id, created_by_id=None, ttl_seconds=3600)
    second, _ = await create_invite(world.session, user_id, created_by_id=None, ttl_seconds=3600)
    assert (await client.post(ACCEPT, json={"invite_token": first, "password": "first password!"})).status_code == 401
    assert (await client.post(ACCEPT, json={"invite_token": second, "password": "first password!"})).status_code == 200


async def test_invitation_for_a_user_no_longer_invited_fails(client: httpx.AsyncClient, world: World) -> None:
    user_id, token = await _invited(world)
    await world.session.execute(update(User).where(User.id == user_id).values(status=UserStatus.DISABLED))
    assert (await client.post(ACCEPT, json={"invite_token": token, "password": "first password!"})).status_code == 401


async def test_admin_invitation_flow(client: httpx.AsyncClient, world: World) -> None:
    admin = world.headers("admin")
    created = await client.post("/api/admin/users", json={"email": "flow@example.test"}, headers=admin)
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data["user"]["status"] == "INVITED"
    assert data["user"]["roles"] == ["viewer"]
    assert data["invite_token"].startswith("ca_inv_")
    expires = dt.datetime.fromisoformat(data["invite_expires_at"])
    assert dt.timedelta(days=6, hours=23) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=7)
    reissued = await client.post(f"/api/admin/users/{data['user']['id']}/invite", headers=admin)
    assert reissued.status_code == 201
    new_token = reissued.json()["data"]["invite_token"]
    stale = await client.post(ACCEPT, json={"invite_token": data["invite_token"], "password": "first password!"})
    assert stale.status_code == 401
    accepted = await client.post(ACCEPT, json={"invite_token": new_token, "password": "first password!"})
    assert accepted.status_code == 200
    # an ACTIVE user cannot be invited again
    assert (await client.post(f"/api/admin/users/{data['user']['id']}/invite", headers=admin)).status_code == 409


ME = "/api/auth/me"


def _bearer(response: httpx.Response) -> dict[str, str]:
    return {"Authorization": f"Bearer {response.json()['data']['access_token']}"}


async def test_ending_a_session_ends_its_access_tokens_at_once(client: httpx.AsyncClient, world: World) -> None:
    """Drill 10: access tokens outlived logout, family revocation and disable/re-enable until they expired."""
    # logout
    first = await login(client, world)
    assert (await client.get(ME, headers=_bearer(first))).status_code == 200
    await client.post(LOGOUT, json={"refresh_token": refresh_cookie(first).value})
    assert (await client.get(ME, headers=_bearer(first))).status_code == 401
    # reuse detection revokes the family: its access tokens die with it, another device's do not
    second = await login(client, world)
    stolen = refresh_cookie(second).value
    rotated = await client.post(REFRESH, json={"refresh_token": stolen})
    other_device = await login(client, world)
    assert (await client.get(ME, headers=_bearer(rotated))).status_code == 200
    await _rotated_long_ago(world, stolen)  # past the two-tabs grace window: a reuse
    assert (await client.post(REFRESH, json={"refresh_token": stolen})).status_code == 401
    assert (await client.get(ME, headers=_bearer(second))).status_code == 401
    assert (await client.get(ME, headers=_bearer(rotated))).status_code == 401
    assert (await client.get(ME, headers=_bearer(other_device))).status_code == 200
    # disable then re-enable: the tokens of before stay dead
    admin = world.headers("admin")
    user_url = f"/api/admin/users/{world.users['viewer']}"
    assert (await client.patch(user_url, json={"status": "DISABLED"}, headers=admin)).status_code == 200
    assert (await client.patch(user_url, json={"status": "ACTIVE"}, headers=admin)).status_code == 200
    assert (await client.get(ME, headers=_bearer(other_device))).status_code == 401
    assert (await client.get(ME, headers=_bearer(await login(client, world)))).status_code == 200


async def test_an_access_token_without_a_session_is_refused(client: httpx.AsyncClient, world: World) -> None:
    bare = world.keyring.issue_access_token(str(world.users["viewer"]), 900, {})
    assert (await client.get(ME, headers={"Authorization": f"Bearer {bare}"})).status_code == 401
    forged = world.keyring.issue_access_token(str(world.users["viewer"]), 900, {"sid": str(uuid.uuid4())})
    assert (await client.get(ME, headers={"Authorization": f"Bearer {forged}"})).status_code == 401
    someone_elses = world.token_for(world.users["operator"])
    claims = world.keyring.verify_access_token(someone_elses)
    theirs = world.keyring.issue_access_token(str(world.users["viewer"]), 900, {"sid": claims["sid"]})
    assert (await client.get(ME, headers={"Authorization": f"Bearer {theirs}"})).status_code == 401
