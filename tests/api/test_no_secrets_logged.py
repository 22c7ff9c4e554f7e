"""No password, token, hash or secret appears in a log line or an error body.

The flows run with log records captured *before* redaction (the record factory the app installs is
swapped for the plain one), so the code itself must never log a secret; redaction is only a backstop.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from api.auth.crypto import sha256_hex
from callaudit.logging import redact
from domain.models import ApiToken, RefreshToken, User
from tests.api.conftest import TEST_JWT_SECRET
from tests.fixtures.world import PASSWORD, World, refresh_cookie


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name} {text}")


@pytest.fixture
def raw_logs() -> Iterator[Capture]:
    """Every record of every logger at DEBUG for our code, unredacted."""
    capture = Capture()
    root = logging.getLogger()
    factory = logging.getLogRecordFactory()
    levels = {name: logging.getLogger(name).level for name in ("callaudit", "api")}
    logging.setLogRecordFactory(logging.LogRecord)
    root.addHandler(capture)
    for name in levels:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        logging.setLogRecordFactory(factory)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


async def test_auth_flows_log_no_secrets(client: httpx.AsyncClient, world: World, raw_logs: Capture) -> None:
    secrets: set[str] = {PASSWORD, TEST_JWT_SECRET, world.api_token, "wrong password 123", "a new password 456"}
    bodies: list[str] = []

    async def call(method: str, url: str, **kwargs: object) -> httpx.Response:
        response = await client.request(method, url, **kwargs)  # type: ignore[arg-type]
        if response.status_code >= 400:
            bodies.append(response.text)
        return response

    admin = world.headers("admin")
    secrets.add(admin["Authorization"].removeprefix("Bearer "))
    # logins: success, wrong password, unknown account, throttled
    login = await call("POST", "/api/auth/login", json={"email": world.emails["viewer"], "password": PASSWORD})
    access = login.json()["data"]["access_token"]
    refresh = refresh_cookie(login).value
    secrets |= {access, refresh}
    for _ in range(6):
        await call(
            "POST", "/api/auth/login", json={"email": world.emails["operator"], "password": "wrong password 123"}
        )
    await call("POST", "/api/auth/login", json={"email": "ghost@example.test", "password": "wrong password 123"})
    # refresh rotation, reuse, logout
    rotated = await call("POST", "/api/auth/refresh", json={"refresh_token": refresh})
    successor = refresh_cookie(rotated).value
    secrets |= {successor, rotated.json()["data"]["access_token"]}
    await call("POST", "/api/auth/refresh", json={"refresh_token": refresh})  # reuse: family revoked
    await call("POST", "/api/auth/logout", json={"refresh_token": successor})
    # bad credentials of every kind
    await call("GET", "/api/auth/me", headers={"Authorization": f"Bearer {access}x"})
    await call("GET", "/api/auth/me", headers={"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."})
    await call("GET", "/api/auth/me", headers={"X-API-Key": world.api_token + "x"})
    # invitations and passwords set by an admin
    created = await call("POST", "/api/admin/users", json={"email": "invitee@example.test"}, headers=admin)
    invite = created.json()["data"]["invite_token"]
    secrets.add(invite)
    await call("POST", "/api/auth/invite/accept", json={"invite_token": invite, "password": "a new password 456"})
    await call("POST", "/api/auth/invite/accept", json={"invite_token": invite, "password": "a new password 456"})
    await call(
        "PATCH", f"/api/admin/users/{world.users['self_user']}", json={"password": "a new password 456"}, headers=admin
    )
    await call("POST", "/api/admin/users", json={"email": "bad", "password": "a new password 456"}, headers=admin)
    # API tokens: creation (shown once), use, failed use
    token = await call(
        "POST", "/api/admin/api-tokens", headers=admin,
        json={"name": "bot", "permission_grants": [{"key": "fiches", "read": True, "scope": "ALL"}]},
    )  # fmt: skip
    secret = token.json()["data"]["token"]
    secrets.add(secret)
    await call("GET", "/api/_probe/fiches", headers={"X-API-Key": secret})
    await call("GET", "/api/admin/users", headers={"Authorization": f"Bearer {secret}"})

    # everything stored that must stay secret: password hashes, token hashes
    secrets |= {h for h in (await world.session.scalars(select(User.password_hash))).all() if h}
    secrets |= set((await world.session.scalars(select(RefreshToken.token_hash))).all())
    secrets |= set((await world.session.scalars(select(ApiToken.token_hash))).all())
    secrets.add(sha256_hex(invite))

    assert raw_logs.lines, "the flows should have logged something"
    logged = "\n".join(raw_logs.lines)
    leaks = sorted(s for s in secrets if s and s in logged)
    assert leaks == [], f"secrets in logs: {leaks}"
    errors = "\n".join(bodies)
    assert len(bodies) >= 10
    assert sorted(s for s in secrets if s and s in errors) == []
    # the e-mail of a failed login is not logged either (no account enumeration through logs)
    assert "ghost@example.test" not in logged


def test_redaction_backstop_masks_stored_secret_shapes() -> None:
    line = (
        "IntegrityError [parameters: {'token_hash': 'a3f5', "
        "'password_hash': '$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA', "
        "'refresh_token': 'ca_rt_0123456789abcdef'}] "
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"
    )
    scrubbed = redact(line)
    for secret in ("a3f5", "$argon2id", "ca_rt_0123456789abcdef", "eyJzdWIiOiIxIn0"):
        assert secret not in scrubbed
