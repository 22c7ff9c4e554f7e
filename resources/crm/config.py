"""How the CRM client is configured: base URL and token handling, limits, timeouts and budgets.

Defaults follow the original system (3 fetches and 1 sales search at a time across the whole
deployment, back-off from 1 s doubling up to 15 s), with one deliberate change: every call has a
*budget*, a deadline that bounds the attempts, their timeouts and the sleeps between them all
together. The original could spend 3 x 120 s in one fetch inside a 5-minute workflow that was itself
retried (the "retry explosion"); here a call returns or raises before its budget ends.
"""

from __future__ import annotations

from typing import Self
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

API_PREFIX = "/api"


def normalise_base_url(url: str) -> str:
    """The gateway base URL ending with exactly one `/api`: `https://gw/` and `https://gw/api/api/`
    both become `https://gw/api`.

    Credentials, a query or a fragment are refused: the bearer header is the only credential, and
    anything else would end up in logs or leak into every request. The message never echoes the URL.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the CRM base URL must be an absolute http:// or https:// URL")
    if parts.username is not None or parts.password is not None or parts.query or parts.fragment:
        raise ValueError("the CRM base URL must not contain credentials, a query string or a fragment")
    path = parts.path.rstrip("/")
    while path.endswith(API_PREFIX):
        path = path.removesuffix(API_PREFIX).rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path + API_PREFIX, "", ""))


def resource_path(path: str) -> str:
    """A path relative to the `/api` base: one leading slash, an accidental leading `/api` removed."""
    path = "/" + path.lstrip("/")
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        path = path.removeprefix(API_PREFIX) or "/"
    return path


def authorization_header(token: str | SecretStr | None) -> str | None:
    """`Bearer <token>` for a raw token or one that already starts with `Bearer ` (any case).

    None when no token is configured (the gateway may be open on a private network). Refuses values
    that cannot be an HTTP header, without echoing them.
    """
    value = token.get_secret_value() if isinstance(token, SecretStr) else token
    value = (value or "").strip()
    if not value:
        return None
    if not value.isascii() or not value.isprintable():
        raise ValueError("the CRM token contains characters not allowed in an HTTP header")
    scheme, _, rest = value.partition(" ")
    if scheme.lower() == "bearer":
        value = rest.strip()
        if not value:
            return None
    return f"Bearer {value}"


class CrmConfig(BaseModel):
    """Limits and timings of a `CrmClient`. All durations are in seconds.

    Every process and replica using the same Redis must use the same concurrency limits: they are
    the size of global semaphores, not per-process pools.
    """

    model_config = ConfigDict(frozen=True)

    search_concurrency: int = Field(1, ge=1, description="concurrent sales-list calls, deployment-wide")
    fetch_concurrency: int = Field(3, ge=1, description="concurrent fiche-details calls, deployment-wide")
    directory_concurrency: int = Field(1, ge=1, description="concurrent users/groups calls, deployment-wide")

    search_timeout: float = Field(90.0, gt=0, description="one sales-list attempt (a whole date range)")
    search_budget: float = Field(120.0, gt=0, description="a whole sales-list call, retries included")
    details_timeout: float = Field(30.0, gt=0)
    details_budget: float = Field(60.0, gt=0)
    directory_timeout: float = Field(30.0, gt=0)
    directory_budget: float = Field(60.0, gt=0)
    health_timeout: float = Field(5.0, gt=0)

    max_attempts: int = Field(4, ge=1, description="HTTP requests per call at most")
    not_found_attempts: int = Field(
        3, ge=1, description="404 answers to a details call before the fiche counts as not found (1 = at once)"
    )
    backoff_base: float = Field(1.0, gt=0)
    backoff_cap: float = Field(15.0, gt=0)
    max_cooldown: float = Field(300.0, gt=0, description="longest shared cooldown a Retry-After may impose")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.not_found_attempts > self.max_attempts:
            raise ValueError("not_found_attempts cannot exceed max_attempts")
        if self.backoff_cap < self.backoff_base:
            raise ValueError("backoff_cap must be >= backoff_base")
        return self
