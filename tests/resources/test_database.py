"""The API engine reads `jsonb` values as `json.loads` does (decision 118: parsed by pydantic-core)."""

from __future__ import annotations

import json

from sqlalchemy import text

from resources.database import create_api_engine, json_loads

DOCUMENTS = [
    '["00:12", "01:40"]',
    "[]",
    '{"b": [1.5, null, true, false], "a": -0.0, "c": "clé \\u00e9 \\ud83d\\ude00", "d": {"e": "x"}}',
    "123456789012345678901234567890",
    "[0.1, 1e-7, 1.7976931348623157e308, 5e-324, 3, -7, 1E2]",
    '{"k": 1, "k": 2}',
    "[" * 250 + "]" * 250,  # deeper than pydantic-core reads
]


def test_json_loads_reads_what_json_loads_reads() -> None:
    for document in [*DOCUMENTS, '"\\ud800"', "1e400"]:  # an unpaired surrogate, an overflow (`json`, not `jsonb`)
        assert repr(json_loads(document.encode())) == repr(json.loads(document)), document


async def test_the_api_engine_reads_jsonb_as_json_loads(database_url: str) -> None:
    engine = create_api_engine(database_url)
    try:
        async with engine.connect() as connection:
            for document in DOCUMENTS:
                value, stored = (
                    await connection.execute(text("SELECT CAST(:d AS jsonb), CAST(:d AS jsonb)::text"), {"d": document})
                ).one()
                assert repr(value) == repr(json.loads(stored)), document
    finally:
        await engine.dispose()
