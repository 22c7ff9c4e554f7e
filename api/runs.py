"""How a route launches Dagster runs: the launcher dependency, and the origin of a request's runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.auth.principal import Grant
from api.deps import StateDep
from runs.contract import Origin
from runs.launcher import GraphQLLauncher, RunLauncher


def get_run_launcher(state: StateDep) -> RunLauncher:
    return GraphQLLauncher(state.http, state.settings.dagster_webserver_url)


LauncherDep = Annotated[RunLauncher, Depends(get_run_launcher)]


def origin(grant: Grant, request: Request, *, source: str) -> Origin:
    """Who asks (the grant's user), which request (its id), and the client's `Idempotency-Key`."""
    return Origin(
        source=source,
        user_id=grant.principal.user_id,
        request_id=getattr(request.state, "request_id", None),
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
