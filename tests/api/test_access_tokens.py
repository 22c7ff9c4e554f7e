"""Access tokens (JWT): only well-formed, current, correctly signed tokens for active users pass."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import update

from api.auth import crypto
from api.auth.crypto import (
    ACCESS_TOKEN_TYPE,
    LEEWAY_SECONDS,
    REPORT_COOKIE_TYPE,
    InvalidAccessToken,
    Keyring,
    build_keyring,
    key_id,
)
from callaudit.settings import Settings
from domain.models import Role, TeamMember, User, UserRole, UserStatus
from tests.api.conftest import TEST_JWT_SECRET, make_settings
from tests.fixtures.world import World

ME = "/api/auth/me"


def _claims(world: World, **overrides: Any) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    claims: dict[str, Any] = {
        "sub": str(world.users["viewer"]),
        "iss": world.settings.jwt_issuer,
        "aud": world.settings.jwt_audience,
        "iat": now,
        "nbf": now,
        "exp": now + dt.timedelta(minutes=5),
        "jti": "test-jti",
        "sid": world.session_ids[world.users["viewer"]],
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _sign(claims: dict[str, Any], key: bytes = TEST_JWT_SECRET.encode(), **header: Any) -> str:
    headers = {"kid": key_id(TEST_JWT_SECRET.encode()), "typ": ACCESS_TOKEN_TYPE, **header}
    return jwt.encode(claims, key, algorithm="HS256", headers={k: v for k, v in headers.items() if v is not None})


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, default=str).encode()).rstrip(b"=").decode()


async def _status(client: httpx.AsyncClient, token: str) -> int:
    response = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    if response.status_code == 401:
        assert response.json()["code"] == "AUTHENTICATION_ERROR"
        assert response.json()["error"] == "Invalid or expired credentials"
    return response.status_code


async def test_a_valid_token_is_accepted(client: httpx.AsyncClient, world: World) -> None:
    assert await _status(client, _sign(_claims(world))) == 200
    assert await _status(client, world.access_token("viewer")) == 200


async def test_alg_none_is_rejected(client: httpx.AsyncClient, world: World) -> None:
    claims = {k: int(v.timestamp()) if isinstance(v, dt.datetime) else v for k, v in _claims(world).items()}
    header = {"alg": "none", "typ": ACCESS_TOKEN_TYPE, "kid": key_id(TEST_JWT_SECRET.encode())}
    assert await _status(client, f"{_b64(header)}.{_b64(claims)}.") == 401


async def test_other_algorithms_are_rejected(client: httpx.AsyncClient, world: World) -> None:
    token = jwt.encode(
        _claims(world), TEST_JWT_SECRET.encode() * 2, algorithm="HS512",
        headers={"kid": key_id(TEST_JWT_SECRET.encode()), "typ": ACCESS_TOKEN_TYPE},
    )  # fmt: skip
    assert await _status(client, token) == 401


async def test_wrong_key_is_rejected(client: httpx.AsyncClient, world: World) -> None:
    other = b"another-secret-of-sufficient-length-000000"
    assert await _status(client, _sign(_claims(world), other)) == 401  # our kid, wrong key
    assert await _status(client, _sign(_claims(world), other, kid=key_id(other))) == 401  # unknown kid
    assert await _status(client, _sign(_claims(world), kid=None)) == 401  # no kid


async def test_tampered_payload_is_rejected(client: httpx.AsyncClient, world: World) -> None:
    header, _, signature = _sign(_claims(world)).split(".")
    forged = _b64({**_claims(world, sub=str(world.users["admin"])), "iat": 0, "nbf": 0, "exp": 4_000_000_000})
    assert await _status(client, f"{header}.{forged}.{signature}") == 401


async def test_expired_token_is_rejected(client: httpx.AsyncClient, world: World) -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    token = _sign(_claims(world, iat=past, nbf=past, exp=past + dt.timedelta(minutes=15)))
    assert await _status(client, token) == 401


async def test_not_yet_valid_token_is_rejected(client: httpx.AsyncClient, world: World) -> None:
    future = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    assert await _status(client, _sign(_claims(world, nbf=future))) == 401


@pytest.mark.parametrize("claim", ["aud", "iss"])
async def test_wrong_audience_or_issuer_is_rejected(client: httpx.AsyncClient, world: World, claim: str) -> None:
    assert await _status(client, _sign(_claims(world, **{claim: "someone-else"}))) == 401


@pytest.mark.parametrize("claim", ["exp", "iat", "nbf", "sub", "jti", "aud", "iss"])
async def test_missing_required_claim_is_rejected(client: httpx.AsyncClient, world: World, claim: str) -> None:
    claims = _claims(world)
    del claims[claim]
    assert await _status(client, _sign(claims)) == 401


async def test_wrong_token_type_is_rejected(client: httpx.AsyncClient, world: World) -> None:
    assert await _status(client, _sign(_claims(world), typ="JWT")) == 401


@pytest.mark.parametrize("garbage", ["x", "eyJ.eyJ.sig", "not a jwt at all", "a.b.c.d"])
async def test_garbage_is_rejected(client: httpx.AsyncClient, world: World, garbage: str) -> None:
    assert await _status(client, garbage) == 401


@pytest.mark.parametrize("subject", ["admin", "0", "-4", "99999999999999999999999"])
async def test_invalid_subject_is_rejected(client: httpx.AsyncClient, world: World, subject: str) -> None:
    assert await _status(client, _sign(_claims(world, sub=subject))) == 401


async def test_previous_key_verifies_during_rotation(app_factory: Any, world: World, api_settings: Settings) -> None:
    old_token = world.access_token("viewer")  # signed with the current test key
    new_secret = "a-brand-new-signing-secret-0123456789abcd"
    rotated = await app_factory(jwt_access_secret=new_secret, jwt_access_secret_previous=TEST_JWT_SECRET)
    unrotated = await app_factory(jwt_access_secret=new_secret)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=rotated), base_url="http://test") as client:
        assert await _status(client, old_token) == 200
        # and it signs with the new key
        keyring: Keyring = build_keyring(rotated.state.callaudit.settings)
        assert keyring.current_kid == key_id(new_secret.encode())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=unrotated), base_url="http://test") as client:
        assert await _status(client, old_token) == 401


async def test_disabled_user_is_rejected_on_the_next_request(client: httpx.AsyncClient, world: World) -> None:
    token = world.access_token("viewer")
    assert await _status(client, token) == 200
    await world.session.execute(update(User).where(User.id == world.users["viewer"]).values(status=UserStatus.DISABLED))
    assert await _status(client, token) == 401


async def test_disabling_through_the_admin_api_is_immediate(client: httpx.AsyncClient, world: World) -> None:
    token = world.access_token("operator")
    assert await _status(client, token) == 200
    response = await client.patch(
        f"/api/admin/users/{world.users['operator']}", json={"status": "DISABLED"}, headers=world.headers("admin")
    )
    assert response.status_code == 200, response.text
    assert await _status(client, token) == 401
    # and the operator's API token dies with them
    response = await client.get("/api/_probe/fiches", headers=world.headers("token"))
    assert response.status_code == 401


async def test_deleted_user_is_rejected(client: httpx.AsyncClient, world: World) -> None:
    user_id = await world.add_user("gone@example.test")
    token = world.token_for(user_id)
    assert await _status(client, token) == 200
    await world.session.delete(await world.session.get(User, user_id))
    assert await _status(client, token) == 401


async def test_role_changes_apply_on_the_next_request(client: httpx.AsyncClient, world: World) -> None:
    headers = world.headers("viewer")
    assert (await client.get("/api/admin/users", headers=headers)).status_code == 403
    await world.session.execute(
        update(UserRole).where(UserRole.user_id == world.users["viewer"]).values(role_id=world.roles["admin"])
    )
    assert (await client.get("/api/admin/users", headers=headers)).status_code == 200
    me = (await client.get(ME, headers=headers)).json()["data"]["user"]
    assert me["roles"] == ["admin"]


async def test_team_changes_apply_on_the_next_request(client: httpx.AsyncClient, world: World) -> None:
    headers = world.headers("viewer")
    url = f"/api/_probe/fiches/{world.fiches['other']}"
    assert (await client.get(url, headers=headers)).status_code == 404
    world.session.add(TeamMember(team_id=world.teams["other"], user_id=world.users["viewer"]))
    assert (await client.get(url, headers=headers)).status_code == 200


async def test_claims_are_not_trusted(client: httpx.AsyncClient, world: World) -> None:
    """Roles and grants in the token are informational: forging them (with a valid signature) changes nothing."""
    token = world.token_for(world.users["viewer"], {"roles": ["admin"], "permission_grants": [{"key": "admin.users"}]})
    response = await client.get("/api/admin/users", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403


async def test_machine_tokens_cannot_use_me(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(ME, headers=world.headers("token"))
    assert response.status_code == 403


async def test_short_secrets_are_refused_at_start(tmp_path: Any) -> None:
    from callaudit.settings import SettingsError

    with pytest.raises(SettingsError, match="JWT_ACCESS_SECRET"):
        make_settings("postgresql://x/y", "redis://x", tmp_path, jwt_access_secret="short")


async def test_development_key_is_generated_once(tmp_path: Any) -> None:
    settings = make_settings("postgresql://x/y", "redis://x", tmp_path, jwt_access_secret=None)
    first = build_keyring(settings)
    key_file = tmp_path / "jwt-dev.key"
    assert key_file.exists()
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert build_keyring(settings).current_kid == first.current_kid


async def test_role_model_is_loaded(world: World) -> None:
    assert await world.session.get(Role, world.roles["viewer"]) is not None


def _keyring() -> Keyring:
    return Keyring(
        key_id(TEST_JWT_SECRET.encode()), {key_id(TEST_JWT_SECRET.encode()): TEST_JWT_SECRET.encode()}, "iss", "aud"
    )


def _token_claims(expires_in: dt.timedelta) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {"sub": "7", "iss": "iss", "aud": "aud", "iat": now, "nbf": now, "exp": now + expires_in, "jti": "j"}


def test_a_remembered_token_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    """The keyring remembers a verified token (decision 123), but never past its expiry."""
    keyring = _keyring()
    token = _sign(_token_claims(dt.timedelta(minutes=1)))
    assert keyring.verify_access_token(token)["sub"] == "7"
    monkeypatch.setattr(jwt, "decode", lambda *a, **k: pytest.fail("verified again"))
    assert keyring.verify_access_token(token)["sub"] == "7"  # remembered, not decoded again
    later = dt.datetime.now(dt.UTC).timestamp() + 60 + LEEWAY_SECONDS
    monkeypatch.setattr(time, "time", lambda: later)
    with pytest.raises(InvalidAccessToken, match="Expired"):
        keyring.verify_access_token(token)


def test_a_remembered_token_is_still_checked_for_its_type_and_stays_read_only() -> None:
    keyring = _keyring()
    token = _sign(_token_claims(dt.timedelta(minutes=1)))
    claims = keyring.verify_access_token(token)
    with pytest.raises(InvalidAccessToken, match="type"):
        keyring.verify_access_token(token, typ=REPORT_COOKIE_TYPE)
    with pytest.raises(TypeError):
        claims["sub"] = "1"  # type: ignore[index]
    assert keyring.verify_access_token(token)["sub"] == "7"


def test_a_refused_token_is_not_remembered_and_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    keyring = _keyring()
    monkeypatch.setattr(crypto, "VERIFIED_TOKENS", 3)
    with pytest.raises(InvalidAccessToken):
        keyring.verify_access_token(_sign(_token_claims(dt.timedelta(minutes=1)), key=b"another-key-" * 4))
    tokens = [_sign({**_token_claims(dt.timedelta(minutes=1)), "jti": str(n)}) for n in range(5)]
    for token in tokens:
        keyring.verify_access_token(token)
    assert len(keyring._verified) == 3
    assert [token for token, _ in keyring._verified] == tokens[2:]  # the oldest go first
