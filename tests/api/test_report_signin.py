"""The report pages' sign-in form: CSRF-protected, throttled and logged as `/api/auth/login` is (one
shared code path), back to the page asked for (never another site), and sign-out."""

from __future__ import annotations

import logging
import re

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from api.auth.ratelimit import LoginLimiter
from domain.models import User, UserStatus
from tests.api.conftest import client_for
from tests.fixtures.factories.reports import add_reported_audit
from tests.fixtures.reports_html import html_problems
from tests.fixtures.world import PASSWORD, World

COOKIE = "callaudit-reports"  # AUTH_COOKIE_SECURE is off in the tests: no `__Host-` prefixes
LOGIN_COOKIE = "callaudit-login"
BROWSER = {"Accept": "text/html,application/xhtml+xml"}


def _token(html: str, name: str = "csrf_token") -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found, f"no {name} in the page"
    return found.group(1)


async def _open_form(client: httpx.AsyncClient, next_: str | None = None) -> str:
    """GET the form as a browser does (the client keeps its pre-session cookie): its CSRF token."""
    response = await client.get("/reports/login", params={"next": next_} if next_ else {}, headers=BROWSER)
    assert response.status_code == 200, response.text
    return _token(response.text)


async def _submit(client: httpx.AsyncClient, token: str, email: str, password: str, **extra: str) -> httpx.Response:
    return await client.post(
        "/reports/login", data={"email": email, "password": password, "csrf_token": token, **extra}
    )


async def test_the_form_is_french_valid_html_and_sets_a_strict_pre_session_cookie(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.get("/reports/login", params={"next": "/reports/audits/7"}, headers=BROWSER)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert html_problems(response.text) == []
    for text in ('<html lang="fr">', '<label for="login-email">', '<label for="login-password">', "Se connecter"):
        assert text in response.text, text
    assert 'name="next" value="/reports/audits/7"' in response.text
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith(f"{LOGIN_COOKIE}=")
    for attribute in ("HttpOnly", "Path=/", "SameSite=strict"):
        assert attribute in set_cookie, attribute


async def test_signing_in_sets_the_report_cookie_and_goes_back_to_the_page_asked_for(
    client: httpx.AsyncClient, world: World
) -> None:
    audit_id, _ = await add_reported_audit(world, "own")
    await world.commit()
    report = f"/reports/audits/{audit_id}"
    # the page without a session: a French 401 linking to the form, coming back here
    refused = await client.get(report, headers=BROWSER)
    assert refused.status_code == 401
    assert f'href="/reports/login?next=/reports/audits/{audit_id}"' in refused.text
    token = await _open_form(client, report)
    signed_in = await _submit(client, token, world.emails["viewer"], PASSWORD, next=report)
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"] == report
    assert signed_in.headers["cache-control"] == "no-store"
    cookies = signed_in.headers.get_list("set-cookie")
    report_cookie = next(c for c in cookies if c.startswith(f"{COOKIE}="))
    for attribute in ("HttpOnly", "SameSite=lax", f"Max-Age={world.settings.report_session_ttl_seconds}"):
        assert attribute in report_cookie, attribute
    assert any(c.startswith(f'{LOGIN_COOKIE}=""') and "Max-Age=0" in c for c in cookies)  # used up
    # the cookie alone opens the page, which offers to sign out
    page = await client.get(report, headers=BROWSER)
    assert page.status_code == 200
    assert 'action="/reports/logout"' in page.text
    assert html_problems(page.text) == []
    # opened with the header (no cookie), the page has nothing to sign out of
    client.cookies.clear()
    assert 'action="/reports/logout"' not in (await client.get(report, headers=world.headers("viewer"))).text
    # without `next`: today's overview
    token = await _open_form(client)
    default = await _submit(client, token, world.emails["viewer"], PASSWORD)
    assert default.headers["location"].startswith("/reports/days/")


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/reports/x",
        "//evil.example/reports/x",
        "/\\evil.example/reports/",
        "/reports//evil.example",
        "/api/audits",
        "/reports/x\nSet-Cookie: a=b",
        "/reports/x\n",
        "javascript:alert(1)//reports/",
    ],
)
async def test_next_is_only_ever_a_report_page_of_this_server(
    client: httpx.AsyncClient, world: World, target: str
) -> None:
    shown = await client.get("/reports/login", params={"next": target})
    assert shown.status_code == 400
    assert shown.json()["field"] == "query.next"
    token = await _open_form(client)
    posted = await _submit(client, token, world.emails["viewer"], PASSWORD, next=target)
    assert posted.status_code == 400
    assert "location" not in posted.headers
    assert COOKIE not in posted.headers.get("set-cookie", "")


async def test_a_form_without_its_own_csrf_pair_or_from_another_origin_is_refused_before_any_password_check(
    client: httpx.AsyncClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    email = world.emails["viewer"]
    token = await _open_form(client)
    nonce = client.cookies[LOGIN_COOKIE]
    attempts = {
        "no token": {"email": email, "password": PASSWORD},
        "a forged token": {"email": email, "password": PASSWORD, "csrf_token": token[:-4] + "AAAA"},
    }
    for reason, form in attempts.items():
        refused = await client.post("/reports/login", data=form)
        assert refused.status_code == 403, reason
    # the token without its cookie (a page of another browser replayed), or another form's token
    client.cookies.clear()
    assert (await _submit(client, token, email, PASSWORD)).status_code == 403
    client.cookies.set(LOGIN_COOKIE, "x" * 43)
    assert (await _submit(client, token, email, PASSWORD)).status_code == 403
    client.cookies.set(LOGIN_COOKIE, nonce)
    foreign = await client.post(
        "/reports/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    assert "Ce formulaire a expiré" in foreign.text
    assert COOKIE not in foreign.headers.get("set-cookie", "")
    # Referrer-Policy: no-referrer makes a browser send `Origin: null`: the token pair decides
    with caplog.at_level(logging.INFO, logger="callaudit.auth"):
        accepted = await _submit(client, token, email, PASSWORD)
    assert accepted.status_code == 303
    assert accepted.headers["location"].startswith("/reports/days/")
    assert accepted.headers["referrer-policy"] == "no-referrer"
    assert any("login succeeded for user" in r.getMessage() for r in caplog.records)


async def test_wrong_credentials_show_one_message_and_count_towards_the_shared_lockout(
    client: httpx.AsyncClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    email = world.emails["viewer"]
    limit = world.settings.auth_login_max_attempts
    with caplog.at_level(logging.INFO, logger="callaudit.auth"):
        # an unknown account and a wrong password read the same
        for who in ["personne@example.test"] + [email] * (limit - 1):
            token = await _open_form(client)
            refused = await _submit(client, token, who, "wrong password")
            assert refused.status_code == 401
            assert "Adresse e-mail ou mot de passe incorrect." in refused.text
            assert f'value="{who}"' in refused.text  # the e-mail is kept, never the password
            assert "wrong password" not in refused.text
            assert html_problems(refused.text) == []
        # the last allowed failure through the JSON login: the counters are one and the same
        json_login = await client.post("/api/auth/login", json={"email": email, "password": "wrong password"})
        assert json_login.status_code == 401
        token = await _open_form(client)
        locked = await _submit(client, token, email, PASSWORD)  # even the right password waits
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= world.settings.auth_login_window_seconds
    assert "Trop de tentatives de connexion" in locked.text
    assert COOKIE not in locked.headers.get("set-cookie", "")
    # the JSON login is locked out by the form's failures too
    assert (await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})).status_code == 429
    failures = [r.getMessage() for r in caplog.records if r.getMessage().startswith("login failed from")]
    assert len(failures) == limit + 1  # the form's and the JSON login's, logged alike
    assert all("wrong password" not in r.getMessage() and email not in r.getMessage() for r in caplog.records)


async def test_a_lockout_from_the_form_ends_with_its_window(
    client: httpx.AsyncClient, world: World, redis_client: object
) -> None:
    email = world.emails["operator"]
    for _ in range(world.settings.auth_login_max_attempts):
        assert (await _submit(client, await _open_form(client), email, "wrong password")).status_code == 401
    assert (await _submit(client, await _open_form(client), email, PASSWORD)).status_code == 429
    redis_client.delete(LoginLimiter.account_key(email, "127.0.0.1"))  # type: ignore[attr-defined]
    assert (await _submit(client, await _open_form(client), email, PASSWORD)).status_code == 303


async def test_a_disabled_user_cannot_sign_in_with_the_form(client: httpx.AsyncClient, world: World) -> None:
    await world.session.execute(update(User).where(User.id == world.users["viewer"]).values(status=UserStatus.DISABLED))
    await world.commit()
    refused = await _submit(client, await _open_form(client), world.emails["viewer"], PASSWORD)
    assert refused.status_code == 401
    assert "Adresse e-mail ou mot de passe incorrect." in refused.text


async def test_malformed_input_is_the_form_again(client: httpx.AsyncClient, world: World) -> None:
    refused = await _submit(client, await _open_form(client), "not an address", PASSWORD)
    assert refused.status_code == 400
    assert "Saisissez une adresse e-mail et un mot de passe valides." in refused.text
    escaped = await _submit(client, await _open_form(client), '"><script>x</script>', PASSWORD)
    assert "<script>x" not in escaped.text


async def test_signing_out_ends_the_login_session_and_needs_the_pages_token(
    client: httpx.AsyncClient, world: World
) -> None:
    audit_id, _ = await add_reported_audit(world, "own")
    await world.commit()
    report = f"/reports/audits/{audit_id}"
    await _submit(client, await _open_form(client), world.emails["viewer"], PASSWORD, next=report)
    page = await client.get(report, headers=BROWSER)
    signout = _token(page.text)
    # a forged or missing token (a cross-site form cannot read the page) ends nothing
    assert (await client.post("/reports/logout", data={"csrf_token": "forged"})).status_code == 403
    assert (await client.post("/reports/logout")).status_code == 403
    foreign = await client.post(
        "/reports/logout", data={"csrf_token": signout}, headers={"Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert (await client.get(report, headers=BROWSER)).status_code == 200
    cookie = client.cookies[COOKIE]
    out = await client.post("/reports/logout", data={"csrf_token": signout})
    assert out.status_code == 303
    assert out.headers["location"] == "/reports/login"
    assert any(c.startswith(f'{COOKIE}=""') for c in out.headers.get_list("set-cookie"))
    # the cookie, replayed, is dead: its login session ended
    client.cookies.clear()
    assert (await client.get(report, headers={"Cookie": f"{COOKIE}={cookie}"})).status_code == 401
    # without a cookie there is nothing to end
    assert (await client.post("/reports/logout")).status_code == 303


async def test_the_pre_session_cookie_is_secure_and_host_prefixed_when_cookies_are_secure(
    app_factory: object, world: World
) -> None:
    application: FastAPI = await app_factory(auth_cookie_secure=True)  # type: ignore[operator]
    async with client_for(application) as secure:
        response = await secure.get("/reports/login")
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith("__Host-callaudit-login=")
    assert "Secure" in set_cookie
    assert "Domain" not in set_cookie
