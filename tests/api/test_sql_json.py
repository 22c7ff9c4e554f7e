"""`api.sql_json`: objects written by Postgres in the response model's shape and pydantic's forms."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import BaseModel, Field, TypeAdapter
from sqlalchemy import DateTime, Numeric, literal, null, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from api.sql_json import envelope, instant, json_object, object_text
from api.wire import IdStr


class Inner(BaseModel):
    id: IdStr
    at: dt.datetime | None


class Outer(BaseModel):
    name: str
    total_audits: int = Field(serialization_alias="totalAudits")
    score: float | None
    inner: Inner


def test_json_object_takes_every_field_by_wire_name_in_order() -> None:
    inner = {"id": literal("1"), "at": null()}
    json_object(Inner, inner)
    with pytest.raises(TypeError, match="Inner's JSON takes"):
        json_object(Inner, {"at": null(), "id": literal("1")})  # moved
    with pytest.raises(TypeError, match="Inner's JSON takes"):
        json_object(Inner, {"id": literal("1")})  # missing
    with pytest.raises(TypeError, match="Inner's JSON takes"):
        json_object(Inner, {**inner, "extra": literal(1)})  # added
    with pytest.raises(TypeError, match="Outer's JSON takes"):  # by the name, where the wire has the alias
        json_object(Outer, {"name": literal("a"), "total_audits": literal(1), "score": null(), "inner": null()})


async def test_json_object_is_what_pydantic_writes(async_db_session: AsyncSession) -> None:
    at = dt.datetime(2025, 3, 3, 10, 0, 0, 250000, tzinfo=dt.UTC)
    written = await async_db_session.scalar(
        select(
            json_object(
                Outer,
                {
                    "name": literal('Vente "santé"\n'),
                    "totalAudits": literal(3),
                    "score": literal(87.50, Numeric(5, 2)),  # written as a float, the model's type
                    "inner": json_object(Inner, {"id": literal(42), "at": literal(at, DateTime(timezone=True))}),
                },
            )
        )
    )
    expected = Outer.model_validate(
        {"name": 'Vente "santé"\n', "total_audits": 3, "score": 87.5, "inner": {"id": 42, "at": at}}
    )
    assert written == json.loads(expected.model_dump_json(by_alias=True))
    assert list(written) == ["name", "totalAudits", "score", "inner"]


async def test_instants_are_written_as_pydantic_writes_them(async_db_session: AsyncSession) -> None:
    """`instant` against pydantic on a whole second, fractions of every length and a day before 1900,
    whatever the connection's time zone."""
    await async_db_session.execute(text("SET LOCAL TIME ZONE 'America/Sao_Paulo'"))
    instants = [
        dt.datetime(2025, 3, 3, 10, 0, 0, tzinfo=dt.UTC),
        dt.datetime(2025, 3, 3, 10, 0, 0, 1, tzinfo=dt.UTC),
        dt.datetime(2025, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
        dt.datetime(2025, 6, 1, 0, 0, 0, 500000, tzinfo=dt.UTC),
        dt.datetime(1899, 1, 1, 12, 0, 0, 30, tzinfo=dt.UTC),
    ]
    adapter = TypeAdapter(dt.datetime)
    for value in instants:
        written = await async_db_session.scalar(select(instant(literal(value, DateTime(timezone=True)))))
        assert json.dumps(written) == adapter.dump_json(value).decode(), value
    assert await async_db_session.scalar(select(instant(null()))) is None


def test_envelope_splices_the_members_texts() -> None:
    body = envelope(object_text([("F-1", '{"a":1}'), ('quo"te', "null")]))
    assert body.media_type == "application/json"
    assert json.loads(bytes(body.body)) == {"success": True, "data": {"F-1": {"a": 1}, 'quo"te': None}}
    assert json.loads(bytes(envelope(object_text([])).body)) == {"success": True, "data": {}}
