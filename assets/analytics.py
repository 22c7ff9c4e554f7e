"""Analytics assets for data teams: the audits as flat facts, in Postgres and in Parquet files.

`audit_facts` rebuilds one sales day at a time from the audits as they now stand (reruns and the
human overrides in force applied, the latest view every other reader uses): the day's rows of
`analytics.audit_facts` are replaced in one transaction, and the day's Parquet file (pinned
schema) is rewritten whole under `ANALYTICS_STORAGE_ROOT`. Both are idempotent per partition, so
a retry or a backfill never doubles a row.
"""

import datetime as dt

import dagster as dg
import pyarrow as pa

from assets.audits import audits
from assets.partitions import DECLARED_SALES_DAYS, DECLARED_SALES_WEEKS
from callaudit.settings import Settings
from domain.analytics.agents import AGENT_WEEK_SCHEMA, agent_weeks
from domain.analytics.facts import (
    FACTS_SCHEMA,
    day_facts,
    expected_rows,
    invalid_counts,
    replace_day,
    stored_counts,
    stored_days,
    to_table,
)
from domain.analytics.health import HEALTH_SCHEMA, point_health
from domain.analytics.parquet import partition_path, read_schema, schema_changes, write_partition
from domain.audits.calibration_store import CalibrationFilters, calibration_report
from resources.database import DatabaseResource

FACTS_VERSION = "audit-facts-1"
HEALTH_VERSION = "scorecard-health-1"
AGENTS_VERSION = "agent-scorecards-1"


@dg.asset(
    partitions_def=DECLARED_SALES_DAYS,
    # One day of facts reads every scorecard's audits of that day.
    deps=[audits],
    group_name="analytics",
    kinds={"python", "postgres", "parquet"},
    code_version=FACTS_VERSION,
)
def audit_facts(
    context: dg.AssetExecutionContext, database: DatabaseResource, settings: dg.ResourceParam[Settings]
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """One row per latest audit x control point of the sales day, every scorecard: fiche, agent, group,
    scorecard version, step and point, AI and current status (who changed it), evidence, auditor, model,
    prompt version, tokens, cost and audited minutes.

    Written to `analytics.audit_facts` (the day replaced in one transaction) and to
    `<ANALYTICS_STORAGE_ROOT>/audit_facts/<day>.parquet` for DuckDB, pandas, Polars or a BI tool.
    """
    day = dt.date.fromisoformat(context.partition_key)
    with database.session() as session:
        rows = day_facts(session, day)
        replace_day(session, day, rows)
    path = write_partition(settings.analytics_root, "audit_facts", context.partition_key, to_table(rows))
    return dg.MaterializeResult(
        metadata={
            "rows": len(rows),
            "audits": len({r["audit_id"] for r in rows}),
            "fiches": len({r["fiche_id"] for r in rows}),
            "human_changed": sum(r["human_changed"] for r in rows),
            "path": dg.MetadataValue.path(path),
        }
    )


def _day(context: dg.AssetCheckExecutionContext) -> dt.date:
    return dt.date.fromisoformat(context.run.tags["dagster/partition"])


@dg.asset_check(
    asset=audit_facts, description="The day's facts hold one row per control point of the day's latest audits."
)
def audit_facts_complete(context: dg.AssetCheckExecutionContext, database: DatabaseResource) -> dg.AssetCheckResult:
    day = _day(context)
    with database.session() as session:
        audit_count, points = expected_rows(session, day)
        rows, audits_in_facts = stored_counts(session, day)
    return dg.AssetCheckResult(
        passed=rows == points and audits_in_facts == audit_count,
        metadata={"rows": rows, "expected_rows": points, "audits": audits_in_facts, "expected_audits": audit_count},
    )


@dg.asset_check(
    asset=audit_facts,
    description="Every fact names its scorecard version; no duration, audited time or evidence second is negative.",
)
def audit_facts_valid(context: dg.AssetCheckExecutionContext, database: DatabaseResource) -> dg.AssetCheckResult:
    day = _day(context)
    with database.session() as session:
        unversioned, negative = invalid_counts(session, day)
    return dg.AssetCheckResult(
        passed=not unversioned and not negative,
        metadata={"without_scorecard_version": int(unversioned or 0), "negative_durations": int(negative or 0)},
    )


@dg.asset_check(
    asset=audit_facts,
    description="The day's Parquet file has exactly the pinned schema (a change breaks data teams' queries).",
    blocking=True,
)
def audit_facts_schema_stable(
    context: dg.AssetCheckExecutionContext, settings: dg.ResourceParam[Settings]
) -> dg.AssetCheckResult:
    path = partition_path(settings.analytics_root, "audit_facts", _day(context).isoformat())
    changes = schema_changes(read_schema(path), FACTS_SCHEMA)
    return dg.AssetCheckResult(
        passed=not changes,
        description="; ".join(changes) or None,
        metadata={"path": dg.MetadataValue.path(path), "changes": dg.MetadataValue.json(changes)},
    )


@dg.asset(
    partitions_def=DECLARED_SALES_DAYS,
    deps=[audit_facts],
    group_name="analytics",
    kinds={"python", "postgres", "parquet"},
    code_version=HEALTH_VERSION,
)
def scorecard_health(
    context: dg.AssetExecutionContext, database: DatabaseResource, settings: dg.ResourceParam[Settings]
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """Per control point of every scorecard audited that day: the AI's pass rate, the share of verdicts
    with evidence, the share a human changed, and Cohen's kappa with the reviewers (reviewed audits only).

    Read from the day's `audit_facts`; written to `<ANALYTICS_STORAGE_ROOT>/scorecard_health/<day>.parquet`.
    """
    day = dt.date.fromisoformat(context.partition_key)
    with database.session() as session:
        facts = stored_days(session, day, day)
        report = calibration_report(session, CalibrationFilters(sales_day=day, timezone=settings.sales_timezone), top=0)
    kappas = {(p["scorecard_id"], p["step_position"], p["control_point_index"]): p["kappa"] for p in report.points}
    health = point_health(facts, kappas)
    table = pa.Table.from_pylist(health, schema=HEALTH_SCHEMA)
    path = write_partition(settings.analytics_root, "scorecard_health", context.partition_key, table)
    return dg.MaterializeResult(
        metadata={
            "control_points": len(health),
            "scorecards": len({h["scorecard_id"] for h in health}),
            "reviewed_audits": report.audits,
            "path": dg.MetadataValue.path(path),
            "lowest_pass_rate": dg.MetadataValue.json(
                sorted((h for h in health if h["ai_pass_rate"] is not None), key=lambda h: h["ai_pass_rate"])[:10]
            ),
        }
    )


@dg.asset(
    partitions_def=DECLARED_SALES_WEEKS,
    # Dagster maps the week onto its seven daily `audit_facts` partitions.
    deps=[audit_facts],
    group_name="analytics",
    kinds={"python", "postgres", "parquet"},
    code_version=AGENTS_VERSION,
)
def agent_scorecards(
    context: dg.AssetExecutionContext, database: DatabaseResource, settings: dg.ResourceParam[Settings]
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """Per agent x scorecard x week (Monday to Sunday): audits, average score, level counts, REJET rate,
    the most failed control points and the trend of the average against the previous week.

    Read from `audit_facts` of the week and the week before; written to
    `<ANALYTICS_STORAGE_ROOT>/agent_scorecards/<monday>.parquet`.
    """
    monday = dt.date.fromisoformat(context.partition_key)
    week_ago = monday - dt.timedelta(days=7)
    with database.session() as session:
        facts = stored_days(session, monday, monday + dt.timedelta(days=6))
        previous = stored_days(session, week_ago, monday - dt.timedelta(days=1))
    rows = agent_weeks(monday, facts, previous)
    table = pa.Table.from_pylist(rows, schema=AGENT_WEEK_SCHEMA)
    path = write_partition(settings.analytics_root, "agent_scorecards", context.partition_key, table)
    return dg.MaterializeResult(
        metadata={
            "rows": len(rows),
            "agents": len({r["agent"] for r in rows}),
            "audits": sum(r["audits"] for r in rows),
            "path": dg.MetadataValue.path(path),
        }
    )
