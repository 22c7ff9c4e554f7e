"""Typed speech-to-text failures whose messages are safe to store, log and show.

Messages never carry an API key or a signed URL: they are built from the provider's name, the HTTP
status and a short, redacted excerpt of the provider's own message, with URLs cut to scheme, host
and path.
"""

from __future__ import annotations

from resources.http.errors import sanitise


class SttError(Exception):
    """A recording could not be transcribed; `retryable` errors may succeed on a later attempt."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(sanitise(message))
        self.status = status
        self.retry_after = retry_after


class SttUnavailable(SttError):
    """Rate limited (429), overloaded (408, 5xx), timed out or unreachable: try again later."""

    retryable = True


class SttAuthError(SttError):
    """The provider refused the credentials (401/403), or none is configured."""


class SttRequestError(SttError):
    """The provider refused the request itself (another 4xx): retrying the same request cannot help."""


class SttBadResponse(SttError):
    """The provider answered 2xx with a body that is not a transcript."""


class SttAudioError(SttError):
    """The recording's audio could not be obtained (no URL, download refused, too large)."""
