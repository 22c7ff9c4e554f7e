"""Routing: a request reaches its route, or answers 404/405, whichever router it sits in (decision 118:
a router is skipped when the request's path cannot start like its routes')."""

from __future__ import annotations

import re
from collections import defaultdict

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
ROUTE_NOT_FOUND = {"success": False, "error": "Route not found", "code": "NOT_FOUND"}


def _paths(application: FastAPI) -> dict[str, set[str]]:
    """Every `/api` path (its parameters as `1`) and the methods its routes answer."""
    paths: dict[str, set[str]] = defaultdict(set)
    for context in iter_route_contexts(application.routes):
        if isinstance(context.original_route, APIRoute) and context.path and context.path.startswith("/api/"):
            paths[re.sub(r"\{[^}]+\}", "1", context.path)] |= set(context.methods or ())
    return paths


async def test_every_api_route_is_reached_and_other_methods_are_405(app: FastAPI, client: httpx.AsyncClient) -> None:
    paths = _paths(app)
    assert len(paths) > 100
    for path, methods in paths.items():
        # Another route may answer a method on a path its pattern also matches (`/audits/{id}`).
        elsewhere = set().union(*(paths[other] for other in paths if other != path and _same_shape(other, path)))
        for method in METHODS:
            response = await client.request(method, path)
            if method in methods:
                assert response.status_code != 405, (method, path)
                assert response.status_code != 404 or response.json() != ROUTE_NOT_FOUND, (method, path)
            elif method not in elsewhere:
                assert response.status_code == 405, (method, path, response.status_code)


def _same_shape(a: str, b: str) -> bool:
    """Whether one path's pattern may match the other (a parameter, `1`, matches any segment)."""
    sa, sb = a.split("/"), b.split("/")
    return len(sa) == len(sb) and all(x == y or "1" in (x, y) for x, y in zip(sa, sb, strict=True))


async def test_paths_outside_every_router_are_404(client: httpx.AsyncClient) -> None:
    for path in ("/api/auditsx", "/api/audits-1", "/api/fiche/status/batch", "/api/", "/apix/audits"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json() == ROUTE_NOT_FOUND, path
