"""What the stage services need from the outside, as Protocols the connectors in `resources` meet.

The services are typed against these, not against a client class, so a test (or another
connector) passes anything with the same shape. The auditor's port is `domain.audits.auditor.Auditor`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, Self

from resources.crm.envelopes import SalesPage
from resources.stt.base import AudioSource, SttProvider
from resources.stt.client import SttLimits, Transcribed

__all__ = ["AudioSource", "Claim", "Claims", "CrmGateway", "Publisher", "Transcriber"]


class Publisher(Protocol):
    """Appends an event to a topic's stream (`resources.redis.EventPublisher`); raises
    `domain.errors.UnavailableError` when it cannot, which the services treat as best-effort."""

    async def publish(self, topic: str, event_type: str, payload: Mapping[str, Any]) -> str: ...

    async def publish_all(self, topics: Sequence[str], event_type: str, payload: Mapping[str, Any]) -> list[str]:
        """The event on each topic, in order (one round trip for them all)."""
        ...


class CrmGateway(Protocol):
    """The CRM calls ingestion makes (`resources.crm.CrmClient`); failures are `domain.upstream` errors
    (`UpstreamNotFound` for a fiche the CRM does not know, `UpstreamHalt` when no call can succeed)."""

    async def search_sales(self, start: dt.date, end: dt.date, *, include_recordings: bool) -> SalesPage: ...

    async def fiche_details(self, fiche_id: str) -> dict[str, Any]: ...

    async def groups(self, include_users: bool) -> list[dict[str, Any]]: ...


class Transcriber(Protocol):
    """One recording transcribed, bounded and retried (`resources.stt.client.SttClient`);
    `domain.upstream.TranscriptionFailed` when it could not be."""

    @property
    def provider(self) -> SttProvider: ...

    @property
    def limits(self) -> SttLimits: ...

    async def transcribe(self, source: AudioSource) -> Transcribed: ...


class Claim(Protocol):
    """An exclusive claim that expires unless renewed (`resources.redis.RedisLock`): `async with`
    holds it, raising `domain.errors.LockHeld` when another holder keeps it past the wait."""

    @property
    def key(self) -> str: ...

    async def extend(self) -> bool:
        """Renew for the claim's timeout; False when it had expired or changed hands."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...


class Claims(Protocol):
    """Makes the claim of a name (`functools.partial(resources.redis.RedisLock, redis)`)."""

    def __call__(self, name: str, *, timeout: float, wait_timeout: float) -> Claim: ...
