"""Errors at the ports: what an outside system's failure means to the work, whichever connector met it.

The stage services catch these, not a connector's own classes: `resources.crm.CrmError` and its
subclasses are also these, and `resources.stt.SttClient` raises `TranscriptionFailed`, so a service
reads "this item failed" / "the thing does not exist" / "stop the batch" without knowing which client,
or which HTTP status, said so. Not `DomainError`s: an upstream failure that reaches the API uncaught
stays a 500 unless a route maps it.
"""

from __future__ import annotations


class UpstreamError(Exception):
    """An outside system gave no usable answer: the item at hand fails with this (sanitised) reason."""


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
