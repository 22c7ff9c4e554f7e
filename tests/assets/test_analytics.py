"""`audit_facts` on the demo day: the latest view of every audit x control point, in Postgres and Parquet."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from assets.analytics import (
    agent_scorecards,
    audit_facts,
    audit_facts_complete,
    audit_facts_schema_stable,
    audit_facts_valid,
    scorecard_health,
)
from assets.audits import audits
from callaudit.settings import get_settings
from domain.analytics.agents import AGENT_WEEK_SCHEMA
from domain.analytics.facts import FACTS_SCHEMA
from domain.analytics.health import HEALTH_SCHEMA
from domain.analytics.parquet import schema_changes
from domain.audits.reviews import Actor, review_point
from domain.models import Audit, AuditCitation, AuditControlPoint, AuditStep, Fiche
from domain.models.analytics import AuditFact
from tests.fixtures.audit_day import DAY

REVIEWER = Actor(3, "user:3")


@pytest.fixture
def analytics_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """`CALLAUDIT_HOME` here and no `ANALYTICS_STORAGE_ROOT`: the default root, `$CALLAUDIT_HOME/analytics`."""
    monkeypatch.setenv("CALLAUDIT_HOME", str(tmp_path))
    monkeypatch.delenv("ANALYTICS_STORAGE_ROOT", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "analytics"
    get_settings.cache_clear()


def _audit_day(instance: dg.DagsterInstance, resources: dict[str, Any], scorecard_id: int) -> None:
    instance.add_dynamic_partitions("scorecards", [str(scorecard_id)])
    key = dg.MultiPartitionKey({"sales_day": DAY, "scorecard": str(scorecard_id)})
    assert dg.materialize([audits], partition_key=key, resources=resources, instance=instance).success


def _facts(instance: dg.DagsterInstance, resources: dict[str, Any]) -> dict[str, Any]:
    """Materialize the day's facts with their checks (all must pass); the materialization metadata."""
    result = dg.materialize(
        [audit_facts, audit_facts_complete, audit_facts_valid, audit_facts_schema_stable],
        partition_key=DAY,
        resources={"database": resources["database"], "settings": get_settings()},
        instance=instance,
    )
    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert set(checks) == {"audit_facts_complete", "audit_facts_valid", "audit_facts_schema_stable"}
    assert all(c.passed for c in checks.values()), {n: c.metadata for n, c in checks.items()}
    [event] = result.asset_materializations_for_node("audit_facts")
    return {k: v.value for k, v in event.metadata.items()}


def _readme_duckdb_query_reads_the_files(root: Path, rows: list[dict[str, Any]]) -> None:
    """The README's DuckDB example, as written there, over the files just written (its root and
    "today" set to this test's), counts what the rows hold."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    query = readme.split("```sql\n-- duckdb: the most failed control points", 1)[1].split("```", 1)[0]
    query = query.split("\n", 1)[1]  # past the comment line
    query = query.replace(".callaudit/analytics", str(root)).replace("current_date", f"DATE '{DAY}'")
    relation = duckdb.sql(query)
    assert relation is not None
    got = relation.fetchall()
    counts: dict[tuple[Any, ...], list[int]] = {}
    for r in rows:
        seen = counts.setdefault((r["groupe"], r["step_name"], r["control_point"]), [0, 0])
        seen[0] += r["status"] in {"ABSENT", "PARTIEL"}
        seen[1] += 1
    expected = {key: (failed, total) for key, (failed, total) in counts.items()}
    assert got
    assert len(got) == min(20, len(expected))
    assert all(expected[(g, s, c)] == (f, n) for g, s, c, f, n in got)
    assert [f for *_, f, _ in got] == sorted((f for f, _ in expected.values()), reverse=True)[: len(got)]


def _table_rows(engine: Engine) -> list[dict[str, Any]]:
    with Session(engine) as session:
        facts = session.scalars(
            select(AuditFact).order_by(AuditFact.audit_id, AuditFact.step_position, AuditFact.control_point_index)
        ).all()
        return [{c: getattr(f, c) for c in FACTS_SCHEMA.names} for f in facts]


def test_the_days_facts_are_the_latest_view_in_postgres_and_parquet(
    instance: dg.DagsterInstance,
    audit_resources: dict[str, Any],
    transcribed_day: list[str],
    scorecard_id: int,
    sync_engine: Engine,
    analytics_root: Path,
) -> None:
    _audit_day(instance, audit_resources, scorecard_id)
    with Session(sync_engine) as session:
        points = session.execute(
            select(Audit.id, Audit.fiche_id, AuditStep.position, AuditControlPoint.index, AuditControlPoint.statut)
            .join(AuditStep, AuditStep.audit_id == Audit.id)
            .join(AuditControlPoint, AuditControlPoint.step_id == AuditStep.id)
            .order_by(Audit.id, AuditStep.position, AuditControlPoint.index)
        ).all()
        evidence = dict(
            session.execute(
                select(AuditControlPoint.id, func.count(AuditCitation.id))
                .outerjoin(AuditCitation, AuditCitation.control_point_id == AuditControlPoint.id)
                .group_by(AuditControlPoint.id)
            ).all()
        )
    # A reviewer turns one point over: the facts carry the new status, the AI's and who changed it.
    audit_id, _, position, index, ai_status = points[0]
    overridden = "ABSENT" if ai_status != "ABSENT" else "PRESENT"
    with Session(sync_engine) as session, session.begin():
        review_point(session, audit_id, position, index, {"statut": overridden}, actor=REVIEWER, reason="réécouté")

    figures = _facts(instance, audit_resources)
    rows = _table_rows(sync_engine)
    assert figures["rows"] == len(rows) == len(points)
    assert (figures["audits"], figures["fiches"], figures["human_changed"]) == (
        len(transcribed_day),
        len(transcribed_day),
        1,
    )
    assert [
        (r["audit_id"], r["fiche_id"], r["step_position"], r["control_point_index"], r["ai_status"]) for r in rows
    ] == [tuple(p) for p in points]
    [changed] = [r for r in rows if r["human_changed"]]
    assert (changed["audit_id"], changed["step_position"], changed["control_point_index"]) == (
        audit_id,
        position,
        index,
    )
    assert (changed["status"], changed["ai_status"], changed["changed_by"]) == (overridden, ai_status, "user:3")
    assert all(r["status"] == r["ai_status"] and r["changed_by"] is None for r in rows if r is not changed)
    assert {r["sales_day"] for r in rows} == {dt.date.fromisoformat(DAY)}
    assert {r["auditor"] for r in rows} == {"heuristic"}
    assert sum(r["evidence_count"] for r in rows) == sum(evidence.values()) > 0
    assert all((r["first_evidence_second"] is None) == (r["evidence_count"] == 0) for r in rows)
    with Session(sync_engine) as session:
        stored = session.get_one(Audit, audit_id)
        agents = dict(session.execute(select(Fiche.fiche_id, Fiche.attribution_user_id)).all())
        assert {r["audit_score_percentage"] for r in rows if r["audit_id"] == audit_id} == {
            float(stored.score_percentage or 0)
        }
    assert all(r["agent"] == agents[r["fiche_id"]] for r in rows)

    # The Parquet file, read back, is the table row for row with the pinned schema.
    path = analytics_root / "audit_facts" / f"{DAY}.parquet"
    assert figures["path"] == str(path)
    parquet = pq.read_table(path)
    assert schema_changes(parquet.schema, FACTS_SCHEMA) == []
    assert parquet.to_pylist() == rows
    _readme_duckdb_query_reads_the_files(analytics_root, rows)

    # The day's health per control point, from those facts: the overridden point has a human's kappa.
    result = dg.materialize(
        [scorecard_health],
        partition_key=DAY,
        resources={"database": audit_resources["database"], "settings": get_settings()},
        instance=instance,
        selection=[scorecard_health],
    )
    assert result.success
    [event] = result.asset_materializations_for_node("scorecard_health")
    assert event.metadata["reviewed_audits"].value == 1
    health = pq.read_table(analytics_root / "scorecard_health" / f"{DAY}.parquet")
    assert health.schema.equals(HEALTH_SCHEMA)
    by_point = {(h["step_position"], h["control_point_index"]): h for h in health.to_pylist()}
    assert len(by_point) == len({(r["step_position"], r["control_point_index"]) for r in rows})
    assert sum(h["points"] for h in by_point.values()) == len(rows)
    assert by_point[(position, index)]["override_rate"] == round(1 / len(transcribed_day), 4)
    assert by_point[(position, index)]["kappa"] == 0.0  # one pair, disagreeing: po = pe = 0
    assert all(h["override_rate"] == 0 and h["kappa"] is None for k, h in by_point.items() if k != (position, index))

    # The agents' week holding the day: every audit once, under its fiche's agent.
    monday = dt.date.fromisoformat(DAY) - dt.timedelta(days=dt.date.fromisoformat(DAY).weekday())
    assert dg.materialize(
        [agent_scorecards],
        partition_key=monday.isoformat(),
        resources={"database": audit_resources["database"], "settings": get_settings()},
        instance=instance,
    ).success
    weekly = pq.read_table(analytics_root / "agent_scorecards" / f"{monday}.parquet")
    assert weekly.schema.equals(AGENT_WEEK_SCHEMA)
    audits_by_agent: dict[str | None, set[int]] = {}
    for r in rows:
        audits_by_agent.setdefault(r["agent"], set()).add(r["audit_id"])
    assert {(w["agent"], w["audits"]) for w in weekly.to_pylist()} == {
        (agent, len(ids)) for agent, ids in audits_by_agent.items()
    }
    assert {w["trend"] for w in weekly.to_pylist()} == {None}  # no audit the week before

    # Rebuilt after the audit is deleted: the day is replaced, never appended to.
    with Session(sync_engine) as session, session.begin():
        session.execute(update(Audit).where(Audit.id == audit_id).values(deleted_at=func.now()))
    again = _facts(instance, audit_resources)
    remaining = [p for p in points if p[0] != audit_id]
    assert again["rows"] == len(_table_rows(sync_engine)) == len(remaining) == pq.read_table(path).num_rows
    assert again["human_changed"] == 0
    assert list(path.parent.iterdir()) == [path]  # nothing half-written left beside it


def test_facts_go_to_any_fsspec_url(
    instance: dg.DagsterInstance,
    audit_resources: dict[str, Any],
    transcribed_day: list[str],
    scorecard_id: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ANALYTICS_STORAGE_ROOT", "memory://analytics-test")
    get_settings.cache_clear()
    try:
        _audit_day(instance, audit_resources, scorecard_id)
        figures = _facts(instance, audit_resources)
    finally:
        get_settings.cache_clear()
    assert figures["path"] == f"memory://analytics-test/audit_facts/{DAY}.parquet"
    with fsspec.open(figures["path"], "rb") as source:
        assert pq.read_table(source).num_rows == figures["rows"] > 0


def test_an_empty_day_writes_an_empty_file_of_the_pinned_schema(
    instance: dg.DagsterInstance, audit_resources: dict[str, Any], clean_tables: None, analytics_root: Path
) -> None:
    figures = _facts(instance, audit_resources)
    assert (figures["rows"], figures["audits"]) == (0, 0)
    assert pq.read_table(analytics_root / "audit_facts" / f"{DAY}.parquet").schema.equals(FACTS_SCHEMA)


def test_the_pinned_schema_is_the_tables_columns() -> None:
    assert FACTS_SCHEMA.names == [c.name for c in AuditFact.__table__.columns]
    assert [c.name for c in AuditFact.__table__.columns if not c.nullable] == [
        f.name for f in FACTS_SCHEMA if not f.nullable
    ]


def test_a_schema_change_is_named_column_by_column() -> None:
    drifted = FACTS_SCHEMA.remove(FACTS_SCHEMA.get_field_index("agent"))
    drifted = drifted.set(drifted.get_field_index("step_score"), pa.field("step_score", pa.float64(), nullable=False))
    drifted = drifted.append(pa.field("extra_column", pa.string()))
    assert schema_changes(drifted, FACTS_SCHEMA) == [
        "missing agent",
        "extra extra_column",
        "step_score: double not null (pinned int32 not null)",
    ]
    reordered = pa.schema(list(reversed(list(FACTS_SCHEMA))))
    assert schema_changes(reordered, FACTS_SCHEMA)[0].startswith("column order")
