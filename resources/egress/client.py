"""An httpx client that can only reach vetted addresses, and only the ones it vetted.

The check runs inside the connection pool's network backend: the host is resolved once, every
address is checked, and the socket is opened to one of those addresses (TLS still verifies the
certificate and sends SNI for the URL's host name). A DNS answer that changes between the
creation-time check and the connection (rebinding) is therefore checked again on what is actually
used. Redirects are never followed (a 3xx is the receiver's answer), proxies from the environment
are ignored, and response bodies are read up to a cap.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from resources.egress.policy import EgressPolicy, EgressRefused, parse_target, vetted_addresses

BLOCKED = "blocked destination"


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, policy: EgressPolicy) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._policy = policy

    def _allowlisted(self, host: str, port: int) -> bool:
        suffix = f"://{host.lower().rstrip('.')}:{port}"
        bracketed = f"://[{host.lower()}]:{port}"
        return any(o.endswith((suffix, bracketed)) for o in self._policy.allowed_origins)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await vetted_addresses(host, port, self._policy, allowlisted=self._allowlisted(host, port))
        except EgressRefused as exc:
            raise httpcore.ConnectError(f"{BLOCKED}: {exc}") from None
        return await self._inner.connect_tcp(
            addresses[0], port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not an allowed destination")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


@dataclass(frozen=True)
class EgressResponse:
    """What came back (or why nothing did): status None when no HTTP answer was received."""

    status_code: int | None
    body: bytes
    duration_ms: int
    error: str | None = None
    headers: Mapping[str, str] | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def guarded_transport(policy: EgressPolicy) -> httpx.AsyncHTTPTransport:
    """An httpx transport whose every connection goes to an address `policy` vetted, nothing else."""
    transport = httpx.AsyncHTTPTransport(trust_env=False, retries=0)
    # httpx offers no public hook for the network backend: swap the pool it built for one using ours
    # (covered by tests/egress, which fail if an httpx upgrade stops routing connections through it).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        network_backend=GuardedBackend(policy),
        retries=0,
    )
    return transport


def guarded_client(
    policy: EgressPolicy, *, timeout: httpx.Timeout, max_redirects: int = 0, **kwargs: Any
) -> httpx.AsyncClient:
    """An httpx client for user-influenced URLs whose answers the caller reads itself (a large download,
    streamed under its own size cap). Every request, each redirect hop included, is checked first
    (scheme, credentials, host forms, the allowlist; `EgressRefused`) and connects only to vetted
    addresses; redirects are followed only when `max_redirects` says so."""

    async def vet(request: httpx.Request) -> None:
        parse_target(str(request.url), policy)

    return httpx.AsyncClient(
        transport=guarded_transport(policy),
        trust_env=False,
        follow_redirects=max_redirects > 0,
        max_redirects=max(max_redirects, 1),
        timeout=timeout,
        event_hooks={"request": [vet]},
        **kwargs,
    )


def blocked(exc: httpx.HTTPError) -> bool:
    """The guard refused the connection (as opposed to the destination failing)."""
    return isinstance(exc, httpx.ConnectError) and str(exc).startswith(BLOCKED)


class EgressClient:
    """POST/GET to user-influenced URLs. One per process; `aclose()` at shutdown."""

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        timeout: float = 15.0,
        connect_timeout: float = 5.0,
        max_response_bytes: int = 64 * 1024,
        user_agent: str = "callaudit-webhook/1.0",
    ) -> None:
        self.policy = policy
        self.max_response_bytes = max_response_bytes
        self._client = guarded_client(
            policy, timeout=httpx.Timeout(timeout, connect=connect_timeout), headers={"User-Agent": user_agent}
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def request(
        self, method: str, url: str, *, content: bytes | None = None, headers: Mapping[str, str] | None = None
    ) -> EgressResponse:
        started = time.monotonic()
        try:
            async with self._client.stream(method, url, content=content, headers=headers) as response:
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk[: self.max_response_bytes - len(body)])
                    if len(body) >= self.max_response_bytes:
                        break
                return EgressResponse(response.status_code, bytes(body), _ms(started), headers=dict(response.headers))
        except EgressRefused as exc:
            return EgressResponse(None, b"", _ms(started), f"blocked destination: {exc}")
        except httpx.TimeoutException:
            return EgressResponse(None, b"", _ms(started), "timed out")
        except httpx.HTTPError as exc:
            return EgressResponse(None, b"", _ms(started), _describe(exc))

    async def send_streamed(self, method: str, url: str, *, headers: Mapping[str, str] | None = None) -> httpx.Response:
        """The response with its body unread, for relaying a large body (recordings); the caller reads
        and closes it, and caps what it keeps. Raises `EgressRefused` for a destination refused before
        connecting, `httpx.HTTPError` when no answer came back (a blocked address: `ConnectError`)."""
        parse_target(url, self.policy)
        return await self._client.send(self._client.build_request(method, url, headers=headers), stream=True)

    async def post(self, url: str, content: bytes, headers: Mapping[str, str]) -> EgressResponse:
        return await self.request("POST", url, content=content, headers=headers)


def _describe(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    return text[:300]


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
