"""Runs the authorization matrix of `tests/api/matrix.py` and checks it covers every `/api` route."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from api.auth.dependencies import get_user_principal, require
from tests.api.matrix import ROUTES, Route
from tests.fixtures.sse import StreamingASGITransport
from tests.fixtures.world import OWNERSHIPS, PRINCIPALS, World

CASES = [
    pytest.param(route, principal, ownership, id=f"{route.method} {route.path} | {principal} | {ownership}")
    for route in ROUTES
    for principal in PRINCIPALS
    for ownership in (OWNERSHIPS if route.entity else ("-",))
]

ERROR_CODES = {
    400: "VALIDATION_ERROR",
    401: "AUTHENTICATION_ERROR",
    403: "AUTHORIZATION_ERROR",
    404: "NOT_FOUND",
    409: "CONFLICT",
}


@pytest.mark.parametrize(("route", "principal", "ownership"), CASES)
async def test_matrix(
    route: Route, principal: str, ownership: str, app: FastAPI, client: httpx.AsyncClient, world: World
) -> None:
    request = await route.prepare(world, ownership)
    await world.commit()
    expected = route.expected(principal, ownership)
    if route.stream:
        async with (
            httpx.AsyncClient(transport=StreamingASGITransport(app), base_url="http://test") as streaming,
            streaming.stream(
                route.method,
                route.path.format(**request.path),
                params=request.params,
                json=request.json,
                headers=world.headers(principal),
            ) as streamed,
        ):
            assert streamed.status_code == expected
            if expected < 400:
                assert streamed.headers["content-type"].startswith("text/event-stream")
                return
            await streamed.aread()
        response = streamed
    else:
        response = await client.request(
            route.method,
            route.path.format(**request.path),
            json=request.json,
            data=request.form,
            params=request.params,
            headers=world.headers(principal) | request.headers,
        )
    assert response.status_code == expected, response.text
    if 300 <= expected < 400:
        assert response.headers["location"]
        return
    if expected < 400 and route.media != "application/json":
        assert response.headers["content-type"].startswith(route.media)
        return
    body = response.json()
    if expected < 400 and not route.enveloped:
        assert "success" not in body
    elif expected < 400:
        assert body["success"] is True
        assert "data" in body
    else:
        assert body["success"] is False
        assert body["code"] == ERROR_CODES[expected]
        assert isinstance(body["error"], str)
        assert body["error"]
    if expected == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def _guards(route: APIRoute) -> set[str]:
    found: set[str] = set()
    stack: list[Any] = [route.dependant]
    while stack:
        dependant = stack.pop()
        call = dependant.call
        if isinstance(call, require):
            found.add(call.guard)
        elif call is get_user_principal:
            found.add("user")
        stack.extend(dependant.dependencies)
    return found


def _api_routes(application: FastAPI) -> dict[tuple[str, str], APIRoute]:
    """Every (method, full path) under /api and /reports; FastAPI >= 0.16x keeps included routers unflattened."""
    routes = {}
    for context in iter_route_contexts(application.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and context.path and context.path.startswith(("/api/", "/reports/")):
            path = re.sub(r":\w+}", "}", context.path)  # `{team_id:int}` is `{team_id}` to clients
            for method in context.methods or ():
                routes[(method, path)] = route
    return routes


def test_every_api_route_is_in_the_matrix(app: FastAPI) -> None:
    in_app = _api_routes(app)
    in_matrix = {r.key for r in ROUTES}
    assert sorted(set(in_app) - in_matrix) == [], "routes without a matrix row: add them to tests/api/matrix.py"
    assert sorted(in_matrix - set(in_app)) == [], "matrix rows for routes that do not exist"


def test_matrix_guards_match_the_routes(app: FastAPI) -> None:
    routes = _api_routes(app)
    for row in ROUTES:
        guards = _guards(routes[row.key])
        assert guards == ({row.guard} if row.guard else set()), f"{row.method} {row.path}: {guards} != {row.guard}"


def test_matrix_rows_name_every_principal() -> None:
    for row in ROUTES:
        assert set(row.expect) == set(PRINCIPALS), row.key
        for value in row.expect.values():
            assert isinstance(value, int) or row.entity, f"{row.key}: own/other expectations need entity=True"
