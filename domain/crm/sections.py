"""Which payload keys become which columns, and the lossless split between columns and leftovers.

A section (a dict of the payload) is split into a *row* (the mapped keys, converted to column
types) and a *leftover* (everything else, as sent). Rebuilding overlays the row on the leftover.
A mapped value stays in the leftover too whenever its column cannot give it back identically
(`""` in a date column, a non-zero-padded date), so the split never loses what the gateway sent.
Known keys the gateway omitted come back as null: the one normalisation of the round trip here.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from domain.crm.parsing import (
    FR_DATE,
    FR_DATETIME,
    SQL_DATETIME,
    DateFormat,
    format_local_date,
    format_local_datetime,
    parse_local_date,
    parse_local_datetime,
)


class Codec(Protocol):
    """Converts one payload value to its column value and back."""

    def to_column(self, value: Any, field: str, tz: ZoneInfo) -> Any: ...

    def to_payload(self, value: Any, tz: ZoneInfo) -> Any: ...


class _Plain:
    def to_column(self, value: Any, field: str, tz: ZoneInfo) -> Any:
        return value

    def to_payload(self, value: Any, tz: ZoneInfo) -> Any:
        return value


@dataclass(frozen=True)
class LocalDateTime:
    """A CRM local date-time string <-> an aware `datetime` (timestamptz)."""

    fmt: DateFormat

    def to_column(self, value: str | None, field: str, tz: ZoneInfo) -> dt.datetime | None:
        return parse_local_datetime(value, field, self.fmt, tz)

    def to_payload(self, value: dt.datetime | None, tz: ZoneInfo) -> str | None:
        return None if value is None else format_local_datetime(value, self.fmt, tz)


@dataclass(frozen=True)
class LocalDate:
    """A CRM `DD/MM/YYYY` string <-> a `date`."""

    fmt: DateFormat = FR_DATE

    def to_column(self, value: str | None, field: str, tz: ZoneInfo) -> dt.date | None:
        return parse_local_date(value, field, self.fmt)

    def to_payload(self, value: dt.date | None, tz: ZoneInfo) -> str | None:
        return None if value is None else format_local_date(value, self.fmt)


PLAIN = _Plain()


@dataclass(frozen=True)
class Col:
    """Payload key path (inside the section) -> column."""

    path: tuple[str, ...]
    column: str
    codec: Codec = PLAIN


def _plain(*keys: str) -> tuple[Col, ...]:
    return tuple(Col((key,), key) for key in keys)


def _nested(parent: str, prefix: str, **columns_by_key: str) -> tuple[Col, ...]:
    return tuple(Col((parent, key), f"{prefix}_{column}") for key, column in columns_by_key.items())


INFORMATION = (
    *_plain("cle"),
    Col(("date_insertion",), "date_insertion", LocalDateTime(FR_DATETIME)),
    *_plain(
        "groupe",
        "agence_id",
        "agence_nom",
        "attribution_user_id",
        "attribution_user_nom",
        "provenance_id",
        "provenance_nom",
        "refus_demarchage",
        "exception_demarchage",
        "corbeille",
        "archive",
        "modules",
    ),
)
PROSPECT = (
    *_plain("prospect_id", "civilite", "civilite_text", "nom", "prenom"),
    Col(("date_naissance",), "date_naissance", LocalDate()),
    *_plain(
        "regime",
        "regime_text",
        "telephone",
        "mobile",
        "telephone_2",
        "mail",
        "mail_2",
        "adresse",
        "code_postal",
        "ville",
        "situation_familiale",
        "situation_familiale_text",
        "profession",
        "csp",
        "csp_text",
    ),
)
SUBSCRIPTION = (
    *_plain("souscription_id"),
    *(
        Col((key,), key, LocalDateTime(SQL_DATETIME))
        for key in ("date_souscription", "date_signature", "date_validation")
    ),
    *_plain("num_contrat", "annulation_contrat", "type_vente"),
    *_nested(
        "produit",
        "produit",
        formule="formule",
        groupe_nom="groupe_nom",
        gamme_nom="gamme_nom",
        formule_nom="formule_nom",
        cotisation="cotisation",
        type_contrat="type_contrat",
    ),
    *_nested("paiement", "paiement", mode_paiement="mode", periodicite="periodicite"),
    *_nested(
        "ancien_contrat",
        "ancien",
        deja_assure="deja_assure",
        assureur="assureur",
        formule="formule",
        cotisation="cotisation",
    ),
    *_plain("questions_conseil", "questions_complementaires"),
)
COMMENT = (
    *_plain("commentaire_id"),
    Col(("date",), "date", LocalDateTime(FR_DATETIME)),
    *_plain("utilisateur", "texte"),
)
TAG = (*_plain("nom"), Col(("date",), "date", LocalDate()), *_plain("style"))


def split_section(
    section: Mapping[str, Any], columns: Sequence[Col], field: str, tz: ZoneInfo
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(row, leftover) of one section; `field` prefixes error messages (e.g. `information`)."""
    leftover = copy.deepcopy(dict(section))
    row: dict[str, Any] = {}
    for col in columns:
        parent = _walk(leftover, col.path[:-1])
        key = col.path[-1]
        if parent is None or key not in parent:
            row[col.column] = None
            continue
        value = parent[key]
        row[col.column] = col.codec.to_column(value, ".".join((field, *col.path)), tz)
        if col.codec.to_payload(row[col.column], tz) == value:
            del parent[key]
    for path in sorted({col.path[:-1] for col in columns if len(col.path) > 1}, key=len, reverse=True):
        parent = _walk(leftover, path[:-1])
        if parent is not None and parent.get(path[-1]) == {}:
            del parent[path[-1]]
    return row, leftover


def join_section(
    row: Mapping[str, Any], columns: Sequence[Col], leftover: Mapping[str, Any] | None, tz: ZoneInfo
) -> dict[str, Any]:
    """Inverse of `split_section`: leftover values win, a sub-object sent as null stays null."""
    out = copy.deepcopy(dict(leftover or {}))
    for col in columns:
        parent: Any = out
        for key in col.path[:-1]:
            parent = parent.setdefault(key, {})
            if not isinstance(parent, dict):
                break
        else:
            parent.setdefault(col.path[-1], col.codec.to_payload(row[col.column], tz))
    return out


def split_list(
    items: Iterable[Mapping[str, Any]], columns: Sequence[Col], field: str, tz: ZoneInfo
) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    """Rows numbered by `position`, and the per-item leftovers (None when all are empty)."""
    rows: list[dict[str, Any]] = []
    leftovers: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        row, leftover = split_section(item, columns, f"{field}.{position}", tz)
        rows.append({"position": position, **row})
        leftovers.append(leftover)
    return rows, leftovers if any(leftovers) else None


def join_list(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[Col], leftovers: Sequence[Any] | None, tz: ZoneInfo
) -> list[dict[str, Any]]:
    ordered = sorted(rows, key=lambda row: int(row["position"]))
    extra = list(leftovers or [])
    return [
        join_section(row, columns, extra[index] if index < len(extra) else None, tz)
        for index, row in enumerate(ordered)
    ]


def _walk(data: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    node: Any = data
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None
