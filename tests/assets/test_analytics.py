"""`audit_facts` on the demo day: the latest view of every audit x control point, in Postgres and Parquet."""

from __future__ import annotations

import asyncio
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
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from api.audits import service as audit_service
from api.audits.schemas import AuditDetail
from api.auth.principal import Grant, Principal, PrincipalKind
from assets.analytics import (
    BATCH_DAYS,
    UNCHANGED,
    agent_scorecards,
    agent_scorecards_complete,
    agent_scorecards_schema_stable,
    audit_facts,
    audit_facts_complete,
    audit_facts_schema_stable,
    audit_facts_scores_add_up,
    audit_facts_valid,
    scorecard_health,
    scorecard_health_complete,
    scorecard_health_schema_stable,
)
from assets.audits import audits
from callaudit.settings import get_settings
from domain.analytics.agents import AGENT_WEEK_SCHEMA
from domain.analytics.facts import FACTS_SCHEMA, SCORE_TOLERANCE, score_mismatches
from domain.analytics.health import HEALTH_SCHEMA
from domain.analytics.parquet import schema_changes
from domain.audits.reviews import Actor, review_point
from domain.models import Audit, AuditCitation, AuditControlPoint, AuditStep, Fiche
from domain.models.analytics import AgentScorecardWeek, AuditFact, ScorecardHealthRow
from domain.rbac import Action, Scope
from resources.database import create_api_engine
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
        [audit_facts, audit_facts_complete, audit_facts_valid, audit_facts_schema_stable, audit_facts_scores_add_up],
        partition_key=DAY,
        resources={"database": resources["database"], "settings": get_settings()},
        instance=instance,
    )
    assert result.success
    checks = {c.check_name: c for c in result.get_asset_check_evaluations()}
    assert set(checks) == {
        "audit_facts_complete",
        "audit_facts_valid",
        "audit_facts_schema_stable",
        "audit_facts_scores_add_up",
    }
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


@pytest.mark.timeout(900)  # eight Dagster runs with their checks: minutes on a loaded, shared machine
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
    # The overridden audit's parts add up to its recomputed score; one part off, and the check's query sees it.
    with Session(sync_engine) as session:
        assert score_mismatches(session, [dt.date.fromisoformat(DAY)]) == (0, 0)
        session.execute(
            update(AuditFact)
            .where(AuditFact.audit_id == audit_id, AuditFact.step_position == position)
            .values(step_score_contribution=AuditFact.step_score_contribution + 0.01)
        )
        assert score_mismatches(session, [dt.date.fromisoformat(DAY)]) == (1, 0)
        session.execute(update(AuditFact).where(AuditFact.audit_id == audit_id).values(step_score_contribution=None))
        assert score_mismatches(session, [dt.date.fromisoformat(DAY)]) == (0, 1)
        session.rollback()

    # The Parquet file, read back, is the table row for row with the pinned schema.
    path = analytics_root / "audit_facts" / f"{DAY}.parquet"
    assert figures["path"] == str(path)
    parquet = pq.read_table(path)
    assert schema_changes(parquet.schema, FACTS_SCHEMA) == []
    assert parquet.to_pylist() == rows
    _readme_duckdb_query_reads_the_files(analytics_root, rows)

    # The day's health per control point, from those facts: the overridden point has a human's kappa.
    result = dg.materialize(
        [scorecard_health, scorecard_health_complete, scorecard_health_schema_stable],
        partition_key=DAY,
        resources={"database": audit_resources["database"], "settings": get_settings()},
        instance=instance,
    )
    assert result.success
    assert sorted((c.check_name, c.passed) for c in result.get_asset_check_evaluations()) == [
        ("scorecard_health_complete", True),
        ("scorecard_health_schema_stable", True),
    ]
    [event] = result.asset_materializations_for_node("scorecard_health")
    assert event.metadata["reviewed_audits"].value == 1
    health = pq.read_table(analytics_root / "scorecard_health" / f"{DAY}.parquet")
    assert health.schema.equals(HEALTH_SCHEMA)
    with Session(sync_engine) as session:
        stored_health = session.scalars(
            select(ScorecardHealthRow).order_by(
                ScorecardHealthRow.scorecard_id,
                ScorecardHealthRow.step_position,
                ScorecardHealthRow.control_point_index,
            )
        ).all()
        assert [{n: getattr(h, n) for n in HEALTH_SCHEMA.names} for h in stored_health] == health.to_pylist()
        assert {h.sales_day for h in stored_health} == {dt.date.fromisoformat(DAY)}
    by_point = {(h["step_position"], h["control_point_index"]): h for h in health.to_pylist()}
    assert len(by_point) == len({(r["step_position"], r["control_point_index"]) for r in rows})
    assert sum(h["points"] for h in by_point.values()) == len(rows)
    assert by_point[(position, index)]["override_rate"] == round(1 / len(transcribed_day), 4)
    assert by_point[(position, index)]["kappa"] == 0.0  # one pair, disagreeing: po = pe = 0
    assert all(h["override_rate"] == 0 and h["kappa"] is None for k, h in by_point.items() if k != (position, index))

    # The agents' week holding the day: every audit once, under its fiche's agent.
    monday = dt.date.fromisoformat(DAY) - dt.timedelta(days=dt.date.fromisoformat(DAY).weekday())
    weekly_run = dg.materialize(
        [agent_scorecards, agent_scorecards_complete, agent_scorecards_schema_stable],
        partition_key=monday.isoformat(),
        resources={"database": audit_resources["database"], "settings": get_settings()},
        instance=instance,
    )
    assert weekly_run.success
    assert all(c.passed for c in weekly_run.get_asset_check_evaluations())
    assert len(weekly_run.get_asset_check_evaluations()) == 2
    weekly = pq.read_table(analytics_root / "agent_scorecards" / f"{monday}.parquet")
    assert weekly.schema.equals(AGENT_WEEK_SCHEMA)
    with Session(sync_engine) as session:
        stored_weeks = session.scalars(select(AgentScorecardWeek).order_by(AgentScorecardWeek.id)).all()
        assert [{n: getattr(w, n) for n in AGENT_WEEK_SCHEMA.names} for w in stored_weeks] == weekly.to_pylist()
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


@pytest.mark.timeout(900)  # six Dagster runs with their checks
def test_a_day_is_rebuilt_only_when_its_audits_changed(
    instance: dg.DagsterInstance,
    audit_resources: dict[str, Any],
    transcribed_day: list[str],
    scorecard_id: int,
    sync_engine: Engine,
    analytics_root: Path,
) -> None:
    _audit_day(instance, audit_resources, scorecard_id)
    first = _facts(instance, audit_resources)
    assert (first["rebuilt"], first["unchanged"], first["reason"]) == (1, [], "")
    path = analytics_root / "audit_facts" / f"{DAY}.parquet"
    written = path.stat().st_mtime_ns, path.stat().st_ino

    again = _facts(instance, audit_resources)
    assert (again["rebuilt"], again["unchanged"], again["reason"]) == (0, [DAY], UNCHANGED)
    assert again["rows"] == first["rows"] > 0
    assert again["built_from"] == first["built_from"]
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == written  # the file was left alone

    # A human override changes the day's fingerprint: rebuilt, carrying it.
    with Session(sync_engine) as session:
        audit_id, position, index, ai_status = session.execute(
            select(Audit.id, AuditStep.position, AuditControlPoint.index, AuditControlPoint.statut)
            .join(AuditStep, AuditStep.audit_id == Audit.id)
            .join(AuditControlPoint, AuditControlPoint.step_id == AuditStep.id)
            .limit(1)
        ).one()
    with Session(sync_engine) as session, session.begin():
        new = "ABSENT" if ai_status != "ABSENT" else "PRESENT"
        review_point(session, audit_id, position, index, {"statut": new}, actor=REVIEWER, reason="réécouté")
    reviewed = _facts(instance, audit_resources)
    assert (reviewed["rebuilt"], reviewed["human_changed"]) == (1, 1)
    assert reviewed["built_from"] != first["built_from"]

    # A lost file is rebuilt even though the audits did not change.
    path.unlink()
    assert _facts(instance, audit_resources)["rebuilt"] == 1
    assert path.exists()

    # A range of days in one run (as a backfill batch runs them): only the changed day is built.
    day_before = (dt.date.fromisoformat(DAY) - dt.timedelta(days=1)).isoformat()
    ranged = dg.materialize(
        [audit_facts, audit_facts_complete, audit_facts_valid, audit_facts_schema_stable],
        resources={"database": audit_resources["database"], "settings": get_settings()},
        instance=instance,
        tags={"dagster/asset_partition_range_start": day_before, "dagster/asset_partition_range_end": DAY},
    )
    assert ranged.success
    assert all(c.passed for c in ranged.get_asset_check_evaluations())
    events = ranged.asset_materializations_for_node("audit_facts")
    assert {e.partition for e in events} == {day_before, DAY}
    metadata: dict[str, Any] = {k: v.value for k, v in events[0].metadata.items()}
    assert (metadata["rebuilt"], metadata["unchanged"]) == (1, [DAY])
    assert set(metadata["built_from"]) == {day_before, DAY}
    assert (analytics_root / "audit_facts" / f"{day_before}.parquet").exists()


def test_backfills_run_in_batches() -> None:
    for asset in (audit_facts, scorecard_health, agent_scorecards):
        policy = asset.backfill_policy
        assert policy is not None
        assert policy.max_partitions_per_run is not None
        assert 1 < policy.max_partitions_per_run <= BATCH_DAYS


async def _details(database_url: str, audit_ids: list[int]) -> list[AuditDetail]:
    """What `GET /api/audits/{id}` answers for each audit (its service, as an ALL-scoped reader)."""
    everyone = Grant("audits", Action.READ, Scope.ALL, Principal(kind=PrincipalKind.USER, grants={}))
    engine = create_api_engine(database_url)
    try:
        async with AsyncSession(engine) as session:
            return [await audit_service.audit_detail(session, everyone, audit_id) for audit_id in audit_ids]
    finally:
        await engine.dispose()


@pytest.mark.timeout(900)  # the day's audits and facts: Dagster runs on a loaded, shared machine
def test_the_facts_are_what_the_audit_detail_api_returns_point_by_point(
    instance: dg.DagsterInstance,
    audit_resources: dict[str, Any],
    transcribed_day: list[str],
    scorecard_id: int,
    sync_engine: Engine,
    database_url: str,
    analytics_root: Path,
) -> None:
    _audit_day(instance, audit_resources, scorecard_id)
    with Session(sync_engine) as session:
        audit_id, position, index, ai_status = session.execute(
            select(Audit.id, AuditStep.position, AuditControlPoint.index, AuditControlPoint.statut)
            .join(AuditStep, AuditStep.audit_id == Audit.id)
            .join(AuditControlPoint, AuditControlPoint.step_id == AuditStep.id)
            .order_by(Audit.id.desc(), AuditStep.position.desc())
            .limit(1)
        ).one()
    with Session(sync_engine) as session, session.begin():
        new = "ABSENT" if ai_status != "ABSENT" else "PRESENT"
        review_point(session, audit_id, position, index, {"statut": new}, actor=REVIEWER, reason="réécouté")
    _facts(instance, audit_resources)
    facts = _table_rows(sync_engine)
    from_api: list[dict[str, Any]] = []
    for detail in asyncio.run(_details(database_url, sorted({f["audit_id"] for f in facts}))):
        from_api += [
            {
                "audit_id": int(detail.id),
                "fiche_id": detail.fiche_id,
                "scorecard_id": int(detail.scorecard.id),
                "step_position": step.position,
                "step_name": step.name,
                "step_weight": step.weight,
                "step_critical": step.is_critical,
                "step_score": step.score,
                "step_score_contribution": min(max(step.score, 0), step.weight) * 100 / (detail.points_total or 0),
                "step_level": step.niveau_conformite,
                "control_point_index": point.index,
                "control_point": point.point,
                "status": point.statut,
                "ai_status": point.ai_statut or point.statut,
                "changed_by": next((r.by for r in reversed(point.human_review) if r.in_force), None),
                "evidence_count": len(point.citations),
                "first_evidence_second": min((c.start_seconds for c in point.citations), default=None),
                "audit_score_percentage": detail.score_percentage,
                "audit_level": detail.niveau,
            }
            for step in detail.steps
            for point in step.control_points
        ]
    assert len(from_api) == len(facts) > 0
    assert [{k: f[k] for k in from_api[0]} for f in facts] == from_api
    assert [f["changed_by"] for f in facts if f["human_changed"]] == ["user:3"]
    # Each audit's distinct steps' parts add up to the score the API shows (the overridden one recomputed).
    parts: dict[int, dict[int, float]] = {}
    for f in facts:
        parts.setdefault(f["audit_id"], {})[f["step_position"]] = f["step_score_contribution"]
    scores = {f["audit_id"]: f["audit_score_percentage"] for f in from_api}
    assert all(abs(sum(p.values()) - scores[a]) <= SCORE_TOLERANCE for a, p in parts.items())
