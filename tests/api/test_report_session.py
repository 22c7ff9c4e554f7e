"""The report pages' cookie: exchanged for an access token, accepted on the pages' GETs only, ended
with its login session, RBAC as with the header."""

from __future__ import annotations

import datetime as dt

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from api.auth.service import revoke_family
from api.reports.session import require_page
from tests.api.conftest import client_for
from tests.fixtures.factories.reports import add_reported_audit
from tests.fixtures.world import World

COOKIE = "callaudit-reports"  # AUTH_COOKIE_SECURE is off in the tests: no `__Host-` prefix


async def _cookie(client: httpx.AsyncClient, world: World, principal: str, next_: str | None = None) -> str:
    params = {"next": next_} if next_ else {}
    response = await client.post("/reports/session", params=params, headers=world.headers(principal))
    assert response.status_code == 303, response.text
    value = response.cookies.get(COOKIE)
    assert value
    client.cookies.clear()  # each test says which cookie it sends
    return value


async def test_an_access_token_is_exchanged_for_a_short_lived_httponly_cookie_and_a_redirect(
    client: httpx.AsyncClient, world: World
) -> None:
    audit_id, _ = await add_reported_audit(world, "own")
    await world.commit()
    response = await client.post(
        "/reports/session", params={"next": f"/reports/audits/{audit_id}"}, headers=world.headers("viewer")
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/reports/audits/{audit_id}"
    assert response.headers["cache-control"] == "no-store"
    set_cookie = response.headers["set-cookie"]
    for attribute in ("HttpOnly", "Path=/", "SameSite=lax", f"Max-Age={world.settings.report_session_ttl_seconds}"):
        assert attribute in set_cookie, attribute
    assert "Secure" not in set_cookie  # local http in the tests; see the Secure test below
    # without `next`: today's overview
    default = await client.post("/reports/session", headers=world.headers("viewer"))
    assert default.headers["location"].startswith("/reports/days/")


async def test_the_cookie_is_secure_and_host_prefixed_when_cookies_are_secure(
    app_factory: object, world: World
) -> None:
    application: FastAPI = await app_factory(auth_cookie_secure=True)  # type: ignore[operator]
    async with client_for(application) as secure:
        response = await secure.post("/reports/session", headers=world.headers("viewer"))
    assert response.status_code == 303
    set_cookie = response.headers["set-cookie"]
    assert set_cookie.startswith("__Host-callaudit-reports=")
    assert "Secure" in set_cookie
    assert "Domain" not in set_cookie


async def test_next_must_be_a_report_page_of_this_origin(client: httpx.AsyncClient, world: World) -> None:
    for target in ("https://evil.example/reports/x", "//evil.example/reports/", "/api/audits", "/reports//evil"):
        response = await client.post("/reports/session", params={"next": target}, headers=world.headers("viewer"))
        assert response.status_code == 400, target
        assert response.json()["field"] == "query.next"
        assert "set-cookie" not in response.headers


async def test_only_a_user_access_token_opens_a_session(client: httpx.AsyncClient, world: World) -> None:
    assert (await client.post("/reports/session")).status_code == 401
    assert (await client.post("/reports/session", headers=world.headers("token"))).status_code == 403
    # a cookie never opens another one
    cookie = await _cookie(client, world, "viewer")
    again = await client.post("/reports/session", headers={"Cookie": f"{COOKIE}={cookie}"})
    assert again.status_code == 401


async def test_the_cookie_alone_opens_the_report_and_its_recordings_with_the_users_grants(
    client: httpx.AsyncClient, world: World
) -> None:
    own, call_id = await add_reported_audit(world, "own")
    other, _ = await add_reported_audit(world, "other")
    await world.commit()
    viewer = {"Cookie": f"{COOKIE}={await _cookie(client, world, 'viewer')}"}
    page = await client.get(f"/reports/audits/{own}", headers=viewer)
    assert page.status_code == 200
    assert f'src="/api/recordings/F-OWN/{call_id}/audio#t=0.0,1.0"' in page.text
    audio = await client.get(f"/api/recordings/F-OWN/{call_id}/audio", headers=viewer | {"Range": "bytes=0-43"})
    assert audio.status_code == 206
    assert (await client.get(f"/reports/days/{dt.date.today().isoformat()}", headers=viewer)).status_code == 200
    # out of the viewer's group: 404 as with the header
    assert (await client.get(f"/reports/audits/{other}", headers=viewer)).status_code == 404
    # an agent (SELF, no recordings grant): the page without players, as with the header
    agent = {"Cookie": f"{COOKIE}={await _cookie(client, world, 'self_user')}"}
    as_agent = await client.get(f"/reports/audits/{own}", headers=agent)
    assert as_agent.status_code == 200
    assert "<audio" not in as_agent.text
    assert (await client.get(f"/api/recordings/F-OWN/{call_id}/audio", headers=agent)).status_code == 403


async def test_the_cookie_is_refused_on_api_routes_and_on_any_write(client: httpx.AsyncClient, world: World) -> None:
    audit_id, _ = await add_reported_audit(world, "own")
    await world.commit()
    cookie = {"Cookie": f"{COOKIE}={await _cookie(client, world, 'admin')}"}
    created = await client.post(f"/api/reports/audits/{audit_id}/share-links", json={}, headers=cookie)
    assert created.status_code == 401
    assert created.json()["code"] == "AUTHENTICATION_ERROR"
    assert (await client.get(f"/api/audits/{audit_id}", headers=cookie)).status_code == 401
    assert (await client.delete(f"/api/audits/{audit_id}", headers=cookie)).status_code == 401
    # nor is the cookie's token a bearer token, nor an access token a cookie
    token = cookie["Cookie"].split("=", 1)[1]
    bearer = await client.get(f"/reports/audits/{audit_id}", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 401
    forged = await client.get(
        f"/reports/audits/{audit_id}", headers={"Cookie": f"{COOKIE}={world.access_token('admin')}"}
    )
    assert forged.status_code == 401


async def test_ending_the_login_session_ends_the_cookie(client: httpx.AsyncClient, world: World) -> None:
    audit_id, _ = await add_reported_audit(world, "own")
    await world.commit()
    cookie = {"Cookie": f"{COOKIE}={await _cookie(client, world, 'viewer')}"}
    assert (await client.get(f"/reports/audits/{audit_id}", headers=cookie)).status_code == 200
    await revoke_family(world.session, world.session_ids[world.users["viewer"]])
    await world.commit()
    refused = await client.get(f"/reports/audits/{audit_id}", headers=cookie)
    assert refused.status_code == 401


def test_only_get_routes_accept_the_cookie(app: FastAPI) -> None:
    """CSRF by construction: a route that reads the cookie must be safe."""
    found = []
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and any(isinstance(d.call, require_page) for d in route.dependant.dependencies):
            found.append(str(context.path))
            assert set(context.methods or ()) <= {"GET", "HEAD"}, context.path
    assert sorted(found) == [
        "/api/recordings/{fiche_id}/{call_id}/audio",
        "/reports/audits/{audit_id}",
        "/reports/days/{day}",
    ]
