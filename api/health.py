"""Liveness (`/health`) and readiness (`/ready`: Postgres, Redis, and Dagster: the webserver with our
code location loaded and its instance database answering)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Literal

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from api.deps import AppState, StateDep
from api.errors import ErrorCode, error_response
from callaudit import __version__
from resources.database import ping
from runs.launcher import GraphQLLauncher, LaunchFailed

router = APIRouter(tags=["health"])

CHECK_TIMEOUT_SECONDS = 3.0


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    service: str = "callaudit"
    version: str = __version__
    instance: str
    timestamp: dt.datetime


class CheckResult(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    checks: dict[str, CheckResult]


@router.get("/health", response_model=Health)
async def health(state: StateDep) -> Health:
    """Liveness: the process answers. Never touches a dependency; no authentication."""
    return Health(instance=state.instance_id, timestamp=dt.datetime.now(dt.UTC))


async def _postgres(state: AppState) -> str:
    await ping(state.engine)
    return "reachable"


async def _redis(state: AppState) -> str:
    await state.redis.ping()
    return "reachable"


async def _dagster(state: AppState) -> str:
    """Launches need more than a webserver that answers `/server_info`: the code location loaded and
    the instance database reachable (a webserver restarted before its database answers neither)."""
    return await GraphQLLauncher(state.http, state.settings.dagster_webserver_url).readiness()


CHECKS: dict[str, Callable[[AppState], Awaitable[str]]] = {
    "postgres": _postgres,
    "redis": _redis,
    "dagster": _dagster,
}


async def _run(name: str, check: Callable[[AppState], Awaitable[str]], state: AppState) -> CheckResult:
    try:
        return CheckResult(ok=True, detail=await asyncio.wait_for(check(state), CHECK_TIMEOUT_SECONDS))
    except TimeoutError:
        return CheckResult(ok=False, detail=f"{name} did not answer within {CHECK_TIMEOUT_SECONDS:g}s")
    except LaunchFailed as exc:  # its messages name what is missing and hold no address
        return CheckResult(ok=False, detail=str(exc))
    except Exception as exc:  # any failure means "not ready"; the type is enough to act on
        return CheckResult(ok=False, detail=f"{name} unreachable ({type(exc).__name__})")


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"description": "A dependency is unreachable; `error` names it"}},
)
async def ready(state: StateDep) -> Readiness | JSONResponse:
    """Readiness: Postgres, Redis and the Dagster webserver each answer within 3 s. 503 names the unreachable
    dependency; no authentication."""
    names = list(CHECKS)
    results = await asyncio.gather(*(_run(n, CHECKS[n], state) for n in names))
    checks = dict(zip(names, results, strict=True))
    failing = [name for name, result in checks.items() if not result.ok]
    if failing:
        return error_response(
            503,
            ErrorCode.SERVICE_UNAVAILABLE,
            f"not ready: {', '.join(failing)} unreachable",
            extra={"checks": {k: v.model_dump() for k, v in checks.items()}},
        )
    return Readiness(checks=checks)
