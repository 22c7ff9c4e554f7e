"""Errors at the ports: what an outside system's failure means to the work, whichever connector met it.

The stage services catch these, not a connector's own classes: `resources.crm.CrmError` and its
subclasses are also these, and `resources.stt.SttClient` raises `TranscriptionFailed`, so a service
reads "this item failed" / "the thing does not exist" / "stop the batch" without knowing which client,
or which HTTP status, said so. Not `DomainError`s (an outside system's failure is none of the four
kinds), but rendered once too: `api/errors.py` answers one that reaches it with a 502 naming `service`,
so no route catches a connector's error to translate it. One that is also an `UnavailableError` (the
CRM's caps unreachable) is rendered as that kind, a 503.
"""

from __future__ import annotations

from typing import ClassVar


class UpstreamError(Exception):
    """An outside system gave no usable answer: the item at hand fails with this (sanitised) reason."""

    #: Who failed, as a client may read it ("The CRM"): never an address.
    service: ClassVar[str] = "An outside service"


class UpstreamNotFound(UpstreamError):
    """The outside system says, consistently, that the thing does not exist."""


class UpstreamHalt(UpstreamError):
    """No other call can succeed either (credentials refused, the shared caps unreachable): stop the batch."""


class TranscriptionFailed(UpstreamError):
    """A recording's transcription gave up (the `Transcriber` port): `error` is the provider's last
    error (sanitised, safe to store), `attempts` the calls made."""

    def __init__(self, error: Exception, attempts: int) -> None:
        super().__init__(str(error))
        self.error = error
        self.attempts = attempts
