"""Typed, sanitised errors for calls to the CRM gateway.

Callers turn these into behaviour (mark a fiche NOT_FOUND, retry the run later, answer 503) without
knowing httpx. Messages name the method and the path only: never the host, the query string (signed
or private parameters), the Authorization header or the token. The original system leaked nothing
because it re-threw a sanitised error instead of the raw HTTP one; these classes keep that rule, and
the client raises them without chaining the httpx exception (which holds the request and its headers).
"""

from __future__ import annotations

from typing import Any

from callaudit.logging import redact
from domain.errors import UnavailableError
from domain.upstream import UpstreamError, UpstreamHalt, UpstreamNotFound


class CrmError(UpstreamError):
    """Base class: a call to the CRM gateway did not produce a usable answer.

    `status` is the last HTTP status seen (None when no answer came back), `attempts` the number of
    HTTP requests made for this call.
    """

    service = "The CRM"

    def __init__(
        self,
        reason: str,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        attempts: int = 0,
    ) -> None:
        self.method = method
        self.path = path.split("?", 1)[0] if path else None
        self.status = status
        self.attempts = attempts
        # Redacted anyway: a reason may quote the gateway's own message, which we do not control.
        self.reason = redact(reason)
        where = f"CRM {method} {self.path}: " if method and self.path else "CRM: "
        super().__init__(where + self.reason)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r}, status={self.status!r}, attempts={self.attempts})"


class CrmNotFound(CrmError, UpstreamNotFound):
    """The gateway says the fiche does not exist, consistently (see `CrmConfig.not_found_attempts`).

    Only this error may turn into a NOT_FOUND marker: transient failures are `CrmUnavailable`.
    """


class CrmAuthError(CrmError, UpstreamHalt):
    """401/403: the token is missing, wrong or lacks rights. Never retried; fix the configuration."""


class CrmUnavailable(CrmError):
    """The gateway did not answer usefully within the call's retry and time budget; try again later.

    `retry_after` (seconds) is set when the gateway or the shared cooldown said how long to wait.
    """

    def __init__(
        self,
        reason: str,
        *,
        method: str | None = None,
        path: str | None = None,
        status: int | None = None,
        attempts: int = 0,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(reason, method=method, path=path, status=status, attempts=attempts)
        self.retry_after = retry_after


class CrmCapUnavailable(CrmUnavailable, UpstreamHalt, UnavailableError):
    """Redis (the global caps and the shared cooldown) is unreachable, so no request was sent.

    Fails closed: without the caps every worker would hit the gateway at once. A subclass of
    `CrmUnavailable` because the right reaction is the same (retry later, keep cached data); an
    `UnavailableError` because our own store is down, not the CRM: the API answers 503, not 502.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.message = "Service unavailable: cannot reach Redis to call the CRM"  # what a client reads


class CrmBadResponse(CrmError):
    """The gateway answered, but with nothing usable: invalid JSON, an unexpected shape, or a status
    that retrying cannot fix (400, 405, 422, a redirect, a 404 on a list endpoint)."""
