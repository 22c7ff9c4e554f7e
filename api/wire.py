"""Types of what crosses the wire: ids (strings out, canonical decimal in), bounded clean strings,
e-mails and passwords, and the `{name:id}` path segment.

* Ids are strings on the wire (`IdStr` out, `IdIn` in bodies, `EntityId` in paths: 1..2^63-1), in
  canonical decimal digits: `true`, `1.0`, ` 1` or `01` are refused, never read as 1.
* Free text from clients uses `Str64`/`Str255`/...: valid UTF-8, no control character (one-line
  fields) or none but tab and line breaks (`Str2000`).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, Strict, StringConstraints, WithJsonSchema
from starlette.convertors import Convertor, register_url_convertor

MAX_ID = 2**63 - 1


def _valid_utf8(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid UTF-8 text") from None
    return value


def _one_line(value: str) -> str:
    """Names and identifiers: no control character at all (they end up in logs, headers and exports)."""
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise ValueError("must not contain control characters")
    return _valid_utf8(value)


def _text(value: str) -> str:
    """Multi-line text: tabs and line breaks, no other control character (NUL included: Postgres refuses it)."""
    if any(unicodedata.category(c) == "Cc" and c not in "\t\n\r" for c in value):
        raise ValueError("must not contain control characters other than tabs and line breaks")
    return _valid_utf8(value)


_Clean = AfterValidator(_one_line)

#: Client-supplied one-line strings, trimmed, bounded: add `Field(min_length=1)` where required.
Str64 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64), _Clean]
Str128 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=128), _Clean]
Str255 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255), _Clean]
#: Client-supplied free text (descriptions, comments).
Str2000 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), AfterValidator(_text)]


EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$"

#: Lower-cased, trimmed e-mail address (the original's rule: unique, case-insensitive).
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, to_lower=True, min_length=3, max_length=320, pattern=EMAIL_PATTERN),
    AfterValidator(_one_line),
]

#: 8-200 characters, no composition rules (reference §10.2, ASVS 6.2).
Password = Annotated[str, StringConstraints(min_length=8, max_length=200), AfterValidator(_text)]


_CANONICAL_ID = re.compile(r"[1-9][0-9]{0,18}")


def _id_from_wire(value: object) -> object:
    """A decimal string becomes an int only when canonical; anything else is left to fail strict validation."""
    if isinstance(value, str) and _CANONICAL_ID.fullmatch(value):
        return int(value)
    return value


def _canonical_path_id(value: object) -> object:
    if isinstance(value, str) and not _CANONICAL_ID.fullmatch(value):
        raise ValueError("must be a positive integer written in decimal digits")
    return value


#: An id in a response: a string (ids are 64-bit; JavaScript numbers are not).
IdStr = Annotated[int, PlainSerializer(str, return_type=str)]

#: An id in a request body: a decimal string (an integer is accepted too; `true` or `1.0` are not).
IdIn = Annotated[
    int,
    BeforeValidator(_id_from_wire),
    Strict(),
    Field(ge=1, le=MAX_ID),
    WithJsonSchema({"type": "string", "pattern": "^[1-9][0-9]{0,17}$"}, mode="validation"),
]

#: A positive integer in a path, written canonically (`1.0`, ` 1`, `01` are not ids).
CanonicalPathInt = BeforeValidator(_canonical_path_id)

#: An id in a path.
EntityId = Annotated[int, CanonicalPathInt, Path(ge=1, le=MAX_ID)]


class _IdSegment(Convertor[str]):
    """`{name:id}`: a segment that does not start with a letter, so a static sibling route such as
    `/teams/sync-from-crm` is never taken for an id (another method on it is a 405, not a 400).
    The value stays a string: `EntityId` validates it and names the field when it is malformed."""

    regex = "[^/A-Za-z][^/]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return str(value)


register_url_convertor("id", _IdSegment())
