"""What every route family imports to be authenticated, authorized and scoped the same way.

```python
from api.security import EntityId, Grant, IdStr, fetch_page, get_visible_or_404, require
from domain.scoping import apply_fiche_scope

ReadFiches = Annotated[Grant, Depends(require("fiches", "read"))]

@router.get("/{fiche_id}", response_model=Envelope[FicheOut])
async def get_fiche(fiche_id: EntityId, grant: ReadFiches, session: SessionDep) -> Envelope[FicheOut]:
    fiche = await get_visible_or_404(session, apply_fiche_scope(select(Fiche).where(Fiche.id == fiche_id), grant))
    ...

@router.get("", response_model=Page[FicheOut])
async def list_fiches(grant: ReadFiches, session: SessionDep, page: Annotated[PageParams, Depends(page_params)]):
    rows, total = await fetch_page(session, apply_fiche_scope(select(Fiche).order_by(Fiche.id), grant), page)
    return page.paginate([FicheOut.model_validate(r) for r in rows], total)
```

* 401 anonymous / invalid credentials, 403 missing grant (both from `require`), 404 for an entity
  that is missing **or** outside the caller's scope (`get_visible_or_404`): no existence oracle.
* Lists are filtered in SQL before counting, so `pagination.total` and pages only see visible rows.
* Ids are strings on the wire (`IdStr` out, `IdIn` in bodies, `EntityId` in paths: 1..2^63-1), in
  canonical decimal digits: `true`, `1.0`, ` 1` or `01` are refused, never read as 1.
* Free text from clients uses `Str64`/`Str255`/...: valid UTF-8, no control character (one-line
  fields) or none but tab and line breaks (`Str2000`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar, TypeVarTuple

from fastapi import Path
from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, Strict, StringConstraints, WithJsonSchema
from sqlalchemy import Select, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.convertors import Convertor, register_url_convertor

from api.auth.dependencies import CurrentPrincipal, CurrentUser, OptionalPrincipal, require, require_all
from api.auth.principal import Grant, Principal, PrincipalKind
from api.errors import NotFound
from api.schemas import PageParams
from domain.models.fiches import Fiche
from domain.scoping import apply_fiche_scope

__all__ = [
    "MAX_ID",
    "CanonicalPathInt",
    "CurrentPrincipal",
    "CurrentUser",
    "Email",
    "EntityId",
    "Grant",
    "IdIn",
    "IdStr",
    "OptionalPrincipal",
    "Password",
    "Principal",
    "PrincipalKind",
    "Str64",
    "Str128",
    "Str255",
    "Str2000",
    "fetch_page",
    "fetch_rows_page",
    "get_visible_or_404",
    "require",
    "require_all",
]

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

MAX_ID = 2**63 - 1

# --- wire types -----------------------------------------------------------------------------------


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


# --- scoped queries -------------------------------------------------------------------------------


async def get_visible_or_404(session: AsyncSession, statement: Select[T], what: str = "Not found") -> T:
    """The single row of an already-scoped statement; 404 whether it is missing or out of scope."""
    row = (await session.scalars(statement.limit(1))).first()
    if row is None:
        raise NotFound(what)
    return row


async def _count(session: AsyncSession, statement: Select[*tuple[Any, ...]]) -> int:
    """Rows the statement would return: its columns replaced by a constant (cheap, same joins and filters).

    Not for statements with DISTINCT or GROUP BY, whose row count depends on the selected columns.
    """
    counted = statement.with_only_columns(literal(1), maintain_column_froms=True).order_by(None).subquery()
    total = await session.scalar(select(func.count()).select_from(counted))
    return int(total or 0)


async def fetch_page(session: AsyncSession, statement: Select[T], page: PageParams) -> tuple[list[T], int]:
    """One page of an (already scoped, ordered) single-entity statement and the total of visible rows."""
    rows = (await session.scalars(statement.limit(page.limit).offset(page.offset))).all()
    return list(rows), await _count(session, statement)


async def fetch_rows_page(
    session: AsyncSession, statement: Select[*Ts], page: PageParams
) -> tuple[list[tuple[*Ts]], int]:
    """`fetch_page` for statements selecting several columns/entities: rows as tuples."""
    rows = (await session.execute(statement.limit(page.limit).offset(page.offset))).all()
    return list(rows), await _count(session, statement)


async def visible_fiche_ids(session: AsyncSession, grant: Grant, fiche_ids: Sequence[str]) -> set[str]:
    statement = apply_fiche_scope(select(Fiche.fiche_id).where(Fiche.fiche_id.in_(list(fiche_ids))), grant)
    return set(await session.scalars(statement))


async def require_visible_fiches(session: AsyncSession, grant: Grant, fiche_ids: Sequence[str]) -> None:
    """404 naming the ids that are missing or outside the scope (the two are not told apart)."""
    visible = await visible_fiche_ids(session, grant, fiche_ids)
    missing = [i for i in fiche_ids if i not in visible]
    if len(missing) == 1 and len(fiche_ids) == 1:
        raise NotFound("Fiche not found")
    if missing:
        shown = ", ".join(missing[:20]) + (", ..." if len(missing) > 20 else "")
        raise NotFound(f"{len(missing)} fiche(s) not found: {shown}")
