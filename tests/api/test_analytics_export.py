"""`GET /api/analytics/audit-facts`: the caller's facts only, streamed as Parquet or CSV, and the README's
curl example run as written against the app served by uvicorn."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import os
import re
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pyarrow.parquet as pq
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, insert, update

from api.analytics import service
from api.errors import BadRequest
from domain.analytics.facts import FACTS_SCHEMA
from domain.models import Fiche
from domain.models.analytics import AuditFact
from tests.fixtures.uvicorn_server import Serve
from tests.fixtures.world import World

URL = "/api/analytics/audit-facts"
README = Path(__file__).resolve().parents[2] / "README.md"
TODAY = dt.date.today()


def _fact(audit_id: int, fiche_id: str, day: dt.date, point: int, status: str, groupe: str) -> dict[str, Any]:
    return {
        "audit_id": audit_id,
        "step_position": 1,
        "control_point_index": point,
        "sales_day": day,
        "fiche_id": fiche_id,
        "agent": "crm-self",
        "crm_group_id": "G-OWN",
        "groupe": groupe,
        "scorecard_id": 1,
        "scorecard_version_id": 1,
        "scorecard_version": 1,
        "step_name": "Présentation",
        "step_weight": 5,
        "step_critical": False,
        "step_score": 3,
        "step_score_contribution": 15.0,
        "step_level": "PARTIEL",
        "control_point": f"point {point}",
        "ai_status": status,
        "status": status,
        "human_changed": False,
        "changed_by": None,
        "evidence_count": 1,
        "first_evidence_second": 12.5,
        "auditor": "heuristic",
        "model": None,
        "prompt_version": "v1",
        "transcript_mode": "plain",
        "audit_score_percentage": 61.5,
        "audit_level": "PARTIEL",
        "audit_input_tokens": 0,
        "audit_output_tokens": 0,
        "audit_cost_usd": 0.0,
        "audited_minutes": 4.5,
        "audit_duration_seconds": 1.25,
        "completed_at": dt.datetime(2026, 11, 24, 9, 30, tzinfo=dt.UTC),
    }


async def _facts(world: World, first: dt.date) -> dict[str, list[dict[str, Any]]]:
    """Facts over three days from `first`: 4 on the own fiche (group G-OWN, agent crm-self), 2 on the
    other group's fiche; the facts' own group and agent columns are stale on purpose (scope is the
    fiche's as it is now)."""
    await world.session.execute(delete(AuditFact).where(AuditFact.sales_day.between(first, first + dt.timedelta(2))))
    rows = {
        "own": [
            _fact(901, "F-OWN", first, 1, "ABSENT", "groupe G-OWN"),
            _fact(901, "F-OWN", first, 2, "PRESENT", "groupe G-OWN"),
            _fact(902, "F-OWN", first + dt.timedelta(1), 1, "ABSENT", "groupe G-OWN"),
            _fact(902, "F-OWN", first + dt.timedelta(1), 2, "PARTIEL", "groupe G-OWN"),
        ],
        "other": [
            _fact(903, "F-OTHER", first + dt.timedelta(1), 1, "ABSENT", "groupe G-OTHER"),
            _fact(903, "F-OTHER", first + dt.timedelta(2), 2, "PRESENT", "groupe G-OTHER"),
        ],
    }
    await world.session.execute(insert(AuditFact), rows["own"] + rows["other"])
    await world.commit()
    return rows


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return row["sales_day"], row["audit_id"], row["step_position"], row["control_point_index"]


def _parquet(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(response.content))
    assert table.schema.equals(FACTS_SCHEMA)
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


@pytest.mark.parametrize(
    ("principal", "sees"), [("viewer", "own"), ("self_user", "own"), ("operator", "own"), ("admin", "both")]
)
async def test_the_export_holds_the_callers_scope_only(
    client: httpx.AsyncClient, world: World, principal: str, sees: str
) -> None:
    first = dt.date(2026, 11, 23)
    rows = await _facts(world, first)
    params = {"from": str(first), "to": str(first + dt.timedelta(2))}
    got = _parquet(await client.get(URL, params=params, headers=world.headers(principal)))
    expected = rows["own"] + (rows["other"] if sees == "both" else [])
    assert got == sorted(expected, key=_key)


async def test_a_fiche_moved_to_another_group_takes_its_facts_along(client: httpx.AsyncClient, world: World) -> None:
    first = dt.date(2026, 11, 23)
    rows = await _facts(world, first)
    await world.session.execute(update(Fiche).where(Fiche.fiche_id == "F-OTHER").values(crm_group_id="G-OWN"))
    await world.commit()
    params = {"from": str(first), "to": str(first + dt.timedelta(2))}
    got = _parquet(await client.get(URL, params=params, headers=world.headers("viewer")))
    assert {r["audit_id"] for r in got} == {r["audit_id"] for r in rows["own"] + rows["other"]}


async def test_csv_streams_in_batches_with_one_header(
    client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "BATCH_ROWS", 1)
    first = dt.date(2026, 11, 23)
    rows = await _facts(world, first)
    params = {"from": str(first), "to": str(first + dt.timedelta(1)), "format": "csv"}
    response = await client.get(URL, params=params, headers=world.headers("admin"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"] == f'attachment; filename="audit_facts_{first}_2026-11-24.csv"'
    lines = list(csv.DictReader(io.StringIO(response.text)))
    in_range = sorted((r for r in rows["own"] + rows["other"] if r["sales_day"] <= dt.date(2026, 11, 24)), key=_key)
    assert list(lines[0]) == FACTS_SCHEMA.names
    assert [(line["sales_day"], int(line["audit_id"]), line["status"]) for line in lines] == [
        (str(r["sales_day"]), r["audit_id"], r["status"]) for r in in_range
    ]
    assert {line["changed_by"] for line in lines} == {""}  # null is an empty field


async def test_parquet_streams_one_row_group_per_batch(
    client: httpx.AsyncClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "BATCH_ROWS", 2)
    first = dt.date(2026, 11, 23)
    await _facts(world, first)
    params = {"from": str(first), "to": str(first + dt.timedelta(2))}
    response = await client.get(URL, params=params, headers=world.headers("admin"))
    assert pq.ParquetFile(io.BytesIO(response.content)).num_row_groups == 3  # 6 rows, 2 per batch


async def test_an_empty_range_is_a_file_with_the_schema(client: httpx.AsyncClient, world: World) -> None:
    params = {"from": "2001-01-01", "to": "2001-01-31"}
    assert _parquet(await client.get(URL, params=params, headers=world.headers("admin"))) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-11-24", "to": "2026-11-23"}, "to"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "to"),  # 367 days
        ({"from": "2026-11-23", "to": "2026-11-24", "format": "xlsx"}, "format"),
        ({"from": "23/11/2026", "to": "2026-11-24"}, "from"),
        ({"to": "2026-11-24"}, "from"),
    ],
)
async def test_bad_parameters_are_named(
    client: httpx.AsyncClient, world: World, params: dict[str, str], field: str
) -> None:
    response = await client.get(URL, params=params, headers=world.headers("admin"))
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["field"]) == ("VALIDATION_ERROR", f"query.{field}"), body


def test_a_year_and_a_leap_day_is_the_longest_range() -> None:
    service.check_range(dt.date(2024, 1, 1), dt.date(2024, 12, 31))  # 366 days
    with pytest.raises(BadRequest):
        service.check_range(dt.date(2025, 1, 1), dt.date(2026, 1, 2))


async def test_the_readme_curl_example_as_written(
    app: FastAPI,
    world: World,
    serve: Serve,
    tmp_path: Path,
) -> None:
    """The README's curl lines, run by bash against the served app, then its DuckDB query over the file:
    the most failed control points of the last 7 days among the viewer's facts."""
    rows = await _facts(world, TODAY - dt.timedelta(days=3))
    readme = README.read_text(encoding="utf-8")
    shell = readme.split("```sh\n# the same over the API", 1)[1].split("```", 1)[0].split("\n", 1)[1]
    query = readme.split("```sql\n-- duckdb: the most failed control points", 1)[1].split("```", 1)[0]
    query = query.split("\n", 1)[1].replace(".callaudit/analytics/audit_facts/*.parquet", "facts.parquet")
    async with serve(app) as base_url:
        env = os.environ | {"CALLAUDIT_URL": base_url, "CALLAUDIT_TOKEN": world.access_token("viewer")}
        process = await asyncio.create_subprocess_exec(
            "bash", "-euc", shell, cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
        )
        _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()
    assert re.search(r"from=\$\(date", shell)  # the range is computed, not a pasted day
    with duckdb.connect() as connection:
        connection.execute(f"SET file_search_path = '{tmp_path}'")
        got = connection.sql(query).fetchall()
    expected: dict[tuple[str, str, str], list[int]] = {}
    for r in rows["own"]:
        seen = expected.setdefault((r["groupe"], r["step_name"], r["control_point"]), [0, 0])
        seen[0] += r["status"] in {"ABSENT", "PARTIEL"}
        seen[1] += 1
    assert sorted(got) == sorted((*key, failed, seen) for key, (failed, seen) in expected.items())
    assert [failed for *_, failed, _ in got] == sorted((f for f, _ in expected.values()), reverse=True)
