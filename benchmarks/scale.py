"""Scale drill: four run-worker "hosts" process one sales day in parallel; the caps hold across them.

What a DockerRunLauncher or K8sRunLauncher deployment does, on one machine: every host is a separate
process with its own Dagster instance that launches its own runs of the product's jobs, sharing only
Postgres and Redis with the others (docs/scaling.md). Embedded Postgres and Redis in a temporary
directory; the demo CRM simulator with a fixed latency on searches and detail fetches
(`benchmarks/ingest.py`'s); the ElevenLabs stand-in of `benchmarks/transcribe.py`, answering after
`--stt-latency` seconds.

1. The day is listed once (`sales_fiches`, one search), then each host runs `fetch_fiches_job` for its
   share of the day's fiches, as launched runs would split it; the CRM caps (1 search, `--cap` detail
   fetches) are Redis semaphores every host shares.
2. A day of recordings (`transcribe.py`'s seed) is transcribed by **every** host at once
   (`transcribe_fiches_job` on all the day's fiches): the per-recording claims in Redis are what keeps
   a recording from being paid for twice, the `stt` semaphore what caps provider calls at `--stt-limit`.

Checked from the upstream side (the simulator's and the stand-in's own counters): peak calls in flight
never above a cap, and every fiche fetched and every recording transcribed exactly once. The bound is
what a perfect client would take under the caps: one search + fiches x latency / cap + recordings x
latency / limit. Ends with one `key=value` line: `ratio` = wall / bound, `peak_*` per upstream.

    .venv/bin/python benchmarks/scale.py                        # 4 hosts, 120 fiches, 120 recordings (~1 min)
    .venv/bin/python benchmarks/scale.py --fiches 24 --recordings 24
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import redis
from _embedded import migrated_servers
from ingest import start_simulator, throttle
from sqlalchemy import select
from transcribe import KEY, seed, start_stand_in

from assets.fiches import sales_fiches
from callaudit.settings import get_settings
from domain.models import Fiche
from resources.crm.resource import CrmResource
from resources.database import DatabaseResource, create_sync_engine
from resources.redis.resource import RedisResource
from resources.stt.resource import SttResource

DAY = "2026-02-02"
READY_KEY, GO_KEY, TIMES_KEY = "bench:scale:ready", "bench:scale:go", "bench:scale:times"
TRANSCRIBED_PREFIX = "B"  # transcribe.py's seeded fiches; the simulator's have other ids


def _resources(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "crm": CrmResource(base_url=args.crm_url, search_concurrency=1, fetch_concurrency=args.cap),
        "stt": SttResource(
            provider="elevenlabs",
            elevenlabs_api_key=KEY,
            elevenlabs_base_url=args.stt_url,
            concurrency=args.stt_limit,
            rate_limit_per_minute=1_000_000,  # out of the way: the limit in flight is what is measured
            audio_allowed_origins=[args.stt_url],  # the stand-in serves the audio, on loopback
            audio_allow_loopback=True,
        ),
        "redis": RedisResource(url=args.redis_url),
        "database": DatabaseResource(url=args.database_url),
        "settings": get_settings(),
    }


def host(args: argparse.Namespace) -> None:
    """One run-worker host: its own Dagster instance, its own runs, its share of the day.

    Starts, reports ready, and waits for its share: Python and Dagster start-up (tens of seconds
    for four hosts on two CPUs) is not what the caps bound, so it is timed apart."""
    from orchestration.jobs import fetch_fiches_job, transcribe_fiches_job

    resources = _resources(args)
    client = redis.Redis.from_url(args.redis_url)
    client.rpush(READY_KEY, args.host)
    while not (item := client.blpop([f"{GO_KEY}:{args.host}"], timeout=1)):  # short: under the socket timeout
        pass
    work = json.loads(item[1])
    client.hset(TIMES_KEY, f"cpu:start:{args.host}", time.process_time())
    with dg.instance_for_test() as instance:
        for stage, job in (("fetch", fetch_fiches_job), ("transcribe", transcribe_fiches_job)):
            if not work[stage]:
                continue
            # Wall-clock stamps (one machine, one clock): each stage's span across the hosts.
            client.hset(TIMES_KEY, f"{stage}:start:{args.host}", time.time())
            done = job.execute_in_process(run_config={"fiche_ids": work[stage]}, resources=resources, instance=instance)
            client.hset(TIMES_KEY, f"{stage}:end:{args.host}", time.time())
            assert done.success
    client.hset(TIMES_KEY, f"cpu:end:{args.host}", time.process_time())


def _day_fiches(database_url: str) -> tuple[list[str], list[str]]:
    """(the simulator's fiches listed for the day, the seeded fiches to transcribe)."""
    engine = create_sync_engine(database_url)
    with engine.connect() as connection:
        ids = sorted(connection.scalars(select(Fiche.fiche_id).where(Fiche.sales_date == dt.date.fromisoformat(DAY))))
    engine.dispose()
    seeded = [i for i in ids if i.startswith(TRANSCRIBED_PREFIX)]
    return [i for i in ids if not i.startswith(TRANSCRIBED_PREFIX)], seeded


def drill(args: argparse.Namespace, database_url: str, redis_url: str, tmp: Path) -> dict[str, Any]:
    simulator, crm_url = start_simulator(args.fiches)
    stand_in, stt_url = start_stand_in(args.stt_latency)
    args.crm_url, args.stt_url, args.database_url, args.redis_url = crm_url, stt_url, database_url, redis_url
    try:
        throttle(crm_url, args.latency_ms)
        seed(database_url, stt_url, args.recordings)

        hosts = []
        launched = time.perf_counter()
        for index in range(args.hosts):
            log = (tmp / f"host-{index}.log").open("w")
            argv = [sys.executable, __file__, "--host", str(index), "--crm-url", crm_url, "--stt-url", stt_url,
                    "--database-url", database_url, "--redis-url", redis_url, "--cap", str(args.cap),
                    "--stt-limit", str(args.stt_limit)]  # fmt: skip
            hosts.append((subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT), tmp / f"host-{index}.log"))
        client = redis.Redis.from_url(redis_url)
        while client.llen(READY_KEY) < args.hosts:
            if any(proc.poll() is not None for proc, _ in hosts):
                raise SystemExit("a host ended before it was ready: " + hosts[0][1].read_text()[-2000:])
            time.sleep(0.2)
        startup = time.perf_counter() - launched

        started, begun = time.perf_counter(), time.time()
        with dg.instance_for_test() as instance:
            listed = dg.materialize([sales_fiches], partition_key=DAY, resources=_resources(args), instance=instance)
        assert listed.success
        go = time.time()
        to_fetch, to_transcribe = _day_fiches(database_url)
        for index in range(args.hosts):
            share = {"fetch": to_fetch[index :: args.hosts], "transcribe": to_transcribe}
            client.rpush(f"{GO_KEY}:{index}", json.dumps(share))
        deadline = started + args.timeout
        try:
            failed = [str(path) for proc, path in hosts if proc.wait(max(0.0, deadline - time.perf_counter())) != 0]
        except subprocess.TimeoutExpired:
            for proc, _ in hosts:
                proc.kill()
            tails = "\n".join(f"{path.name}: {path.read_text()[-600:]}" for _, path in hosts)
            raise SystemExit(f"hosts still running after {args.timeout:.0f} s; their last output:\n{tails}") from None
        wall, finished = time.perf_counter() - started, time.time()
        if failed:
            raise SystemExit(f"host(s) failed, see {failed}: " + Path(failed[0]).read_text()[-2000:])
        crm = httpx.get(f"{crm_url}/__sim/stats", timeout=10).json()["families"]
        stt = httpx.get(f"{stt_url}/__stats", timeout=10).json()
    finally:
        for proc in (simulator, stand_in):
            proc.terminate()
            proc.wait(10)
    spans = _spans(client.hgetall(TIMES_KEY), begun, go, finished)
    return {"wall": wall, "startup": startup, "fiches": len(to_fetch), "crm": crm, "stt": stt, **spans}


def _spans(stamps: dict[Any, Any], begun: float, go: float, finished: float) -> dict[str, Any]:
    """Where the wall went: the listing, each stage's span (the first host's start to the last host's
    end), the hand-off before the first stage and the hosts' exit after the last; the hosts' CPU."""
    edges: dict[tuple[str, str], list[float]] = {}
    for key, value in stamps.items():
        what, edge, _ = (key.decode() if isinstance(key, bytes) else key).split(":")
        edges.setdefault((what, edge), []).append(float(value))
    stages = {stage: max(edges[stage, "end"]) - min(edges[stage, "start"]) for stage in ("fetch", "transcribe")}
    stages |= {
        "listing": go - begun,
        "hand-off": min(edges["fetch", "start"]) - go,
        "exit": finished - max(edges["transcribe", "end"]),
    }
    return {"stages": stages, "cpu": sum(edges["cpu", "end"]) - sum(edges["cpu", "start"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=4)
    parser.add_argument("--fiches", type=int, default=120)
    parser.add_argument("--latency-ms", type=float, default=200.0, help="CRM latency per call")
    parser.add_argument("--cap", type=int, default=3, help="CRM detail fetches at once (production cap)")
    parser.add_argument("--recordings", type=int, default=120)
    parser.add_argument("--stt-latency", type=float, default=0.5, help="seconds per provider call")
    parser.add_argument("--stt-limit", type=int, default=4, help="provider calls in flight at once")
    parser.add_argument("--timeout", type=float, default=600.0, help="give up on the hosts after this long")
    parser.add_argument("--host", help=argparse.SUPPRESS)
    for hidden in ("--crm-url", "--stt-url", "--database-url", "--redis-url"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.host:
        host(args)
        return

    with migrated_servers("bench-scale-") as servers:
        result = drill(args, servers.database_url, servers.redis_url, servers.home)

    crm, stt, fiches = result["crm"], result["stt"], result["fiches"]
    latency = args.latency_ms / 1000
    bound = latency + fiches * latency / args.cap + args.recordings * args.stt_latency / args.stt_limit
    ratio = result["wall"] / bound
    load = os.getloadavg()[0]
    detail_calls = sum(crm["details"]["statuses"].values())
    peaks = {"search": crm["search"]["peak_in_flight"], "details": crm["details"]["peak_in_flight"], "stt": stt["peak"]}
    caps = {"search": 1, "details": args.cap, "stt": args.stt_limit}
    over = [name for name, peak in peaks.items() if peak > caps[name]]
    duplicates = {"fetch": detail_calls - fiches, "stt": stt["calls"] - args.recordings}
    print(f"Scale drill: {args.hosts} hosts, one day: {fiches} fiches fetched ({args.latency_ms:.0f} ms per CRM call, "
          f"cap {args.cap}), {args.recordings} recordings transcribed by every host ({args.stt_latency:g} s, "
          f"limit {args.stt_limit})")  # fmt: skip
    print(f"  upstream peaks in flight: {peaks} against caps {caps}" + (f": OVER on {over}" if over else ""))
    print(f"  CRM detail calls {detail_calls} for {fiches} fiches, provider calls {stt['calls']} for "
          f"{args.recordings} recordings, refused {len(stt['refused'])}")  # fmt: skip
    print(f"  hosts ready after {result['startup']:.1f} s (Python and Dagster start-up, not in the wall time)")
    print(f"  wall {result['wall']:.1f} s against a bound of {bound:.1f} s -> ratio {ratio:.3f}")
    stages, cpus = result["stages"], os.cpu_count() or 1
    fetch_bound, stt_bound = fiches * latency / args.cap, args.recordings * args.stt_latency / args.stt_limit
    # Mean calls in flight over a stage's span: at its cap, the stage kept the upstream busy.
    busy = {
        "details": fiches * latency / stages["fetch"],
        "stt": args.recordings * args.stt_latency / stages["transcribe"],
    }
    cpu_share = result["cpu"] / (result["wall"] * cpus)
    for stage, bound_s, upstream in (("fetch", fetch_bound, "details"), ("transcribe", stt_bound, "stt")):
        print(f"  {stage}: {stages[stage]:.1f} s against {bound_s:.1f} s (ratio {stages[stage] / bound_s:.2f}), "
              f"{busy[upstream]:.2f} calls in flight on average against a cap of {caps[upstream]}")  # fmt: skip
    others = ", ".join(f"{name} {stages[name]:.1f} s" for name in ("listing", "hand-off", "exit"))
    print(f"  outside the stages: {others} (Dagster run set-up and process exit, no upstream call)")
    print(f"  hosts' CPU {result['cpu']:.1f} s over the wall's {result['wall']:.1f} s on {cpus} CPUs: "
          f"{cpu_share:.0%} of the machine")  # fmt: skip
    print(f"  machine load average {load:.1f} on {cpus} CPUs (hosts share them here, not in production)")
    print(
        f"hosts={args.hosts} fiches={fiches} recordings={args.recordings} wall_s={result['wall']:.1f} "
        f"bound_s={bound:.1f} ratio={ratio:.3f} startup_s={result['startup']:.1f} "
        f"peak_search={peaks['search']} peak_details={peaks['details']} "
        f"peak_stt={peaks['stt']} caps_exceeded={len(over)} duplicate_fetches={duplicates['fetch']} "
        f"duplicate_transcriptions={duplicates['stt']} fetch_s={stages['fetch']:.1f} "
        f"transcribe_s={stages['transcribe']:.1f} exit_s={stages['exit']:.1f} "
        f"busy_details={busy['details']:.2f} busy_stt={busy['stt']:.2f} cpu_share={cpu_share:.2f} load_avg={load:.1f}"
    )
    if over or any(duplicates.values()) or stt["refused"]:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
