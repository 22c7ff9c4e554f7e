"""Launching (and observing) Dagster runs from outside the code location, behind a small protocol.

The API never runs pipeline work itself: it asks dagster-webserver (GraphQL) for ONE backfill of
the `sync_sales_day` assets over a progressive fetch's missing days, or for ONE run of a job (e.g.
`transcribe_fiches_job`) with its run config and tags. Tests swap in another `RunLauncher`; the
GraphQL one fails fast (short timeouts) when the webserver is down.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from domain.errors import UnavailableError
from runs.contract import CODE_LOCATION, IDEMPOTENCY_TAG, REPOSITORY, REQUEST_ID_TAG, SALES_DAY_ASSETS

log = logging.getLogger(__name__)

IN_FLIGHT = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED")
_EXISTING_RUN = """
query Existing($filter: RunsFilter!) {
  runsOrError(filter: $filter, limit: 1) { __typename ... on Runs { results { runId } } }
}
"""
_READY = """
query Ready {
  workspaceOrError {
    __typename
    ... on Workspace { locationEntries { name loadStatus locationOrLoadError { __typename } } }
  }
  runsOrError(limit: 1) { __typename }
}
"""
_LAUNCH = """
mutation LaunchSalesDays($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}
"""

_LAUNCH_RUN = """
mutation LaunchJob($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message }
  }
}
"""

_RUN_STATUS = """
query RunStatus($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { status } ... on Error { message } }
}
"""

_STATUS = """
query BackfillStatus($backfillId: String!) {
  partitionBackfillOrError(backfillId: $backfillId) {
    __typename
    ... on PartitionBackfill { id status }
    ... on Error { message }
  }
}
"""


class LaunchFailed(UnavailableError):
    """Dagster did not accept the launch; the message is safe to store and show (no URL, no body)."""


@dataclass(frozen=True)
class LaunchRequest:
    job_id: str
    days: Sequence[dt.date]
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class JobLaunch:
    """One run of a job of the code location: its run config and tags (`dagster/priority` included)."""

    job_name: str
    run_config: Mapping[str, Any]
    tags: Mapping[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None  # the client's `Idempotency-Key`; None: derived from the launch

    def idempotency(self) -> tuple[str, tuple[str, ...] | None]:
        """The run tag value that makes a retried launch find its run, and the run statuses it
        matches: any for a client's key; for a derived key only runs still in flight (the same
        launch tomorrow is new work)."""
        if self.idempotency_key is not None:
            return hashlib.sha256(f"client:{self.idempotency_key}".encode()).hexdigest()[:40], None
        stable_tags = {k: v for k, v in self.tags.items() if k != REQUEST_ID_TAG}
        launch = json.dumps([self.job_name, self.run_config, stable_tags], sort_keys=True, default=str)
        return hashlib.sha256(f"derived:{launch}".encode()).hexdigest()[:40], IN_FLIGHT


@dataclass(frozen=True)
class Launched:
    backfill_id: str | None = None
    run_ids: tuple[str, ...] = ()


class RunLauncher(Protocol):
    async def launch_days(self, request: LaunchRequest) -> Launched:
        """Start the sales-day sync of `request.days`; `LaunchFailed` when it could not."""
        ...

    async def backfill_status(self, backfill_id: str) -> str | None:
        """Dagster's status of a backfill (`REQUESTED`, `COMPLETED`, `FAILED`...), None if unknown."""
        ...

    async def launch_job(self, request: JobLaunch) -> str:
        """Queue one run of `request.job_name`; its run id, or `LaunchFailed` when it could not."""
        ...

    async def run_status(self, run_id: str) -> str | None:
        """Dagster's status of a run (`QUEUED`, `STARTED`, `FAILURE`, `CANCELED`...), None if unknown."""
        ...


class GraphQLLauncher:
    """`launchPartitionBackfill` and `launchRun` on dagster-webserver's `/graphql`, over the app's httpx client."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        webserver_url: str,
        *,
        timeout: float = 5.0,
        fresh_client: Callable[[], httpx.AsyncClient] = httpx.AsyncClient,
    ) -> None:
        self._http = http
        self._url = webserver_url.rstrip("/") + "/graphql"
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 2.0))
        self._fresh_client = fresh_client

    async def _post(self, query: str, variables: dict[str, Any], *, fresh: bool = False) -> dict[str, Any]:
        """One GraphQL call; `fresh` uses a new connection instead of the shared pool (whose kept-alive
        connections may be dead after a webserver restart)."""
        try:
            if fresh:
                async with self._fresh_client() as client:
                    response = await client.post(
                        self._url, json={"query": query, "variables": variables}, timeout=self._timeout
                    )
            else:
                response = await self._http.post(
                    self._url, json={"query": query, "variables": variables}, timeout=self._timeout
                )
        except httpx.HTTPError as exc:
            raise LaunchFailed(f"the Dagster webserver is unreachable ({type(exc).__name__})") from None
        if response.status_code != 200:
            raise LaunchFailed(f"the Dagster webserver answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise LaunchFailed("the Dagster webserver answered something that is not JSON") from None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, dict):
            raise LaunchFailed("the Dagster webserver answered without data (GraphQL error)")
        return data

    async def launch_days(self, request: LaunchRequest) -> Launched:
        params = {
            "partitionNames": [day.isoformat() for day in request.days],
            "assetSelection": [{"path": [name]} for name in SALES_DAY_ASSETS],
            "tags": [{"key": k, "value": v} for k, v in request.tags.items()],
            "title": f"progressive fetch {request.job_id}",
        }
        data = await self._post(_LAUNCH, {"backfillParams": params})
        result = data.get("launchPartitionBackfill") or {}
        if result.get("__typename") == "LaunchBackfillSuccess" and result.get("backfillId"):
            return Launched(backfill_id=str(result["backfillId"]))
        message = str(result.get("message") or result.get("__typename") or "unknown answer")[:500]
        raise LaunchFailed(f"Dagster refused the backfill: {message}")

    async def readiness(self) -> str:
        """What launches need beyond a webserver that answers: our code location loaded, and the
        instance database (run storage) answering through it. `LaunchFailed` says which is missing."""
        data = await self._post(_READY, {})
        workspace = data.get("workspaceOrError") or {}
        entries = {e.get("name"): e for e in workspace.get("locationEntries") or []}
        entry = entries.get(CODE_LOCATION)
        if entry is None:
            raise LaunchFailed(f"code location {CODE_LOCATION!r} is not in the Dagster workspace")
        if entry.get("loadStatus") != "LOADED":
            raise LaunchFailed(f"code location {CODE_LOCATION!r} is {str(entry.get('loadStatus')).lower()}")
        if (entry.get("locationOrLoadError") or {}).get("__typename") != "RepositoryLocation":
            raise LaunchFailed(f"code location {CODE_LOCATION!r} failed to load")
        if (data.get("runsOrError") or {}).get("__typename") != "Runs":
            raise LaunchFailed("the Dagster instance database does not answer")
        return "code location loaded, instance database answers"

    async def backfill_status(self, backfill_id: str) -> str | None:
        try:
            data = await self._post(_STATUS, {"backfillId": backfill_id})
        except LaunchFailed as exc:
            log.info("backfill %s status unavailable: %s", backfill_id, exc)
            return None
        result = data.get("partitionBackfillOrError") or {}
        status = result.get("status")
        return str(status) if status else None

    async def run_status(self, run_id: str) -> str | None:
        try:
            data = await self._post(_RUN_STATUS, {"runId": run_id})
        except LaunchFailed as exc:
            log.info("run %s status unavailable: %s", run_id, exc)
            return None
        status = (data.get("runOrError") or {}).get("status")
        return str(status) if status else None

    async def launch_job(self, request: JobLaunch) -> str:
        """Launch once, end to end: the launch is tagged with its idempotency key, and a failed
        attempt (the webserver may answer 500 *after* creating the run) is retried once, on a fresh
        connection, after looking for the run the first attempt may have created."""
        key, statuses = request.idempotency()
        tagged = JobLaunch(request.job_name, request.run_config, {**request.tags, IDEMPOTENCY_TAG: key})
        for fresh in (False, True):
            try:
                existing = await self._existing_run(key, statuses, fresh=fresh)
                if existing is not None:
                    log.info("launch of %s found its run %s (idempotency key)", request.job_name, existing)
                    return existing
                return await self._launch_run(tagged, fresh=fresh)
            except LaunchFailed as exc:
                if fresh:
                    raise
                log.info("launch of %s failed (%s); retrying on a fresh connection", request.job_name, exc)
        raise AssertionError("unreachable")

    async def _existing_run(self, key: str, statuses: tuple[str, ...] | None, *, fresh: bool) -> str | None:
        run_filter: dict[str, Any] = {"tags": [{"key": IDEMPOTENCY_TAG, "value": key}]}
        if statuses is not None:
            run_filter["statuses"] = list(statuses)
        data = await self._post(_EXISTING_RUN, {"filter": run_filter}, fresh=fresh)
        runs = data.get("runsOrError") or {}
        if runs.get("__typename") != "Runs":
            raise LaunchFailed("the Dagster instance database does not answer")
        results = runs.get("results") or []
        return str(results[0]["runId"]) if results else None

    async def _launch_run(self, request: JobLaunch, *, fresh: bool) -> str:
        params = {
            "selector": {
                "repositoryLocationName": CODE_LOCATION,
                "repositoryName": REPOSITORY,
                "jobName": request.job_name,
            },
            "runConfigData": dict(request.run_config),
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in request.tags.items()]},
        }
        data = await self._post(_LAUNCH_RUN, {"executionParams": params}, fresh=fresh)
        result = data.get("launchRun") or {}
        run = result.get("run") if result.get("__typename") == "LaunchRunSuccess" else None
        if isinstance(run, dict) and run.get("runId"):
            return str(run["runId"])
        errors = result.get("errors")
        message = (
            "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict)) if isinstance(errors, list) else ""
        )
        message = (message or str(result.get("message") or result.get("__typename") or "unknown answer"))[:500]
        raise LaunchFailed(f"Dagster refused the run of {request.job_name}: {message}")
