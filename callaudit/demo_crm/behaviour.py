"""How the simulator misbehaves like the real gateway: auth, latency, faults, and their counting.

A pure ASGI middleware, so that a request counts as in flight from before its latency until the
last byte of its body (audio is streamed), and so that faults can answer before any route runs.
Each request draws its fate from its family's seeded generator: a retried request draws again.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Literal

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from callaudit.demo_crm.config import Family, FamilyFaults
from callaudit.demo_crm.payloads import error_body, fiche_not_found
from callaudit.demo_crm.state import SimulatorState

Fault = Literal["5xx", "429", "timeout", "404"]
SIMULATOR_HEADER = (b"x-demo-crm", b"simulator")
"""On every response, so nobody mistakes the simulator for the real gateway."""

_ROUTES: tuple[tuple[str, bool, str, Family | None], ...] = (
    # (path or prefix, is_prefix, endpoint name, family)
    ("/api/fiches/sales-with-calls", False, "/api/fiches/sales-with-calls", "search"),
    ("/api/fiches/by-id/", True, "/api/fiches/by-id/{fiche_id}", "details"),
    ("/api/utilisateurs/groupes", False, "/api/utilisateurs/groupes", "users"),
    ("/api/utilisateurs", False, "/api/utilisateurs", "users"),
    ("/records/", True, "/records/{acct}/{filename}", "audio"),
    ("/health", False, "/health", None),
)


def classify(path: str) -> tuple[str, Family | None]:
    """(endpoint name for the counters, endpoint family or None when no faults apply)."""
    for pattern, is_prefix, endpoint, family in _ROUTES:
        if path == pattern or (is_prefix and path.startswith(pattern)):
            return endpoint, family
    return "other", None


def pick_fault(draw: float, faults: FamilyFaults) -> Fault | None:
    """Map one uniform draw onto the exclusive fault shares, in a fixed order."""
    shares: tuple[tuple[Fault, float], ...] = (
        ("5xx", faults.error_5xx_rate),
        ("429", faults.rate_limit_rate),
        ("timeout", faults.timeout_rate),
        ("404", faults.transient_404_rate),
    )
    for fault, rate in shares:
        if draw < rate:
            return fault
        draw -= rate
    return None


class GatewayBehaviour:
    def __init__(self, app: ASGIApp, state: SimulatorState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/__sim/"):
            await self.app(scope, receive, send)
            return
        endpoint, family = classify(scope["path"])
        status: list[int] = []
        finished = False

        def finish() -> None:
            nonlocal finished
            if not finished:
                finished = True
                self.state.stats.end(endpoint, family, status[0] if status else None)

        async def labelled_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
                message["headers"] = [*message.get("headers", []), SIMULATOR_HEADER]
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finish()  # the last byte is out: the client may already be sending its next request

        self.state.stats.begin(endpoint, family)
        try:
            await self._handle(scope, receive, labelled_send, family)
        finally:
            finish()

    async def _handle(self, scope: Scope, receive: Receive, send: Send, family: Family | None) -> None:
        if scope["path"].startswith("/api/") and not self._authorized(scope):
            body = error_body("Missing or invalid bearer token", "UNAUTHORIZED")
            await JSONResponse(body, 401, headers={"WWW-Authenticate": "Bearer"})(scope, receive, send)
            return
        if family is None:
            await self.app(scope, receive, send)
            return
        faults = self.state.config.faults.of(family)
        rng = self.state.fault_rngs[family]
        fault = pick_fault(rng.random(), faults)
        delay = faults.latency.draw_seconds(rng)
        if delay > 0:
            await asyncio.sleep(delay)
        if fault is None:
            await self.app(scope, receive, send)
            return
        self.state.stats.fault(family, fault)
        if fault == "timeout":
            if await _client_left_within(faults.timeout_seconds, receive):
                return
            response = JSONResponse(error_body("Upstream CRM did not answer in time", "GATEWAY_TIMEOUT"), 504)
        elif fault == "5xx":
            code = rng.choice((500, 502, 503))
            response = JSONResponse(error_body("Upstream CRM error", "UPSTREAM_ERROR"), code)
        elif fault == "429":
            headers = {"Retry-After": str(faults.retry_after_seconds)}
            response = JSONResponse(error_body("Too many requests", "RATE_LIMITED"), 429, headers=headers)
        else:
            response = JSONResponse(_not_found_body(scope["path"]), 404)
        await response(scope, receive, send)

    def _authorized(self, scope: Scope) -> bool:
        token = self.state.config.token
        if token is None:
            return True
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, value = header.partition(" ")
        expected = token.get_secret_value()
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), expected.encode())


def _not_found_body(path: str) -> dict[str, object]:
    """A transient 404 looks exactly like a real one: that is what makes it hard for clients."""
    if path.startswith("/api/fiches/by-id/"):
        return fiche_not_found(path.removeprefix("/api/fiches/by-id/"))
    return error_body("Not found", "NOT_FOUND")


async def _client_left_within(seconds: float, receive: Receive) -> bool:
    """Hang like a stuck upstream; stop early if the client gives up (True) rather than wait on."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    try:
        async with asyncio.timeout(seconds):
            await disconnected()
    except TimeoutError:
        return False
    return True
