"""A request is matched only against the routers whose paths can match it.

FastAPI (0.165) resolves an included router lazily: a request is matched against every route of each
router included before the one that serves it, and again when it is handled (once to choose the
router, once inside it), a regex and a few scope look-ups per route. `/api/audits/{id}` walked about
45 routes of six other domains twice, 5-10 % of a read's CPU (decision 118).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter
from starlette._utils import get_route_path
from starlette.routing import Match
from starlette.types import Scope


def include_by_prefix(parent: APIRouter, router: APIRouter) -> None:
    """`parent.include_router(router)`, and a request whose path does not start with the two routers'
    prefixes (`/api` + `/audits`) is told at once that none of `router`'s routes matches it: every
    path of a router with a prefix starts with it (a route's regex is anchored at the path's start),
    so none of them could match it, not even partially (the path but not the method: a 405).

    `router` then belongs to `parent`, and `parent` to the app's root (no prefix of its own from there):
    its `matches` tests this one start wherever it is included."""
    parent.include_router(router)
    start = parent.prefix + router.prefix
    if not router.prefix:
        return  # its routes' paths have no common start to test first
    # The class's method, not the instance's: a second app (the tests build several) replaces the test, not nests it.
    matches: Callable[[Scope], tuple[Match, Scope]] = type(router).matches.__get__(router)

    def matches_by_prefix(scope: Scope) -> tuple[Match, Scope]:
        if not get_route_path(scope).startswith(start):
            return Match.NONE, {}
        return matches(scope)

    router.matches = matches_by_prefix  # type: ignore[method-assign]
