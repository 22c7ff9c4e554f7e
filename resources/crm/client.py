"""The CRM gateway client: bounded retries inside a time budget, global caps, a shared cooldown.

One call (`fiche_details("123")`) is a loop of attempts. Each attempt waits out the shared cooldown,
takes a slot of its endpoint family's global cap, sends one request and gives the slot back before
any sleep. The loop stops at the first usable answer, at a final error, after `max_attempts`, or when
the next wait would pass the call's deadline (`budget`): whatever happens, a call returns or raises
before its budget ends, so the original's retry explosion (3 x 120 s inside a 5-minute workflow,
itself retried) cannot happen.

What is retried: 408, 429, 5xx, timeouts, connection errors, `success: false` answers (see
`envelopes`) and 404 (the gateway 404s under load). A details 404 becomes final (`CrmNotFound`) only
after the gateway gave it `not_found_attempts` times in one call (on a list endpoint that many 404s
mean a wrong base URL: `CrmBadResponse`); a call
ended earlier by its budget or `max_attempts` raises `CrmUnavailable`, because "maybe deleted" must
not become a NOT_FOUND marker. 401/403 raise `CrmAuthError` at once; other 4xx, redirects and
unreadable answers raise `CrmBadResponse` at once. The wait before a retry is a decorrelated-jitter
back-off, at least the `Retry-After` the gateway sent.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

import httpx
from pydantic import SecretStr
from redis.asyncio import Redis as AsyncRedis

from resources.crm import envelopes
from resources.crm.caps import SEMAPHORE_NAMES, CrmCaps, Family
from resources.crm.config import API_PREFIX, CrmConfig, authorization_header, normalise_base_url, resource_path
from resources.crm.envelopes import BadEnvelope, Refused, SalesPage
from resources.crm.errors import (
    CrmAuthError,
    CrmBadResponse,
    CrmCapUnavailable,
    CrmError,
    CrmNotFound,
    CrmUnavailable,
)
from resources.crm.metrics import CrmMetrics
from resources.http.retry import Deadline, DecorrelatedJitter, parse_retry_after, spread
from resources.redis import RedisUnavailable, SemaphoreTimeout

if TYPE_CHECKING:
    from callaudit.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

SALE_STATUS_ID = "53"  # the CRM's "Sale" status; the gateway turns it into its search criteria
# CRM fiche ids are digits; anything outside this alphabet could change the path (`..`, `/`, `?`).
_FICHE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _flag(value: bool) -> str:
    return "true" if value else "false"


@dataclass(frozen=True)
class _Call(Generic[T]):
    """One logical call: where it goes, how long it may take, and how to read a 2xx answer."""

    family: Family
    path: str
    params: dict[str, str]
    timeout: float
    budget: float
    read: Callable[[object], T]
    method: str = "GET"


class _Failed(Exception):
    """An attempt failed in a way another attempt may fix. Never leaves the client."""

    def __init__(
        self, reason: str, *, status: int | None = None, retry_after: float | None = None, not_found: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.not_found = not_found
        # Throttling signals are shared with every caller through the cooldown.
        self.throttled = status == 429 or (status == 503 and retry_after is not None)


@dataclass
class _Progress:
    """What one call has done so far, and the errors it raises (sanitised: method and path only)."""

    family: Family
    method: str
    path: str
    deadline: Deadline
    sent: int = 0
    not_found: int = 0
    last_status: int | None = None
    last_reason: str = "no request sent"

    def error(self, kind: type[CrmError], reason: str) -> CrmError:
        return kind(reason, method=self.method, path=self.path, status=self.last_status, attempts=self.sent)

    def unavailable(self, reason: str, retry_after: float | None = None) -> CrmUnavailable:
        return CrmUnavailable(
            reason,
            method=self.method,
            path=self.path,
            status=self.last_status,
            attempts=self.sent,
            retry_after=retry_after,
        )


class CrmClient:
    """Async client of the CRM gateway; see the module docstring for the retry and cap rules.

    Use as `async with CrmClient(...) as crm:` (or call `aclose()`), inside the event loop that will
    use it. `redis` carries the global caps and cooldown: when it is unreachable every call raises
    `CrmCapUnavailable` without sending anything. `transport` replaces the network (tests).
    Counters for the whole life of the client are in `metrics`.
    """

    def __init__(
        self,
        base_url: str,
        redis: AsyncRedis,
        *,
        auth_token: str | SecretStr | None = None,
        config: CrmConfig | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config or CrmConfig()
        self.base_url = normalise_base_url(base_url)
        headers = {"Accept": "application/json"}
        authorization = authorization_header(auth_token)
        if authorization is not None:
            headers["Authorization"] = authorization
        # Kept to scrub it from gateway messages quoted in errors, should the gateway ever echo it.
        self._token = authorization.removeprefix("Bearer ") if authorization else None
        # Redirects are not followed: the gateway has no reason to send one, and following it would
        # carry the request (and, on the same host, the token) somewhere we did not configure.
        self._http = httpx.AsyncClient(
            base_url=self.base_url, headers=headers, transport=transport, follow_redirects=False
        )
        self._caps = CrmCaps(
            redis,
            {
                "search": self.config.search_concurrency,
                "details": self.config.fetch_concurrency,
                "directory": self.config.directory_concurrency,
            },
            timeouts={
                "search": self.config.search_timeout,
                "details": self.config.details_timeout,
                "directory": self.config.directory_timeout,
            },
        )
        self.metrics = CrmMetrics()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        redis: AsyncRedis,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> CrmClient:
        """The client the API uses: `FICHE_API_BASE_URL` (unset: the local demo simulator), its token
        and the `FICHE_*_CONCURRENCY` caps."""
        base_url = settings.crm_base_url
        config = CrmConfig(
            search_concurrency=settings.fiche_sales_search_concurrency,
            fetch_concurrency=settings.fiche_fetch_concurrency,
        )
        return cls(base_url, redis, auth_token=settings.fiche_api_auth_token, config=config, transport=transport)

    def __repr__(self) -> str:
        return f"CrmClient(base_url={self.base_url!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # --- the gateway's endpoints ----------------------------------------------------------------

    async def search_sales(
        self, start: date, end: date, *, include_recordings: bool, budget_seconds: float | None = None
    ) -> SalesPage:
        """Sales (CRM status 53) with their calls for a date range, in one request (§3.2)."""
        if end < start:
            raise ValueError("end date before start date")
        params = {
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "status_id": SALE_STATUS_ID,
            "include_recordings": _flag(include_recordings),
            "include_transcriptions": "false",  # the platform transcribes the audio itself
        }
        cfg = self.config
        call = _Call(
            "search",
            resource_path("/api/fiches/sales-with-calls"),
            params,
            cfg.search_timeout,
            cfg.search_budget,
            envelopes.sales_page,
        )
        return await self._call(call, budget_seconds)

    async def fiche_details(
        self, fiche_id: str, *, include_mail_devis: bool = False, budget_seconds: float | None = None
    ) -> dict[str, Any]:
        """The full fiche (§3.3), raw. `CrmNotFound` only when the gateway consistently says so."""
        if not _FICHE_ID.fullmatch(fiche_id):
            raise ValueError("a fiche id is 1-64 letters, digits, '_' or '-'")
        params = {"include_recordings": "true", "include_transcriptions": "false"}
        if include_mail_devis:  # large: only sent when asked for
            params["include_mail_devis"] = "true"
        cfg = self.config
        call = _Call(
            "details",
            resource_path(f"/api/fiches/by-id/{fiche_id}"),
            params,
            cfg.details_timeout,
            cfg.details_budget,
            envelopes.fiche_details,
        )
        return await self._call(call, budget_seconds)

    async def users(self, *, budget_seconds: float | None = None) -> list[dict[str, Any]]:
        """CRM users (agents), raw (§3.4)."""
        cfg = self.config
        call = _Call(
            "directory",
            resource_path("/api/utilisateurs"),
            {},
            cfg.directory_timeout,
            cfg.directory_budget,
            envelopes.directory("utilisateurs"),
        )
        return await self._call(call, budget_seconds)

    async def groups(self, include_users: bool, *, budget_seconds: float | None = None) -> list[dict[str, Any]]:
        """CRM groups, with their members' ids when `include_users` (§3.4)."""
        cfg = self.config
        call = _Call(
            "directory",
            resource_path("/api/utilisateurs/groupes"),
            {"include_users": _flag(include_users)},
            cfg.directory_timeout,
            cfg.directory_budget,
            envelopes.directory("groupes"),
        )
        return await self._call(call, budget_seconds)

    async def health(self) -> bool:
        """Whether the gateway's root `/health` answers 2xx within `health_timeout`.

        A probe, deliberately outside the caps, the cooldown and Redis: it must answer quickly and
        also when Redis is down, and it costs the gateway nothing worth capping.
        """
        url = self.base_url.removesuffix(API_PREFIX) + "/health"
        timeout = self.config.health_timeout
        try:
            async with asyncio.timeout(timeout):
                response = await self._http.get(url, timeout=timeout)
        except (TimeoutError, httpx.RequestError):
            return False
        return response.is_success

    # --- the retry loop ---------------------------------------------------------------------------

    async def _call(self, call: _Call[T], budget_seconds: float | None) -> T:
        budget = call.budget if budget_seconds is None else budget_seconds
        if not budget > 0:
            raise ValueError("budget_seconds must be positive")
        progress = _Progress(call.family, call.method, call.path, Deadline(budget))
        delays = DecorrelatedJitter(self.config.backoff_base, self.config.backoff_cap)
        while True:
            try:
                async with self._guard(progress):
                    response = await self._send_when_allowed(call, progress)
                return self._read(call, progress, response)
            except _Failed as failure:
                progress.not_found += failure.not_found
                delay = max(delays.next_delay(), failure.retry_after or 0.0)
                if failure.throttled:
                    async with self._guard(progress):
                        await self._caps.cooldown.extend(failure.retry_after or delay, reason=f"HTTP {failure.status}")
                final = self._final_error(call, failure, progress, delay)
                if final is not None:
                    raise final from None
            self.metrics.retries += 1
            log.warning(
                "CRM %s %s: %s (attempt %d of %d); retrying in %.2f s",
                call.method,
                call.path,
                progress.last_reason,
                progress.sent,
                self.config.max_attempts,
                delay,
            )
            await asyncio.sleep(delay)

    def _final_error(self, call: _Call[Any], failure: _Failed, progress: _Progress, delay: float) -> CrmError | None:
        """The error that ends the call after `failure`, or None when another attempt fits."""
        if progress.not_found >= self.config.not_found_attempts:
            if call.family != "details":  # a list endpoint that keeps answering 404 does not exist
                return progress.error(
                    CrmBadResponse, f"HTTP 404 {progress.not_found} times: no such endpoint (check FICHE_API_BASE_URL)"
                )
            return progress.error(CrmNotFound, f"{failure.reason} ({progress.not_found} times)")
        if progress.sent >= self.config.max_attempts:
            return progress.unavailable(
                f"{failure.reason}; gave up after {progress.sent} attempts", failure.retry_after
            )
        if delay >= progress.deadline.remaining():
            return progress.unavailable(
                f"{failure.reason}; the next attempt would not fit in the {progress.deadline.seconds:g} s budget",
                failure.retry_after,
            )
        return None

    @asynccontextmanager
    async def _guard(self, progress: _Progress) -> AsyncIterator[None]:
        """Stop the block at the call's deadline, and turn cap and Redis failures into CRM errors."""
        try:
            async with asyncio.timeout_at(progress.deadline.at):
                yield
        except TimeoutError:
            raise progress.unavailable(
                f"budget of {progress.deadline.seconds:g} s spent (last: {progress.last_reason})"
            ) from None
        except SemaphoreTimeout:
            name = SEMAPHORE_NAMES[progress.family]
            raise progress.unavailable(f"no free '{name}' slot within the budget") from None
        except RedisUnavailable as exc:  # message already sanitised by the Redis layer
            raise progress.error(CrmCapUnavailable, f"failing closed: {exc}") from exc

    async def _send_when_allowed(self, call: _Call[T], progress: _Progress) -> httpx.Response:
        """Wait out the cooldown, take a cap slot, and send one request while holding it."""
        loop = asyncio.get_running_loop()
        while True:
            await self._wait_out_cooldown(progress)
            asked = loop.time()
            async with self._caps.slot(call.family, wait_timeout=progress.deadline.remaining()):
                self.metrics.slot_wait_seconds += loop.time() - asked
                # A 429 elsewhere may have started a cooldown while this caller queued for the slot.
                if await self._caps.cooldown.left() == 0:
                    return await self._send(call, progress)

    async def _wait_out_cooldown(self, progress: _Progress) -> None:
        while (left := await self._caps.cooldown.left()) > 0:
            if left >= progress.deadline.remaining():
                # Waiting would only end in the same error later; say now how long the gateway wants.
                raise progress.unavailable(
                    f"the gateway asked every caller to wait {left:.3g} s, beyond this call's budget", left
                )
            pause = min(spread(left), progress.deadline.remaining())
            self.metrics.cooldown_waits += 1
            self.metrics.cooldown_seconds += pause
            await asyncio.sleep(pause)

    async def _send(self, call: _Call[T], progress: _Progress) -> httpx.Response:
        """One request, bounded by the attempt timeout and by what is left of the budget."""
        loop = asyncio.get_running_loop()
        timeout = min(call.timeout, progress.deadline.remaining())
        progress.sent += 1
        self.metrics.requests += 1
        started = loop.time()
        try:
            # httpx's timeouts apply per read/write; this one bounds the whole exchange.
            async with asyncio.timeout(timeout):
                return await self._http.request(call.method, call.path, params=call.params, timeout=timeout)
        except (TimeoutError, httpx.TimeoutException):
            reason = f"no answer within {timeout:.3g} s"
        except httpx.RequestError as exc:
            reason = f"request failed ({type(exc).__name__})"
        finally:
            self.metrics.request_seconds += loop.time() - started
        # Raised outside the handler so the httpx error (which holds the request headers) is not chained.
        progress.last_status, progress.last_reason = None, reason
        raise _Failed(reason)

    def _read(self, call: _Call[T], progress: _Progress, response: httpx.Response) -> T:
        """The usable answer, or the error `response` stands for (`_Failed` when worth retrying)."""
        status = response.status_code
        progress.last_status, progress.last_reason = status, f"HTTP {status}"
        if status in (401, 403):
            raise progress.error(CrmAuthError, f"HTTP {status}: the gateway refused the token (FICHE_API_AUTH_TOKEN)")
        if status == 429:
            self.metrics.throttled += 1
        if status in (408, 429) or 500 <= status <= 599:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None:
                retry_after = min(retry_after, self.config.max_cooldown)
            raise _Failed(f"HTTP {status}", status=status, retry_after=retry_after)
        if status == 404:
            # Transient under load on every endpoint; `_final_error` decides when it is final.
            raise _Failed("HTTP 404", status=status, not_found=True)
        if not response.is_success:
            raise progress.error(CrmBadResponse, f"unexpected HTTP {status}")
        try:
            return call.read(response.json())
        except ValueError:  # includes JSONDecodeError and UnicodeDecodeError
            raise progress.error(CrmBadResponse, "the answer is not valid JSON") from None
        except BadEnvelope as exc:
            raise progress.error(CrmBadResponse, str(exc)) from None
        except Refused as exc:
            message = exc.message.replace(self._token, "[REDACTED]") if self._token else exc.message
            progress.last_reason = f"success=false: {message}"
            # "Not found" in a refusal names a fiche; on a list endpoint it is just a refusal.
            not_found = exc.not_found and call.family == "details"
            raise _Failed(progress.last_reason, status=status, not_found=not_found) from None
