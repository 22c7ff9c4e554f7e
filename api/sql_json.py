"""Response bodies written by Postgres, as pydantic would write the response model.

Where a response is many rows shaped into objects, decoding every column into a Python value,
validating the values into models and serialising the models again took a third of the API
process's CPU for the fiche status batch and a sixth for the audit list (decision 125). Postgres
writes each object's JSON instead (`json_build_object`, beside the rows it reads) and the API splices
the texts into its envelope. Postgres spends about what the API saves (14 us an audit summary);
measured under load, the API's CPU a request fell a fifth, the total 5-9 % and the p99 0-10 %
(decision 125). Postgres writes `"key" : value`, with spaces: bodies 13 % larger.

The shape stays the response model's: `json_object` takes one expression per field of the model, by
its wire name and in its order, and refuses any other set, so the model (and the OpenAPI schema
written from it) and the SQL cannot drift apart. Values are written as pydantic writes them:

* instants in UTC, `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` (pydantic's form for an aware datetime in UTC;
  Postgres' own `to_json` writes `+00:00` and trims the fraction's zeros);
* floats as `float8`: the same shortest digits, except that an integral value is written `100`
  where Python writes `100.0`, the same number to every JSON reader;
* ids (`IdStr`) as strings; days as `YYYY-MM-DD` (Postgres' JSON form whatever its `DateStyle`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    ColumnElement,
    ColumnExpressionArgument,
    DateTime,
    Float,
    Integer,
    Numeric,
    Text,
    case,
    cast,
    func,
    literal_column,
)
from starlette.responses import Response

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECONDS: ColumnElement[str] = literal_column("""'YYYY-MM-DD"T"HH24:MI:SS"Z"'""")
_MICROSECONDS: ColumnElement[str] = literal_column("""'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'""")


def json_object(model: type[BaseModel], fields: Mapping[str, ColumnExpressionArgument[Any]]) -> ColumnElement[Any]:
    """`model`'s JSON object, one SQL expression per field. `fields` must name every field of the
    model, by wire name and in the model's order, and nothing else. Each value is written in the form
    the model's serialisation schema gives its field: a `timestamptz` for a `date-time` as `instant`,
    a `numeric` for a number as `number`, an integer for a string (`IdStr`) as `identifier`. An
    expression whose SQL type SQLAlchemy does not know (`round(...)`) is written as Postgres writes
    it: wrap it."""
    wire = _wire_types(model)
    if list(fields) != list(wire):
        raise TypeError(f"{model.__name__}'s JSON takes {list(wire)}, not {list(fields)}")
    pairs: list[ColumnExpressionArgument[Any]] = []
    for name, value in fields.items():
        if not _NAME.fullmatch(name):  # written into the statement's text
            raise ValueError(f"{model.__name__}: field name {name!r} is not a plain identifier")
        pairs += [literal_column(f"'{name}'"), _as_written(wire[name], _element(value))]
    return func.json_build_object(*pairs)


def _wire_types(model: type[BaseModel]) -> dict[str, set[str]]:
    """Each field's JSON types as the model writes them (`string`, `date-time`, `number`, ...), by
    wire name, in order."""
    properties = model.model_json_schema(mode="serialization", by_alias=True)["properties"]
    return {
        name: {choice.get("format") or choice.get("type") or "object" for choice in schema.get("anyOf", [schema])}
        for name, schema in properties.items()
    }


def _element(value: ColumnExpressionArgument[Any]) -> ColumnElement[Any]:
    """The SQL expression behind a mapped attribute (SQLAlchemy's `__clause_element__` protocol)."""
    element = value.__clause_element__() if hasattr(value, "__clause_element__") else value
    if not isinstance(element, ColumnElement):
        raise TypeError(f"not a SQL expression: {element!r}")
    return element


def _as_written(types: set[str], value: ColumnElement[Any]) -> ColumnElement[Any]:
    if "date-time" in types and isinstance(value.type, DateTime):
        return instant(value)
    if "number" in types and isinstance(value.type, Numeric) and not isinstance(value.type, Float):
        return number(value)
    if "string" in types and isinstance(value.type, Integer):
        return identifier(value)
    return value


def instant(column: ColumnExpressionArgument[Any]) -> ColumnElement[str]:
    """A `timestamptz` as pydantic writes an aware datetime in UTC (NULL stays NULL)."""
    utc = func.timezone(literal_column("'UTC'"), column)
    whole_second = func.date_trunc(literal_column("'second'"), utc) == utc
    return func.to_char(utc, case((whole_second, _SECONDS), else_=_MICROSECONDS))


def number(column: ColumnExpressionArgument[Any]) -> ColumnElement[float]:
    """A numeric column as the float the model holds."""
    return cast(column, Float(53))


def identifier(column: ColumnExpressionArgument[Any]) -> ColumnElement[str]:
    """A bigint id as `IdStr` writes it."""
    return cast(column, Text)


def array_text(members: Iterable[str]) -> str:
    """A JSON array from its members' JSON texts."""
    return "[" + ",".join(members) + "]"


def object_text(members: Iterable[tuple[str, str]]) -> str:
    """A JSON object from its keys and its members' JSON texts, in the given order."""
    return "{" + ",".join(f"{json.dumps(key)}:{value}" for key, value in members) + "}"


class JSONText(Response):
    """A body already written as JSON: sent as it is (FastAPI sends a returned `Response` unchanged;
    the route's `response_model` still documents it)."""

    media_type = "application/json"


def envelope(data: str) -> JSONText:
    """`{"success": true, "data": ...}` around a JSON text (`api.schemas.Envelope`)."""
    return JSONText(object_text([("success", "true"), ("data", data)]))
