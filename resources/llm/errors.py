"""Typed LLM failures whose messages are safe to store on a step and show (no key, no signed URL)."""

from __future__ import annotations

from resources.http.errors import sanitise


class LlmError(Exception):
    """A model call or its answer failed; `retryable` errors may succeed on a later attempt."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(sanitise(message))
        self.status = status
        self.retry_after = retry_after


class LlmUnavailable(LlmError):
    """Rate limited (429), overloaded (408, 409, 5xx), timed out or unreachable: try again later."""

    retryable = True


class LlmRequestError(LlmError):
    """The provider refused the request (401, 403, another 4xx): retrying the same request cannot help."""


class LlmBadResponse(LlmError):
    """The provider answered, but not with a usable step analysis (invalid JSON, wrong schema)."""


class LlmRefusal(LlmError):
    """The model refused to answer (`message.refusal`)."""
