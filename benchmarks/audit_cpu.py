"""Benchmark: the audit stage's CPU per model call, and where it goes.

`day.py` found the audit run CPU-bound below the LLM cap: the process cannot keep 20 calls in flight
when each call costs it too much CPU. This measures that cost apart from the rest of the day, and
from the machine's load (CPU time, not wall time):

* embedded Postgres and Redis; the demo CRM simulator's day (`--fiches`) fetched and transcribed by
  the product's assets (reference provider); `day.py`'s 18-step scorecard;
* the tests' OpenAI-compatible stand-in (served from a thread of this process) answering every step
  after `--latency` s, as in `day.py`;
* in a child process, as a Dagster run does: the product's `AuditEngine` with the real OpenAI
  auditor (SDK, Redis semaphore of `--cap` slots, cool-down), Postgres writes and event publishing,
  the run's settings (steps and fiches at once). One fiche is audited first to warm up (the token
  encoding, the schema, the connections); then every fiche again (`force`) and the child's CPU
  (user + system, all threads) is divided by the model calls it made.

`--py-spy FILE` samples the measured pass with py-spy (the child starts it on itself; collapsed
stacks in FILE) and prints where the CPU went: by our module and function nearest the sample's
leaf, and by part (SDK request building, response parsing, HTTP, events, database...).

    .venv/bin/python benchmarks/audit_cpu.py                        # 30 fiches (540 calls)
    .venv/bin/python benchmarks/audit_cpu.py --py-spy /tmp/audit.txt

Last line: `cpu_ms_per_call=`, and `ratio=` against the budget the LLM cap leaves one process on
one core: 1 s of latency / 20 calls in flight = 50 ms of CPU per call (`--budget-ms`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCORECARD = Path(__file__).resolve().parent / "fixtures" / "scorecard_18_steps.json"
DAY = "2026-02-02"
MODEL = "gpt-bench"

#: Parts of a sample, by the frames it holds (first match wins; files as py-spy names them).
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("events (publish)", ("redis/streams.py", "domain/events.py")),
    ("semaphore / cool-down (Redis)", ("redis/semaphore.py", "redis/cooldown.py")),
    ("database (SQLAlchemy, psycopg)", ("sqlalchemy/", "psycopg/", "psycopg_pool/")),
    ("SDK response parsing", ("openai/_response.py", "openai/_models.py", "openai/_legacy_response.py")),
    ("SDK request building", ("openai/_base_client.py", "openai/_utils/", "openai/resources/")),
    ("HTTP (httpx, httpcore)", ("httpx/", "httpcore/", "h11/", "anyio/")),
    ("step answer parse (pydantic)", ("llm/auditor.py",)),
    ("gating and citations", ("audits/gating.py", "audits/citations.py", "audits/evidence.py")),
    ("prompt building", ("audits/prompts.py", "audits/schema.py")),
    ("timeline (chunks, rendering, tokens)", ("audits/timeline.py", "audits/timeline_store.py", "quicktok")),
    ("logging", ("logging/",)),
    ("redis client (other)", ("redis/asyncio/", "redis/_parsers/", "redis/commands/")),
    ("asyncio loop", ("asyncio/",)),
)

OURS = re.compile(r"\((?:domain|services|resources|assets)/")


def seed(database_url: str, redis_url: str, crm_url: str) -> tuple[list[str], int]:
    """The simulator's day fetched and transcribed; the fiche ids and the 18-step scorecard's id."""
    import dagster as dg
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from assets.fiches import fiche_details, sales_fiches
    from assets.transcripts import transcripts
    from callaudit.settings import get_settings
    from domain.models import FicheTranscription
    from domain.scorecards.service import import_document
    from resources.crm.resource import CrmResource
    from resources.database import DatabaseResource, create_sync_engine
    from resources.redis.resource import RedisResource
    from resources.stt.resource import SttResource

    resources = {
        "crm": CrmResource(base_url=crm_url),
        "stt": SttResource(provider="reference", reference_base_url=crm_url, concurrency=10),
        "redis": RedisResource(url=redis_url),
        "database": DatabaseResource(url=database_url),
        "settings": get_settings(),
    }
    with dg.instance_for_test() as instance:
        assert dg.materialize(
            [sales_fiches, fiche_details], partition_key=DAY, resources=resources, instance=instance
        ).success
        assert dg.materialize([transcripts], partition_key=DAY, resources=resources, instance=instance).success
    engine = create_sync_engine(database_url)
    try:
        with Session(engine) as session, session.begin():
            scorecard = import_document(session, json.loads(SCORECARD.read_text(encoding="utf-8"))).scorecard.id
            fiches = sorted(
                session.scalars(select(FicheTranscription.fiche_id).where(FicheTranscription.status == "complete"))
            )
    finally:
        engine.dispose()
    return fiches, scorecard


def child(args: argparse.Namespace) -> None:
    """The audits as the `audits` asset runs them (`assets.audits.run_audits`), CPU counted around the measured pass."""
    from callaudit.settings import get_settings
    from domain.audits.store import Trigger
    from domain.scorecards.service import current_spec
    from resources.database import create_sync_engine, sync_session_factory
    from resources.llm.resource import LlmResource
    from resources.redis import EventPublisher
    from resources.redis.client import create_async_redis
    from services.auditing import AuditEngine, Outcome

    job = json.loads(args.child)
    settings = get_settings()
    llm = LlmResource(kind="openai", api_key=job["key"], base_url=job["base_url"], model=MODEL, concurrency=args.cap)
    engine = create_sync_engine(os.environ["DATABASE_URL"], pool_size=10, max_overflow=10)
    sessions = sync_session_factory(engine)
    with sessions() as session:
        spec = current_spec(session, job["scorecard"])
    from assets.audits import gating_rules

    async def main() -> dict[str, Any]:
        redis = create_async_redis(os.environ["REDIS_URL"])
        async with llm.auditor(redis) as auditor:
            audit = AuditEngine(
                auditor,
                sessions,
                EventPublisher(redis),
                rules=gating_rules(settings),
                trigger=Trigger(source="asset", run_id=str(uuid.uuid4())),
                step_concurrency=settings.audit_step_per_audit_concurrency,
                fiche_concurrency=settings.audit_run_concurrency,
                prompt_token_budget=settings.audit_prompt_token_budget,
            )
            warm_up = await audit.audit_fiches(job["fiches"][:1], spec, force=True)
            spy = None
            if args.py_spy:
                spy = subprocess.Popen(  # noqa: ASYNC220 - started once, before the measured pass
                    [args.py_spy_bin, "record", "--pid", str(os.getpid()), "--format", "raw", "--rate", "250",
                     "--nonblocking", "-o", args.py_spy],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )  # fmt: skip
                await asyncio.sleep(2)  # py-spy attaching
            usage = resource.getrusage(resource.RUSAGE_SELF)
            started = time.perf_counter()
            report = await audit.audit_fiches(job["fiches"], spec, force=True)
            wall = time.perf_counter() - started
            after = resource.getrusage(resource.RUSAGE_SELF)
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(60)
        await redis.aclose()
        return {
            "user_s": after.ru_utime - usage.ru_utime,
            "system_s": after.ru_stime - usage.ru_stime,
            "wall_s": wall,
            "calls": sum(f.usage.calls for f in report.fiches),
            "all_calls": sum(f.usage.calls for f in [*warm_up.fiches, *report.fiches]),
            "audited": report.count(Outcome.COMPLETED),
            "failed": report.count(Outcome.FAILED),
        }

    try:
        print(json.dumps(asyncio.run(main())))
    finally:
        engine.dispose()


def servers_cpu(home: Path) -> dict[str, float]:
    """CPU seconds used so far by the embedded Postgres (postmaster, its live processes and the exited
    connections' backends it reaped) and Redis: the other side of each write and publish."""
    import psutil
    from _embedded import tree_cpu_seconds

    from callaudit.embedded import EmbeddedPostgres, EmbeddedRedis

    def total(pid: int | None, *, tree: bool) -> float:
        if pid is None:
            return 0.0
        proc = psutil.Process(pid)
        return tree_cpu_seconds(proc) if tree else sum(proc.cpu_times()[:2])

    return {
        "postgres": total(EmbeddedPostgres(home).status().pid, tree=True),
        "redis": total(EmbeddedRedis(home).status().pid, tree=False),
    }


def idle_per_call(starts: list[float], latency: float, cap: int) -> float:
    """Slot time left idle per call between the first and last moments all `cap` slots were busy
    (calls starting at `starts`, each lasting `latency` s): the hand-off from one call to the next."""
    from day import cap_use

    use = cap_use(starts, latency, cap)
    if use.first_full is None or use.last_full is None:
        return float("nan")
    origin = min(starts)
    low, high = origin + use.first_full, origin + use.last_full
    used = sum(max(0.0, min(s + latency, high) - max(s, low)) for s in starts)
    inside = sum(1 for s in starts if low <= s < high)
    return (cap * (high - low) - used) / max(1, inside)


def parts(path: Path) -> tuple[int, Counter[str], Counter[str]]:
    """Samples in a py-spy raw file, by part (`PARTS`) and by our frame nearest the leaf."""
    by_part: Counter[str] = Counter()
    by_frame: Counter[str] = Counter()
    total = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        part = next((name for name, marks in PARTS if any(m in stack for m in marks)), "other")
        by_part[part] += samples
        mine = next((f for f in reversed(frames) if OURS.search(f)), "(none of ours)")
        by_frame[re.sub(r":\d+\)$", ")", mine)] += samples
    return total, by_part, by_frame


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Seed, then run the child against the stand-in; the child's figures and what the others used."""
    sys.path.insert(0, str(ROOT))  # `tests` is not an installed package
    from _embedded import migrated_servers
    from ingest import start_simulator

    from tests.fixtures.standins.llm import OpenAiStandIn, Reply, control_points, step_answer

    def slow(body: dict[str, Any]) -> Reply:
        return Reply(content=json.dumps(step_answer(control_points(body)), ensure_ascii=False), delay=args.latency)

    with migrated_servers("bench-audit-cpu-") as servers:
        os.environ.update(DATABASE_URL=servers.database_url, REDIS_URL=servers.redis_url)
        simulator, crm_url = start_simulator(args.fiches)
        try:
            fiches, scorecard = seed(servers.database_url, servers.redis_url, crm_url)
        finally:
            simulator.terminate()
            simulator.wait(10)
        with OpenAiStandIn(model=MODEL) as llm:
            llm.responder = slow
            job = {"fiches": fiches, "scorecard": scorecard, "base_url": llm.base_url, "key": llm.key}
            argv = [sys.executable, __file__, "--child", json.dumps(job), "--cap", str(args.cap)]
            if args.py_spy:
                argv += ["--py-spy", args.py_spy, "--py-spy-bin", args.py_spy_bin]
            before, stand_in = servers_cpu(servers.home), resource.getrusage(resource.RUSAGE_SELF)
            out = subprocess.run(argv, check=True, capture_output=True, text=True, env=os.environ).stdout
            time.sleep(1)  # the child's Postgres backends reaped
            after, stand_in_after = servers_cpu(servers.home), resource.getrusage(resource.RUSAGE_SELF)
            result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
            every = result["all_calls"]  # the other processes' CPU is counted over the warm-up too
            result["servers_ms"] = {name: 1000 * (after[name] - before[name]) / every for name in after}
            result["stand_in_ms"] = 1000 * (sum(stand_in_after[:2]) - sum(stand_in[:2])) / every
            result["violations"] = len(llm.violations)
            starts = [seen.at for seen in llm.seen]
            result["idle_ms"] = 1000 * idle_per_call(starts[-result["calls"] :], args.latency, args.cap)
            result["fiches"] = len(fiches)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fiches", type=int, default=30)
    parser.add_argument("--latency", type=float, default=1.0, help="seconds per model call")
    parser.add_argument("--cap", type=int, default=20, help="model calls in flight at once")
    parser.add_argument("--budget-ms", type=float, default=50.0, help="CPU per call the cap allows one core")
    parser.add_argument("--py-spy", metavar="FILE", help="sample the measured pass into FILE (collapsed stacks)")
    parser.add_argument("--py-spy-bin", default=shutil.which("py-spy") or "py-spy")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    load_before = os.getloadavg()
    result = measure(args)
    cpu, calls = result["user_s"] + result["system_s"], result["calls"]
    per_call = 1000 * cpu / calls if calls else float("nan")
    servers_ms, stand_in_ms, idle_ms = result["servers_ms"], result["stand_in_ms"], result["idle_ms"]
    load = " / ".join(" ".join(f"{x:.2f}" for x in avg) for avg in (load_before, os.getloadavg()))
    print(f"Audit stage CPU per model call: {result['fiches']} fiches x 18 steps, "
          f"{args.latency:g} s a call, cap {args.cap}")  # fmt: skip
    print(f"  audited {result['audited']}, failed {result['failed']}, model calls {calls}, "
          f"stand-in violations {result['violations']}; load average {load} (start / end)")  # fmt: skip
    print(f"  wall {result['wall_s']:.1f} s; CPU {cpu:.2f} s "
          f"(user {result['user_s']:.2f}, system {result['system_s']:.2f})")  # fmt: skip
    print(f"  {per_call:.1f} ms of CPU per model call against {args.budget_ms:g} ms (one core, cap / latency)")
    print(f"  beside it, per call: Postgres {servers_ms['postgres']:.1f} ms, Redis {servers_ms['redis']:.1f} ms, "
          f"the LLM stand-in {stand_in_ms:.1f} ms")  # fmt: skip
    print(f"  slot time idle between the cap's first and last full moments: {idle_ms:.1f} ms per call")
    if args.py_spy:
        total, by_part, by_frame = parts(Path(args.py_spy))
        print(f"  py-spy: {total} samples of the measured pass")
        for name, samples in by_part.most_common():
            print(f"    {100 * samples / total:5.1f} %  {name}")
        print("  our frame nearest the leaf:")
        for name, samples in by_frame.most_common(15):
            print(f"    {100 * samples / total:5.1f} %  {name}")
    print(
        f"fiches={result['fiches']} calls={calls} cpu_s={cpu:.2f} cpu_ms_per_call={per_call:.1f} "
        f"postgres_ms_per_call={servers_ms['postgres']:.1f} redis_ms_per_call={servers_ms['redis']:.1f} "
        f"standin_ms_per_call={stand_in_ms:.1f} slot_idle_ms_per_call={idle_ms:.1f} "
        f"budget_ms={args.budget_ms:g} ratio={per_call / args.budget_ms:.3f}"
    )


if __name__ == "__main__":
    main()
