"""Minimal checks of the gateway's JSON envelopes; the content is parsed by `domain.crm`.

Only what the client must know to decide between "done", "retry" and "give up" is checked here: that
a sales list has a `fiches` list and an integer `total`, and that a details or directory answer says
`success`. Everything inside a fiche stays raw.

`success: false` on a 200 answer is *not* a not-found by default (the original mapped it to 404,
which made transient gateway failures look like deleted fiches). The rule:

* the message says the fiche does not exist ("not found", "introuvable", "n'existe pas",
  "inexistant", "does not exist", "aucune fiche") -> handled exactly like an HTTP 404 (retried a
  bounded number of times, then `CrmNotFound`);
* any other message -> a transient gateway failure, retried within the budget, then `CrmUnavailable`;
* `success` missing or not a boolean -> `CrmBadResponse`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_NOT_FOUND = re.compile(
    r"not\s*found|introuvable|n['\u2019]\s*existe\s+pas|inexistant|does\s+not\s+exist|aucune\s+fiche", re.IGNORECASE
)
_MAX_MESSAGE = 200


class BadEnvelope(Exception):
    """The JSON does not have the expected envelope."""


class Refused(Exception):
    """The gateway answered `success: false`; `not_found` applies the rule in the module docstring."""

    def __init__(self, message: str) -> None:
        self.message = message[:_MAX_MESSAGE]
        self.not_found = bool(_NOT_FOUND.search(message))
        super().__init__(self.message)


@dataclass(frozen=True)
class SalesPage:
    """A sales-list answer: raw fiche summaries and the gateway's `total`."""

    fiches: list[dict[str, Any]]
    total: int


def _object(payload: object, what: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise BadEnvelope(f"{what} is not a JSON object")
    return payload


def _objects(value: object, what: str) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise BadEnvelope(f"{what} is not a list of objects")
    return value


def _successful(payload: object, what: str) -> dict[str, Any]:
    body = _object(payload, what)
    success = body.get("success")
    if not isinstance(success, bool):
        raise BadEnvelope(f"{what} has no boolean 'success'")
    if not success:
        message = body.get("message")
        raise Refused(message if isinstance(message, str) and message else "success=false without a message")
    return body


def sales_page(payload: object) -> SalesPage:
    body = _object(payload, "sales list")
    total = body.get("total")
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise BadEnvelope("sales list has no non-negative integer 'total'")
    return SalesPage(_objects(body.get("fiches"), "sales list 'fiches'"), total)


def fiche_details(payload: object) -> dict[str, Any]:
    return _successful(payload, "fiche details")


def directory(key: str) -> Callable[[object], list[dict[str, Any]]]:
    """Reader of `{success, data: {<key>: [...]}}`, the users and groups answers."""

    def read(payload: object) -> list[dict[str, Any]]:
        body = _successful(payload, key)
        data = _object(body.get("data"), f"{key} 'data'")
        return _objects(data.get(key), f"{key} 'data.{key}'")

    return read
