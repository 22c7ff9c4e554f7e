"""Benchmark: a year of audits materialised as `audit_facts` in batched runs, against one SQL read.

Sets up embedded Postgres in a temporary directory, migrates, and seeds `--days` sales days (ending
yesterday) of `--fiches` fiches a day, each with one completed latest audit of an `--steps`-step
scorecard with `--points` control points a step (verdicts drawn with a fixed seed, each audit's score
computed from its steps), generated inside Postgres by `analytics_seed.sql` (set-based, no row crosses
the wire). Then, in this process (Dagster's in-process executor, as a backfill batch runs):

* build: `audit_facts` over the whole range, `BATCH_DAYS` partitions per run (the asset's backfill
  policy), each day's rows written to `analytics.audit_facts` and to its Parquet file; wall time and
  this process's peak RSS (the facts are built a day at a time, so RSS follows one day, not the
  year); progress per run on stderr, so a run cut short tells how far it got;
* again: the same runs with nothing changed: every day is skipped on its fingerprint (the cost of an
  idle incremental pass);
* baseline: the same rows (audit x step x control point with fiche and audit columns) read once with
  one SQL query through a server-side cursor, no Python per row beyond fetching.

The last line is `key=value`; `ratio` = build wall / baseline wall (what building the facts costs
against reading their source once), `again_ratio` = idle pass wall / baseline wall.

    .venv/bin/python benchmarks/analytics.py [--days 250] [--fiches 200] [--steps 18] [--points 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import resource
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import dagster as dg
import psycopg
from _embedded import migrated_servers
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from assets.analytics import BATCH_DAYS, audit_facts  # noqa: E402
from callaudit.settings import load_settings  # noqa: E402
from resources.database import DatabaseResource, libpq_url  # noqa: E402

SEED_SQL = Path(__file__).with_name("analytics_seed.sql")
BASELINE = """
SELECT a.id, f.fiche_id, f.sales_date, f.attribution_user_id, f.crm_group_id, f.groupe, a.scorecard_id,
       a.scorecard_version_id, s.position, s.name, s.weight, s.is_critical, s.score, s.niveau_conformite,
       p.index, p.point, p.statut, a.auditor, a.model, a.prompt_version, a.transcript_mode, a.score_percentage,
       a.niveau, a.input_tokens, a.output_tokens, a.cost_usd, a.audited_seconds, a.duration_ms, a.completed_at
FROM fiches f
JOIN audits a ON a.fiche_id = f.fiche_id AND a.is_latest AND a.deleted_at IS NULL AND a.status = 'completed'
JOIN audit_steps s ON s.audit_id = a.id AND s.superseded_at IS NULL
JOIN audit_control_points p ON p.step_id = s.id
WHERE f.sales_date BETWEEN %s AND %s
"""


def seed(database_url: str, days: list[dt.date], fiches: int, steps: int, points: int) -> dict[str, int]:
    """The year's rows generated inside Postgres (`analytics_seed.sql`, set-based: no row crosses the wire)."""
    values = {"first_day": f"'{days[0]}'", "days": str(len(days)), "fiches": str(fiches), "steps": str(steps)}
    values["points"] = str(points)
    sql = re.sub(r"(?<!:):([a-z_]+)", lambda m: values.get(m.group(1), m.group(0)), SEED_SQL.read_text())
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        with conn.transaction():
            for statement in sql.split(";\n"):
                if statement.strip():
                    conn.execute(statement.encode())
        conn.execute("VACUUM ANALYZE")
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in ("fiches", "audits", "audit_steps", "audit_control_points")
        }


def build(instance: dg.DagsterInstance, resources: Mapping[str, object], days: list[dt.date]) -> tuple[float, int, int]:
    """Every day in runs of `BATCH_DAYS`: (wall seconds, runs, days rebuilt)."""
    started, runs, rebuilt = time.perf_counter(), 0, 0
    for first in range(0, len(days), BATCH_DAYS):
        batch = days[first : first + BATCH_DAYS]
        result = dg.materialize(
            [audit_facts],
            resources=resources,
            instance=instance,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            tags={
                "dagster/asset_partition_range_start": batch[0].isoformat(),
                "dagster/asset_partition_range_end": batch[-1].isoformat(),
            },
        )
        assert result.success
        runs += 1
        rebuilt += int(result.asset_materializations_for_node("audit_facts")[0].metadata["rebuilt"].value)  # type: ignore[arg-type]
        # Progress on stderr: a run cut short still tells how far it got.
        print(
            f"  run {runs}: {batch[0]}..{batch[-1]} at {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    return time.perf_counter() - started, runs, rebuilt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=250)
    parser.add_argument("--fiches", type=int, default=200)
    parser.add_argument("--steps", type=int, default=18)
    parser.add_argument("--points", type=int, default=2)
    args = parser.parse_args()
    yesterday = dt.date.today() - dt.timedelta(days=1)
    days = [yesterday - dt.timedelta(days=n) for n in reversed(range(args.days))]
    load = os.getloadavg()
    with migrated_servers("analytics-bench-") as servers, tempfile.TemporaryDirectory() as dagster_home:
        started = time.perf_counter()
        counts = seed(servers.database_url, days, args.fiches, args.steps, args.points)
        seed_s = time.perf_counter() - started
        os.environ["ANALYTICS_STORAGE_ROOT"] = str(servers.home / "analytics")
        settings = load_settings(database_url=servers.database_url, redis_url=servers.redis_url)
        resources = {"database": DatabaseResource(url=servers.database_url), "settings": settings}
        with dg.DagsterInstance.local_temp(dagster_home) as instance:
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            build_s, runs, rebuilt = build(instance, resources, days)
            rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            again_s, _, again_rebuilt = build(instance, resources, days)
        engine = create_engine(servers.database_url)
        with engine.connect() as connection:
            facts = connection.scalar(text("SELECT count(*) FROM analytics.audit_facts"))
        engine.dispose()
        started = time.perf_counter()
        read = 0
        with psycopg.connect(libpq_url(servers.database_url)) as conn, conn.cursor(name="baseline") as cur:
            cur.itersize = 10_000
            cur.execute(BASELINE, (days[0], days[-1]))
            for _ in cur:
                read += 1
        baseline_s = time.perf_counter() - started
        parquet_mib = (
            sum(p.stat().st_size for p in (servers.home / "analytics" / "audit_facts").glob("*.parquet")) / 2**20
        )
    assert facts == read == counts["audit_control_points"], (facts, read, counts)
    assert rebuilt == len(days)
    assert again_rebuilt == 0
    print(f"analytics — {dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%MZ}")
    print(
        f"machine: {platform.machine()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"load average {load[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end"
    )
    print(
        f"seeded inside Postgres in {seed_s:.1f} s: {counts['fiches']} fiches over {len(days)} days, "
        f"{counts['audits']} audits, {counts['audit_steps']} steps, {counts['audit_control_points']} control points"
    )
    print(
        f"build: audit_facts over {len(days)} days in {runs} runs of up to {BATCH_DAYS} days: {build_s:.1f} s "
        f"({facts / build_s:,.0f} facts/s), peak RSS {rss_kib / 1024:.0f} MiB (before {rss_before / 1024:.0f} MiB); "
        f"Parquet {parquet_mib:.1f} MiB"
    )
    print(f"again, nothing changed: {again_s:.1f} s, {again_rebuilt} days rebuilt (skipped on their fingerprint)")
    print(f"baseline: the same {read} rows read with one SQL query (server-side cursor): {baseline_s:.1f} s")
    print(
        f"days={len(days)} facts={facts} build_s={build_s:.1f} peak_rss_mib={rss_kib / 1024:.0f} "
        f"again_s={again_s:.1f} baseline_s={baseline_s:.2f} ratio={build_s / baseline_s:.1f} "
        f"again_ratio={again_s / baseline_s:.2f}"
    )


if __name__ == "__main__":
    main()
