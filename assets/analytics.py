"""Analytics assets for data teams: the audits as flat facts, in Postgres and in Parquet files.

`audit_facts` rebuilds one sales day at a time from the audits as they now stand (reruns and the
human overrides in force applied, the latest view every other reader uses): the day's rows of
`analytics.audit_facts` are replaced in one transaction, and the day's Parquet file (pinned
schema) is rewritten whole under `ANALYTICS_STORAGE_ROOT`. Both are idempotent per partition, so
a retry or a backfill never doubles a row.

Incremental: a day is rebuilt only when its fingerprint (one cheap query: its audits' count and last
change, newest step revision, reviews, fiches' last change; `domain.analytics.facts.day_fingerprint`)
or the code version differs from what its last materialization recorded, or its file is gone. A
backfill runs `BATCH_DAYS` partitions per run (one run per batch, not one per day).
"""

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg
import pyarrow as pa
from sqlalchemy.orm import Session

from assets.audits import audits
from assets.partitions import DECLARED_SALES_DAYS, DECLARED_SALES_WEEKS
from callaudit.settings import Settings
from domain.analytics.agents import AGENT_WEEK_SCHEMA, agent_weeks
from domain.analytics.facts import (
    FACTS_SCHEMA,
    day_facts,
    day_fingerprints,
    expected_rows,
    invalid_counts,
    replace_day,
    score_mismatches,
    stored_counts,
    stored_days,
    stored_figures,
    to_table,
)
from domain.analytics.health import HEALTH_SCHEMA, point_health
from domain.analytics.parquet import exists, partition_path, read_schema, schema_changes, write_partition
from domain.analytics.store import health_mismatch, replace_health, replace_week, week_mismatch
from domain.audits.calibration_store import CalibrationFilters, calibration_report
from resources.database import DatabaseResource

FACTS_VERSION = "audit-facts-2"
HEALTH_VERSION = "scorecard-health-1"
AGENTS_VERSION = "agent-scorecards-1"


#: Partitions per backfill run: a year is 12 runs, each paying the run's start-up once for a month.
BATCH_DAYS = 31
BATCHED = dg.BackfillPolicy.multi_run(max_partitions_per_run=BATCH_DAYS)
UNCHANGED = "unchanged since its last build (same audits fingerprint and code version, file present)"


def _built_from(instance: dg.DagsterInstance, key: dg.AssetKey, partitions: Sequence[str]) -> dict[str, str]:
    """The fingerprint each partition was last built from, as its latest materialization recorded it.
    One query when the partitions were last built together (a ranged run), one more per partition else."""

    def latest(of: Sequence[str]) -> list[dg.EventLogRecord]:
        filter_ = dg.AssetRecordsFilter(asset_key=key, asset_partitions=list(of))
        return list(instance.fetch_materializations(filter_, limit=len(of)).records)

    records = latest(partitions)
    found: dict[str | None, dg.EventLogRecord] = {r.partition_key: r for r in reversed(records)}  # newest wins
    if len(records) == len(partitions):  # a full page: older builds of the others may lie beyond it
        for missing in set(partitions) - set(found):
            found |= {r.partition_key: r for r in latest([missing])}
    built = {}
    for partition, record in found.items():
        materialization = record.asset_materialization
        recorded = materialization.metadata.get("built_from") if materialization else None
        if partition and isinstance(recorded, dg.JsonMetadataValue) and isinstance(recorded.value, dict):
            built[partition] = str(recorded.value.get(partition))
    return built


@dg.asset(
    partitions_def=DECLARED_SALES_DAYS,
    # One day of facts reads every scorecard's audits of that day.
    deps=[audits],
    group_name="analytics",
    kinds={"python", "postgres", "parquet"},
    code_version=FACTS_VERSION,
    backfill_policy=BATCHED,
)
def audit_facts(
    context: dg.AssetExecutionContext, database: DatabaseResource, settings: dg.ResourceParam[Settings]
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """One row per latest audit x control point of the sales day, every scorecard: fiche, agent, group,
    scorecard version, step and point, AI and current status (who changed it), evidence, auditor, model,
    prompt version, tokens, cost and audited minutes.

    Written to `analytics.audit_facts` (the day replaced in one transaction) and to
    `<ANALYTICS_STORAGE_ROOT>/audit_facts/<day>.parquet` for DuckDB, pandas, Polars or a BI tool. A day
    whose audits did not change since its last build is left as it is (metadata `unchanged`).
    """
    partitions = context.partition_keys
    built = _built_from(context.instance, context.asset_key, partitions)
    days = [dt.date.fromisoformat(p) for p in partitions]
    # Read before the rows: a change landing during the build leaves an older fingerprint, so the next
    # run rebuilds again rather than keeping rows that miss it.
    with database.session() as session:
        versions = {d.isoformat(): f"{FACTS_VERSION}|{fp}" for d, fp in day_fingerprints(session, days).items()}
    rebuilt, unchanged = [], []
    for partition, day in zip(partitions, days, strict=True):
        if built.get(partition) == versions[partition] and exists(
            partition_path(settings.analytics_root, "audit_facts", partition)
        ):
            unchanged.append(partition)
            continue
        with database.session() as session:
            rows = day_facts(session, day)
            replace_day(session, day, rows)
        write_partition(settings.analytics_root, "audit_facts", partition, to_table(rows))
        rebuilt.append(partition)
    with database.session() as session:
        figures = stored_figures(session, days)
    if unchanged:
        context.log.info("audit_facts: %d of %d days %s", len(unchanged), len(partitions), UNCHANGED)
    return dg.MaterializeResult(
        metadata={
            **figures,
            "rebuilt": len(rebuilt),
            "unchanged": dg.MetadataValue.json(unchanged),
            "reason": UNCHANGED if unchanged and not rebuilt else "",
            "built_from": dg.MetadataValue.json(versions),
            "path": dg.MetadataValue.path(partition_path(settings.analytics_root, "audit_facts", partitions[-1])),
        },
        data_version=dg.DataVersion(versions[partitions[0]]) if len(partitions) == 1 else None,
    )


def _days(context: dg.AssetCheckExecutionContext) -> list[dt.date]:
    return [dt.date.fromisoformat(key) for key in context.partition_keys]


@dg.asset_check(
    asset=audit_facts, description="The day's facts hold one row per control point of the day's latest audits."
)
def audit_facts_complete(context: dg.AssetCheckExecutionContext, database: DatabaseResource) -> dg.AssetCheckResult:
    mismatched, totals = [], [0, 0, 0, 0]
    with database.session() as session:
        for day in _days(context):
            rows, audits_in_facts = stored_counts(session, day)
            audit_count, points = expected_rows(session, day)
            if (rows, audits_in_facts) != (points, audit_count):
                mismatched.append(day.isoformat())
            totals = [t + n for t, n in zip(totals, (rows, points, audits_in_facts, audit_count), strict=True)]
    return dg.AssetCheckResult(
        passed=not mismatched,
        metadata={
            "rows": totals[0],
            "expected_rows": totals[1],
            "audits": totals[2],
            "expected_audits": totals[3],
            "days_mismatched": dg.MetadataValue.json(mismatched),
        },
    )


@dg.asset_check(
    asset=audit_facts,
    description="Every fact names its scorecard version; no duration, audited time or evidence second is negative.",
)
def audit_facts_valid(context: dg.AssetCheckExecutionContext, database: DatabaseResource) -> dg.AssetCheckResult:
    with database.session() as session:
        unversioned, negative = invalid_counts(session, _days(context))
    return dg.AssetCheckResult(
        passed=not unversioned and not negative,
        metadata={"without_scorecard_version": int(unversioned or 0), "negative_durations": int(negative or 0)},
    )


#: A check's reading of the run's partitions: (passed, metadata, why it failed or None).
Judge = Callable[[Session, Settings, Sequence[str]], tuple[bool, dict[str, Any], str | None]]


def partition_check(
    asset: dg.AssetsDefinition, suffix: str, description: str, judge: Judge, *, blocking: bool = False
) -> dg.AssetChecksDefinition:
    """The check `<asset>_<suffix>` over the run's partitions of `asset`, as `judge` reads them."""

    @dg.asset_check(asset=asset, name=f"{asset.key.path[-1]}_{suffix}", description=description, blocking=blocking)
    def _check(
        context: dg.AssetCheckExecutionContext, database: DatabaseResource, settings: dg.ResourceParam[Settings]
    ) -> dg.AssetCheckResult:
        with database.session() as session:
            passed, metadata, why = judge(session, settings, context.partition_keys)
        return dg.AssetCheckResult(passed=passed, description=why, metadata=metadata)

    return _check


def schema_check(asset: dg.AssetsDefinition, pinned: pa.Schema) -> dg.AssetChecksDefinition:
    """A blocking check that the asset's files of the run's partitions have exactly the pinned schema:
    a change breaks data teams' queries, so it fails the run loudly, column by column."""
    name = asset.key.path[-1]

    def judge(_: Session, settings: Settings, keys: Sequence[str]) -> tuple[bool, dict[str, Any], str | None]:
        paths = [partition_path(settings.analytics_root, name, key) for key in keys]
        changes = [f"{path}: {change}" for path in paths for change in schema_changes(read_schema(path), pinned)]
        return not changes, {"files": len(paths), "changes": dg.MetadataValue.json(changes)}, "; ".join(changes) or None

    description = "The partition's Parquet file has exactly the pinned schema (a change breaks data teams' queries)."
    return partition_check(asset, "schema_stable", description, judge, blocking=True)


audit_facts_schema_stable = schema_check(audit_facts, FACTS_SCHEMA)


def _scores_add_up(session: Session, _: Settings, keys: Sequence[str]) -> tuple[bool, dict[str, Any], str | None]:
    off, without = score_mismatches(session, [dt.date.fromisoformat(key) for key in keys])
    return not off, {"audits_off": off, "audits_without_contribution": without}, None


audit_facts_scores_add_up = partition_check(
    audit_facts,
    "scores_add_up",
    "Each audit's distinct steps' score contributions add up to its stored score (within its 0.01 rounding).",
    _scores_add_up,
)


@dg.asset(
    partitions_def=DECLARED_SALES_DAYS,
    deps=[audit_facts],
    group_name="analytics",
    kinds={"python", "postgres", "parquet"},
    code_version=HEALTH_VERSION,
    backfill_policy=BATCHED,
)
def scorecard_health(
    context: dg.AssetExecutionContext, database: DatabaseResource, settings: dg.ResourceParam[Settings]
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """Per control point of every scorecard audited that day: the AI's pass rate, the share of verdicts
    with evidence, the share a human changed, and Cohen's kappa with the reviewers (reviewed audits only).

    Read from the day's `audit_facts`; written to `<ANALYTICS_STORAGE_ROOT>/scorecard_health/<day>.parquet`.
    """
    control_points, reviewed, lowest = 0, 0, []
    for partition in context.partition_keys:
        day = dt.date.fromisoformat(partition)
        with database.session() as session:
            facts = stored_days(session, day, day)
            filters = CalibrationFilters(sales_day=day, timezone=settings.sales_timezone)
            report = calibration_report(session, filters, top=0)
        kappas = {(p["scorecard_id"], p["step_position"], p["control_point_index"]): p["kappa"] for p in report.points}
        health = point_health(facts, kappas)
        with database.session() as session:
            replace_health(session, day, health)
        write_partition(
            settings.analytics_root, "scorecard_health", partition, pa.Table.from_pylist(health, schema=HEALTH_SCHEMA)
        )
        control_points, reviewed = control_points + len(health), reviewed + report.audits
        lowest += [h for h in health if h["ai_pass_rate"] is not None]
    return dg.MaterializeResult(
        metadata={
            "control_points": control_points,
            "reviewed_audits": reviewed,
            "path": dg.MetadataValue.path(partition_path(settings.analytics_root, "scorecard_health", partition)),
            "lowest_pass_rate": dg.MetadataValue.json(sorted(lowest, key=lambda h: h["ai_pass_rate"])[:10]),
        }
    )


@dg.asset(
    partitions_def=DECLARED_SALES_WEEKS,
    # Dagster maps the week onto its seven daily `audit_facts` partitions.
    deps=[audit_facts],
    group_name="analytics",
    kinds={"python", "postgres", "parquet"},
    code_version=AGENTS_VERSION,
    backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=BATCH_DAYS // 7),
)
def agent_scorecards(
    context: dg.AssetExecutionContext, database: DatabaseResource, settings: dg.ResourceParam[Settings]
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """Per agent x scorecard x week (Monday to Sunday): audits, average score, level counts, REJET rate,
    the most failed control points and the trend of the average against the previous week.

    Read from `audit_facts` of the week and the week before; written to
    `<ANALYTICS_STORAGE_ROOT>/agent_scorecards/<monday>.parquet`.
    """
    rows: list[dict[str, Any]] = []
    for partition in context.partition_keys:
        monday = dt.date.fromisoformat(partition)
        with database.session() as session:
            facts = stored_days(session, monday, monday + dt.timedelta(days=6))
            previous = stored_days(session, monday - dt.timedelta(days=7), monday - dt.timedelta(days=1))
        week = agent_weeks(monday, facts, previous)
        with database.session() as session:
            replace_week(session, monday, week)
        table = pa.Table.from_pylist(week, schema=AGENT_WEEK_SCHEMA)
        write_partition(settings.analytics_root, "agent_scorecards", partition, table)
        rows += week
    return dg.MaterializeResult(
        metadata={
            "rows": len(rows),
            "agents": len({r["agent"] for r in rows}),
            "audits": sum(r["audits"] for r in rows),
            "path": dg.MetadataValue.path(partition_path(settings.analytics_root, "agent_scorecards", partition)),
        }
    )


scorecard_health_schema_stable = schema_check(scorecard_health, HEALTH_SCHEMA)
agent_scorecards_schema_stable = schema_check(agent_scorecards, AGENT_WEEK_SCHEMA)


def count_check(
    asset: dg.AssetsDefinition,
    description: str,
    measure: Callable[[Session, dt.date], tuple[int, int, int]],
    names: tuple[str, str, str],
) -> dg.AssetChecksDefinition:
    """A check passed when, in every partition of the run, what the view counts equals what its facts
    hold and no row is invalid: `measure` gives (counted, expected, invalid), summed under `names`."""

    def judge(session: Session, _: Settings, keys: Sequence[str]) -> tuple[bool, dict[str, Any], str | None]:
        figures = {key: measure(session, dt.date.fromisoformat(key)) for key in keys}
        wrong = sorted(key for key, (counted, expected, invalid) in figures.items() if counted != expected or invalid)
        totals = {name: sum(f[i] for f in figures.values()) for i, name in enumerate(names)}
        return not wrong, {**totals, "partitions_wrong": dg.MetadataValue.json(wrong)}, None

    return partition_check(asset, "complete", description, judge)


scorecard_health_complete = count_check(
    scorecard_health,
    "The day's health rows count every fact of the day once; every rate lies in [0, 1].",
    health_mismatch,
    ("points", "facts", "rates_outside"),
)
agent_scorecards_complete = count_check(
    agent_scorecards,
    "The week's rows count every audit of the week's facts once; no row without an audit, every REJET rate in [0, 1].",
    week_mismatch,
    ("audits", "audits_in_facts", "invalid_rows"),
)
