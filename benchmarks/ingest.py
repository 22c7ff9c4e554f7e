"""Benchmark: one sales day of CRM ingestion through the real assets, against a throttled CRM.

Sets up embedded Postgres and Redis in a temporary directory, runs the demo CRM simulator in its own
process with a fixed latency on every search and detail fetch, and materializes `sales_fiches` +
`fiche_details` for one day with the production caps (1 search, `--cap` detail fetches at once).

The bound is what a perfect client would take under the cap: fiches x latency / cap + one search.
The report ends with one `key=value` line; `ratio` = wall / bound (target <= 1.15), and the peak
RSS of this process (the run; the simulator and the servers are other processes) against 500 MiB.

    .venv/bin/python benchmarks/ingest.py              # 1,000 fiches, 300 ms, cap 3 (about 2 minutes)
    .venv/bin/python benchmarks/ingest.py --fiches 90  # a quick look
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg
import httpx
from alembic import command

from assets.fiches import fiche_details, sales_fiches
from callaudit.demo_crm.config import FamilyFaults, Faults, Latency
from callaudit.embedded import EmbeddedPostgres, EmbeddedRedis
from callaudit.migrate import alembic_config
from callaudit.settings import get_settings
from resources.crm.resource import CrmResource
from resources.database import DatabaseResource
from resources.redis.resource import RedisResource

DAY = "2026-02-02"
RSS_LIMIT_MIB = 500


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_simulator(fiches: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "DEMO_CRM_FICHES_PER_DAY": str(fiches), "DEMO_CRM_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "callaudit", "demo-crm", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90  # a loaded machine starts Python slowly
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the demo CRM simulator did not start")


def throttle(base_url: str, latency_ms: float) -> None:
    """Every sales search and detail fetch of the simulator answers after `latency_ms`."""
    fixed = FamilyFaults(latency=Latency(distribution="fixed", mean_ms=latency_ms))
    faults = Faults(search=fixed, details=fixed)
    httpx.put(f"{base_url}/__sim/config", json=faults.model_dump(mode="json"), timeout=10).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fiches", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=300.0)
    parser.add_argument("--cap", type=int, default=3)
    args = parser.parse_args()
    latency = args.latency_ms / 1000

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        postgres, redis = EmbeddedPostgres(Path(tmp)), EmbeddedRedis(Path(tmp))
        postgres.start()
        redis.start()
        simulator, base_url = start_simulator(args.fiches)
        try:
            database_url, redis_url = postgres.url(), redis.url()
            assert database_url
            assert redis_url

            command.upgrade(alembic_config(database_url), "head")
            throttle(base_url, args.latency_ms)

            resources = {
                "crm": CrmResource(base_url=base_url, search_concurrency=1, fetch_concurrency=args.cap),
                "redis": RedisResource(url=redis_url),
                "database": DatabaseResource(url=database_url),
                "settings": get_settings(),
            }
            with dg.instance_for_test() as instance:
                started = time.perf_counter()
                result = dg.materialize(
                    [sales_fiches, fiche_details], partition_key=DAY, resources=resources, instance=instance
                )
                wall = time.perf_counter() - started
            assert result.success
            stats = httpx.get(f"{base_url}/__sim/stats", timeout=10).json()["families"]
        finally:
            simulator.terminate()
            simulator.wait(10)
            postgres.stop()
            redis.stop()

    [event] = result.asset_materializations_for_node("fiche_details")
    details = {k: v.value for k, v in event.metadata.items()}
    bound = args.fiches * latency / args.cap + latency
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"CRM ingestion of one day: {args.fiches} fiches, {args.latency_ms:.0f} ms per call, cap {args.cap}")
    print(f"  fetched {details['fetched']}, failed {details['failed']}, recordings {details['recordings']}")
    peaks = {family: stats[family]["peak_in_flight"] for family in ("search", "details")}
    print(f"  CRM peak concurrency: search {peaks['search']}, details {peaks['details']}")
    print(f"  wall {wall:.1f} s against a bound of {bound:.1f} s -> ratio {wall / bound:.3f} (target <= 1.15)")
    print(f"  peak RSS {rss_mib:.0f} MiB (limit {RSS_LIMIT_MIB} MiB)")
    print(
        f"fiches={args.fiches} latency_ms={args.latency_ms:.0f} cap={args.cap} wall_s={wall:.1f} "
        f"bound_s={bound:.1f} ratio={wall / bound:.3f} peak_rss_mib={rss_mib:.0f} "
        f"rss_ratio={rss_mib / RSS_LIMIT_MIB:.3f} peak_details={peaks['details']} "
        f"failed={details['failed']}"
    )


if __name__ == "__main__":
    main()
