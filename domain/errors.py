"""The one family of errors the rules raise, by kind; the API renders each kind one way (`api/errors.py`).

A rule says what went wrong (`not_found`, `conflict`, `invalid`, `unavailable`) and in words a user
may read; it never picks an HTTP status. Messages must hold no secret, URL or upstream body.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

Kind = Literal["not_found", "conflict", "invalid", "unavailable"]


@dataclass(frozen=True)
class FieldIssue:
    field: str
    message: str


class DomainError(Exception):
    kind: ClassVar[Kind]

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        issues: Sequence[FieldIssue] = (),
        extra: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.issues = tuple(issues)
        self.extra = dict(extra or {})  # documented members of the error body (e.g. the id in conflict)


class NotFoundError(DomainError):
    """Missing, or outside the caller's scope (never told apart)."""

    kind = "not_found"


class ConflictError(DomainError):
    """The request contradicts the current state; reloading and retrying differently may succeed."""

    kind = "conflict"


class InvalidError(DomainError):
    """Content that breaks a rule; `issues` names every offending field (of the request body)."""

    kind = "invalid"


class UnavailableError(DomainError):
    """Something the work needs is down; the same request may succeed later."""

    kind = "unavailable"


class LockHeld(ConflictError):
    """Shared work is claimed by another owner (until the caller's wait deadline, when it waited):
    the port's "lock not acquired", whichever store holds the locks."""
