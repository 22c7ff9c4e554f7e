"""Benchmark: one sales day end to end from the schedule, ingest -> transcription -> audits, as deployed.

Starts the whole stack with `callaudit run` (embedded Postgres and Redis, Dagster code server, daemon
and webserver, the API) in a temporary home, against three upstreams that answer slowly:

* the demo CRM simulator (`ingest.py`'s), `--fiches` sales on today's date, `--crm-latency-ms` per
  search and detail fetch, the production cap of `--crm-cap` detail fetches at once;
* the ElevenLabs stand-in (`transcribe.py`'s) in its own process, `--stt-latency` s per recording,
  `--stt-limit` at once, downloading each recording's audio from the simulator and uploading it;
* the OpenAI-compatible stand-in of the tests (`tests/fixtures/standins/llm.py`, strict checks, prompt caching
  as documented) answering every step after `--llm-latency` s, `--llm-cap` calls at once.

Before the stack starts, the database holds one scorecard marked to run automatically:
`fixtures/scorecard_18_steps.json` (18 steps). Nothing is launched by hand: the code schedule
`refresh_today_sales` (SALES_REFRESH_CRON set to every minute, the schedule stopped after its first
tick so that later ticks add no runs) starts the day's sync, the sensors
`transcribe_fetched_fiches` and `audit_automatic_scorecards` chain transcription and audits.

Each stage alone is bounded by its upstream: calls x latency / cap (ingest: plus one search). The
day's bound is the slowest stage's bound, not their sum, since stages can overlap; `ratio` = wall /
bound (target <= 1.2, then <= 1.1), wall from the schedule's first run being created to the last
audit stored. Also reported: when each stage was active (seconds from the start), the peak number
of calls in flight seen by each upstream, and the Dagster runs started per job.

Tokens and money (the issue's figures, after the stack stops): the day's own audits as stored (input,
cached and output tokens per audit, priced with `--price-model`'s entry of the price table, since the
stand-in's model has none), and `tokens.py`'s comparison of our call order with the original's on
`--token-fiches` fiches of the evaluation corpus (its docstring states the caching assumptions):
`token_ratio` = original / ours billed-equivalent input (goal >= 3).

Timeline: every Dagster run with when it was created, launched, up (its process loaded the code),
began its first step and ended (seconds from the start, from its event log), and when the first fiche
was fetched, the first recording transcribed, the first fiche wholly transcribed and the first audit
started, so the hand-offs between stages and the runs' start-up cost are read off the report. The LLM
cap's use, from the stand-in's arrival times (`cap_use`): when all its slots were first and last busy,
the time below it in between, and the tail from the last moment it was full to the last call's end
(`llm_tail_s=`).

    .venv/bin/python benchmarks/day.py                       # 200 fiches (about 5 minutes plus start-up)
    .venv/bin/python benchmarks/day.py --fiches 20           # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import httpx
from ingest import start_simulator, throttle
from sqlalchemy import func, select, update
from tokens import Comparison, Tally, compare
from transcribe import KEY as STT_KEY
from transcribe import start_stand_in

from callaudit.migrate import dagster_environment, migrate
from callaudit.runtime import Runtime, prepare
from callaudit.seed import seed_database
from callaudit.settings import Settings
from domain.models.audits import Audit
from domain.models.fiches import Fiche
from domain.models.scorecards import Scorecard
from domain.models.transcripts import FicheTranscription, FicheTranscriptionStatus, Transcript
from domain.partitions import day_audits
from domain.scorecards.service import import_document
from resources.database import create_sync_engine, sync_session_factory
from resources.llm.pricing import DEFAULT_PRICES

ROOT = Path(__file__).resolve().parent.parent
SCORECARD = Path(__file__).resolve().parent / "fixtures" / "scorecard_18_steps.json"
MODEL = "gpt-bench"
CALLAUDIT = str(Path(sys.executable).parent / "callaudit")
WORKSPACE = ROOT / "workspace.yaml"


@contextlib.contextmanager
def llm_stand_in(latency: float) -> Iterator[Any]:
    """The tests' OpenAI stand-in (served from a thread of this process), answering after `latency` s."""
    sys.path.insert(0, str(ROOT))  # `tests` is not an installed package
    from tests.fixtures.standins.llm import OpenAiStandIn, Reply, control_points, step_answer

    def slow(body: dict[str, Any]) -> Reply:
        return Reply(content=json.dumps(step_answer(control_points(body)), ensure_ascii=False), delay=latency)

    with OpenAiStandIn(model=MODEL) as server:
        server.responder = slow
        yield server


def stack_environment(home: Path, args: argparse.Namespace, crm: str, stt: str, llm: Any) -> dict[str, str]:
    sys.path.insert(0, str(ROOT))
    from tests.fixtures.processes import cli_env, free_port

    return cli_env(
        home,
        PORT=str(free_port()),
        DAGSTER_WEBSERVER_PORT=str(free_port()),
        DAGSTER_CODE_SERVER_PORT=str(free_port()),
        FICHE_API_BASE_URL=crm,
        FICHE_FETCH_CONCURRENCY=str(args.crm_cap),
        STT_PROVIDER="elevenlabs",
        ELEVENLABS_API_KEY=STT_KEY,
        ELEVENLABS_BASE_URL=stt,
        TRANSCRIPTION_RECORDING_CONCURRENCY=str(args.stt_limit),
        # Provider-wide request rate out of the way, as in transcribe.py: the latency is the bound.
        TRANSCRIPTION_ELEVENLABS_RATE_LIMIT_PER_MINUTE="1000000",
        OPENAI_API_KEY=llm.key,
        OPENAI_BASE_URL=llm.base_url,
        OPENAI_MODEL_AUDIT=MODEL,
        LLM_MAX_CONCURRENCY=str(args.llm_cap),  # the Redis semaphore `llm` over every process
        SALES_REFRESH_CRON="* * * * *",
        LOG_LEVEL="WARNING",
    )


def install_scorecard(runtime: Runtime) -> int:
    """The 18-step scorecard, the only one marked to run automatically."""
    engine = create_sync_engine(runtime.database_url)
    with sync_session_factory(engine).begin() as session:
        session.execute(update(Scorecard).values(run_automatically=False))
        imported = import_document(session, json.loads(SCORECARD.read_text(encoding="utf-8")))
        imported.scorecard.run_automatically = True
        scorecard_id = imported.scorecard.id
    engine.dispose()
    return scorecard_id


def wait_until(condition: Any, timeout: float, what: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise SystemExit(f"callaudit run exited with {proc.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {timeout:.0f} s")
        time.sleep(1)


def wait_settled(
    runtime: Runtime, day: dt.date, scorecard_id: int, args: argparse.Namespace, proc: subprocess.Popen[bytes]
) -> bool:
    """Until every fiche of the day is audited; True when nothing moved for `--stall` s before that
    (a stage left fiches behind: the figures are then those of what was done)."""
    last, moved, deadline = None, time.monotonic(), time.monotonic() + args.timeout
    while True:
        state = stage_times(runtime, day, scorecard_id)["state"]
        if state.fiches == args.fiches and state.not_ready == 0 and state.waiting == 0:
            return False
        if (state.ready, state.audited, state.failed) != last:
            last, moved = (state.ready, state.audited, state.failed), time.monotonic()
        if time.monotonic() - moved > args.stall or time.monotonic() > deadline:
            return True
        if proc.poll() is not None:
            raise SystemExit(f"callaudit run exited with {proc.returncode} before the day was audited")
        time.sleep(2)


def api_ready(port: str) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def stage_times(runtime: Runtime, day: dt.date, scorecard_id: int) -> dict[str, Any]:
    """The day's state and when each stage was first and last active (database clock)."""
    engine = create_sync_engine(runtime.database_url)
    with sync_session_factory(engine)() as session:
        state = day_audits(session, day, scorecard_id)
        fiches = select(Fiche.fiche_id).where(Fiche.sales_date == day)
        fetched = session.execute(
            select(func.min(Fiche.fetched_at), func.max(Fiche.fetched_at), func.count()).where(Fiche.sales_date == day)
        ).one()
        transcribed = session.execute(
            select(
                func.min(Transcript.created_at),
                func.max(Transcript.transcribed_at),
                func.count(),
                func.min(Transcript.transcribed_at),
            ).where(Transcript.fiche_id.in_(fiches), Transcript.transcribed_at.is_not(None))
        ).one()
        # When the first fiche could be audited: all its recordings transcribed.
        first_ready = session.scalar(
            select(func.min(FicheTranscription.finished_at)).where(
                FicheTranscription.fiche_id.in_(fiches), FicheTranscription.status == FicheTranscriptionStatus.COMPLETE
            )
        )
        audited = session.execute(
            select(func.min(Audit.started_at), func.max(Audit.completed_at)).where(
                Audit.fiche_id.in_(fiches), Audit.scorecard_id == scorecard_id
            )
        ).one()
        usage = session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(Audit.input_tokens), 0),
                func.coalesce(func.sum(Audit.cached_input_tokens), 0),
                func.coalesce(func.sum(Audit.output_tokens), 0),
                func.coalesce(func.sum(Audit.audited_seconds), 0.0),
            ).where(Audit.fiche_id.in_(fiches), Audit.scorecard_id == scorecard_id, Audit.status == "completed")
        ).one()
    engine.dispose()
    return {
        "state": state,
        "ingest": (fetched[0], fetched[1]),
        "fiches": fetched[2],
        "transcription": (transcribed[0], transcribed[1]),
        "recordings": transcribed[2],
        "first_transcribed": transcribed[3],
        "first_ready": first_ready,
        "audits": (audited[0], audited[1]),
        "usage": tuple(usage),
    }


#: A run's start-up, from its event log: launched (dequeued, the launcher asked the code server for a
#: process), up (the run worker loaded the code location), its first step began.
STARTUP = {
    "launched": dg.DagsterEventType.RUN_STARTING,
    "up": dg.DagsterEventType.RUN_START,
    "first step": dg.DagsterEventType.STEP_START,
}


@dataclass(frozen=True)
class RunTimeline:
    job: str
    status: str
    created: dt.datetime
    moments: dict[str, dt.datetime]  # STARTUP's names, and "ended"


@dataclass(frozen=True)
class CapUse:
    """How a cap was used over a stage's calls (seconds from its first call): when it was first and
    last full, how long it was full in between, and when the last call ended."""

    first_full: float | None
    last_full: float | None
    full_s: float
    end: float
    #: Slot-seconds unused between the first and last full moments (cap - calls in flight, integrated):
    #: divided by the cap, the wall time they cost.
    idle_slot_s: float = 0.0

    @property
    def gaps_s(self) -> float:
        """Time below the cap between its first and last time full (work was waiting elsewhere)."""
        if self.first_full is None or self.last_full is None:
            return 0.0
        return self.last_full - self.first_full - self.full_s

    @property
    def tail_s(self) -> float:
        """From the cap's last time full to the last call's end: the day's last fiches alone."""
        return self.end - (self.last_full if self.last_full is not None else 0.0)


def cap_use(starts: list[float], latency: float, cap: int) -> CapUse:
    """The cap's use by calls starting at `starts` (any clock), each lasting `latency` s."""
    if not starts:
        return CapUse(None, None, 0.0, 0.0)
    origin = min(starts)
    edges = sorted([(s - origin, 1) for s in starts] + [(s - origin + latency, -1) for s in starts])
    in_flight, full_since, first_full, last_full, full_s = 0, None, None, None, 0.0
    idle, idle_until_last_full, previous = 0.0, 0.0, 0.0
    for at, step in edges:
        if first_full is not None:
            idle += max(0, cap - in_flight) * (at - previous)
        previous = at
        in_flight += step
        if in_flight >= cap and full_since is None:
            full_since = at
            first_full = at if first_full is None else first_full
        elif in_flight < cap and full_since is not None:
            full_s, last_full, full_since = full_s + at - full_since, at, None
            idle_until_last_full = idle
    return CapUse(first_full, last_full, full_s, edges[-1][0], idle_until_last_full)


def dagster_runs(runtime: Runtime) -> list[RunTimeline]:
    """Every run of the day with its start-up moments (the first event of each kind)."""
    timelines = []
    with dagster_environment(runtime), dg.DagsterInstance.from_config(str(runtime.dagster_home)) as instance:
        for record in instance.get_run_records(ascending=True):
            run = record.dagster_run
            moments: dict[str, dt.datetime] = {}
            for entry in instance.all_logs(run.run_id, of_type=set(STARTUP.values())):
                assert entry.dagster_event is not None
                name = next(n for n, kind in STARTUP.items() if kind == entry.dagster_event.event_type)
                moments.setdefault(name, dt.datetime.fromtimestamp(entry.timestamp, dt.UTC))
            if record.end_time is not None:
                moments["ended"] = dt.datetime.fromtimestamp(record.end_time, dt.UTC)
            created = record.create_timestamp
            created = created if created.tzinfo else created.replace(tzinfo=dt.UTC)  # Dagster stores UTC
            timelines.append(RunTimeline(run.job_name, run.status.value, created, moments))
    return timelines


def first_run_created(runtime: Runtime) -> dt.datetime | None:
    with dagster_environment(runtime), dg.DagsterInstance.from_config(str(runtime.dagster_home)) as instance:
        records = instance.get_run_records(ascending=True)
        records = [r for r in records if r.dagster_run.tags.get("dagster/schedule_name") == "refresh_today_sales"]
    if not records:
        return None
    created = records[0].create_timestamp
    return created if created.tzinfo else created.replace(tzinfo=dt.UTC)  # Dagster stores UTC


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fiches", type=int, default=200)
    parser.add_argument("--crm-latency-ms", type=float, default=300.0)
    parser.add_argument("--crm-cap", type=int, default=3)
    parser.add_argument("--stt-latency", type=float, default=2.0)
    parser.add_argument("--stt-limit", type=int, default=10)
    parser.add_argument("--llm-latency", type=float, default=1.0)
    parser.add_argument("--llm-cap", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the day's audits")
    parser.add_argument("--stall", type=float, default=180, help="report once nothing moved for this long")
    parser.add_argument("--token-fiches", type=int, default=20, help="evaluation fiches of the token comparison")
    parser.add_argument("--token-latency", type=float, default=0.2, help="seconds per call of the token comparison")
    parser.add_argument("--price-model", default="gpt-5.2", help="the price table's model pricing the day's tokens")
    return parser.parse_args()


@contextlib.contextmanager
def upstreams(args: argparse.Namespace) -> Iterator[tuple[str, str, Any]]:
    """The simulator (throttled), the speech-to-text stand-in and the LLM stand-in: (CRM URL, STT URL, LLM)."""
    with contextlib.ExitStack() as stack:
        simulator, crm_url = start_simulator(args.fiches)
        stack.callback(simulator.wait, 10)
        stack.callback(simulator.terminate)
        throttle(crm_url, args.crm_latency_ms)
        stt, stt_url = start_stand_in(args.stt_latency, any_audio=True)
        stack.callback(stt.wait, 10)
        stack.callback(stt.terminate)
        yield crm_url, stt_url, stack.enter_context(llm_stand_in(args.llm_latency))


def main() -> None:
    args = arguments()

    with contextlib.ExitStack() as stack:
        home = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-day-")))
        crm_url, stt_url, llm = stack.enter_context(upstreams(args))

        env = stack_environment(home, args, crm_url, stt_url, llm)
        os.environ.clear()
        os.environ.update(env)  # this process resolves the same settings as the stack
        runtime = prepare(Settings(), start_embedded=True)
        stack.callback(runtime.stop_started)
        migrate(runtime)
        seed_database(runtime)
        scorecard_id = install_scorecard(runtime)

        log = stack.enter_context((home / "run.log").open("wb"))
        proc = subprocess.Popen(
            [CALLAUDIT, "run"],
            cwd=home,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        stack.callback(stop, proc)
        wait_until(lambda: api_ready(env["PORT"]), 180, "the API", proc)
        print(f"stack up; waiting for the schedule's tick (every minute), home {home}", flush=True)
        wait_until(lambda: first_run_created(runtime) is not None, 120, "the schedule's first run", proc)
        start = first_run_created(runtime)
        assert start is not None
        # One tick starts the day; later ones would re-sync it every minute and take run slots.
        stop_schedule = [CALLAUDIT, "dagster", "schedule", "stop", "refresh_today_sales", "-w", str(WORKSPACE)]
        subprocess.run(stop_schedule, env=env, cwd=home, check=True, capture_output=True, timeout=300)
        day = start.astimezone(ZoneInfo(runtime.settings.sales_timezone)).date()

        stalled = wait_settled(runtime, day, scorecard_id, args, proc)
        times = stage_times(runtime, day, scorecard_id)
        runs = dagster_runs(runtime)
        crm_stats = httpx.get(f"{crm_url}/__sim/stats", timeout=10).json()["families"]
        stt_stats = httpx.get(f"{stt_url}/__stats", timeout=10).json()
        llm_calls, llm_peak, violations = len(llm.seen), llm.peak, list(llm.violations)
        # The stand-in serves from a thread of this process: its monotonic arrival times, on the wall clock.
        llm_starts = [time.time() - time.monotonic() + seen.at for seen in llm.seen]

    tokens = compare(args.token_fiches, model=args.price_model, latency=args.token_latency, cap=args.llm_cap)
    report(
        args,
        start,
        stalled=stalled,
        times=times,
        runs=runs,
        crm=crm_stats,
        stt=stt_stats,
        llm=(llm_calls, llm_peak, violations),
        llm_starts=llm_starts,
        tokens=tokens,
    )


def report(
    args: argparse.Namespace,
    start: dt.datetime,
    *,
    stalled: bool,
    times: dict[str, Any],
    runs: list[RunTimeline],
    crm: dict[str, Any],
    stt: dict[str, Any],
    llm: tuple[int, int, list[str]],
    llm_starts: list[float],
    tokens: Comparison,
) -> None:
    llm_calls, llm_peak, violations = llm
    crm_latency = args.crm_latency_ms / 1000
    bounds = {
        "ingest": crm["details"]["requests"] * crm_latency / args.crm_cap + crm_latency,
        "transcription": stt["calls"] * args.stt_latency / args.stt_limit,
        "audits": llm_calls * args.llm_latency / args.llm_cap,
    }
    bound = max(bounds.values())
    origin = start
    end = times["audits"][1]
    wall = (end - origin).total_seconds()
    state = times["state"]

    def since(moment: dt.datetime | None) -> str:
        return "-" if moment is None else f"{(moment - origin).total_seconds():.1f}"

    def span(stage: str) -> str:
        first, last = times[stage]
        return f"{(first - origin).total_seconds():6.1f} s -> {(last - origin).total_seconds():6.1f} s"

    print(f"One sales day end to end from the schedule: {args.fiches} fiches, 18-step scorecard")
    if stalled:
        print(f"  STALLED: nothing moved for {args.stall:g} s with fiches not audited; wall = the last audit stored")
    print(f"  fiches {times['fiches']}, recordings transcribed {times['recordings']}, audited {state.audited}, "
          f"failed audits {state.failed}, not ready {state.not_ready}")  # fmt: skip
    for stage, (calls, latency, cap, peak) in {
        "ingest": (crm["details"]["requests"], crm_latency, args.crm_cap, crm["details"]["peak_in_flight"]),
        "transcription": (stt["calls"], args.stt_latency, args.stt_limit, stt["peak"]),
        "audits": (llm_calls, args.llm_latency, args.llm_cap, llm_peak),
    }.items():
        print(f"  {stage:<13} active {span(stage)}; {calls} calls x {latency:g} s / cap {cap}: bound "
              f"{bounds[stage]:6.1f} s; peak in flight {peak}")  # fmt: skip
    print(f"  CRM searches peak in flight {crm['search']['peak_in_flight']}; LLM stand-in violations {len(violations)}")
    by_job = Counter(r.job for r in runs)
    statuses = Counter(r.status for r in runs)
    print(f"  Dagster runs {len(runs)}: {dict(by_job)}; {dict(statuses)}")
    names = ["created", *STARTUP, "ended"]
    print(f"  run timeline (s from the start): {' / '.join(names)}")
    for run in runs:
        at = {"created": run.created, **run.moments}
        cells = " / ".join(f"{(at[n] - origin).total_seconds():6.1f}" if n in at else "     -" for n in names)
        print(f"    {run.job:<22} {cells}  {run.status}")
    print(f"  first fiche fetched {since(times['ingest'][0])} s, first recording transcribed "
          f"{since(times['first_transcribed'])} s, first fiche wholly transcribed {since(times['first_ready'])} s, "
          f"first audit started {since(times['audits'][0])} s, "
          f"last audit stored {since(end)} s")  # fmt: skip
    use = cap_use(llm_starts, args.llm_latency, args.llm_cap)
    if llm_starts and use.first_full is not None and use.last_full is not None:
        first_call = min(llm_starts) - origin.timestamp()
        print(f"  LLM cap {args.llm_cap}: first full {first_call + use.first_full:.1f} s, last full "
              f"{first_call + use.last_full:.1f} s, below the cap {use.gaps_s:.1f} s between; tail (last full -> "
              f"last call ended) {use.tail_s:.1f} s")  # fmt: skip
        print(f"  LLM slots unused between first and last full: {use.idle_slot_s:.1f} slot-s, "
              f"{1000 * use.idle_slot_s / max(1, llm_calls):.1f} ms a call, {use.idle_slot_s / args.llm_cap:.1f} s of "
              "wall")  # fmt: skip
    price = DEFAULT_PRICES[args.price_model]
    audits, fresh_and_cached, cached, output, audited_seconds = times["usage"]
    day = Tally(int(fresh_and_cached), int(cached), int(output), int(audits))
    minutes = float(audited_seconds) / 60
    per_audit = day.billed_input(price) / max(1, day.calls)
    print(f"  the day's audits as stored ({day.calls}; {args.price_model} prices): input "
          f"{fresh_and_cached / max(1, audits):,.0f} tokens per audit, {cached / max(1, fresh_and_cached):.1%} "
          f"cached, billed-equivalent {per_audit:,.0f}, "
          f"output {output / max(1, audits):,.0f}; USD {day.cost(price) / max(1, audits):.4f} per audit, "
          f"{day.cost(price) / minutes if minutes else 0:.5f} per audited minute")  # fmt: skip
    ours, original = tokens.tallies["ours"], tokens.tallies["original"]
    n = tokens.fiches
    print(f"  against the original (tokens.py, {n} evaluation fiches): billed-equivalent input per audit "
          f"{original.billed_input(price) / n:,.0f} / {ours.billed_input(price) / n:,.0f} = {tokens.token_ratio:.2f}x, "
          f"cost {tokens.cost_ratio:.2f}x (goal >= 3x)")  # fmt: skip
    print(f"  wall {wall:.1f} s against the slowest stage's bound {bound:.1f} s -> ratio {wall / bound:.3f} "
          "(target <= 1.2, then <= 1.1)")  # fmt: skip
    print(
        f"fiches={args.fiches} wall_s={wall:.1f} bound_s={bound:.1f} ingest_bound_s={bounds['ingest']:.1f} "
        f"stt_bound_s={bounds['transcription']:.1f} llm_bound_s={bounds['audits']:.1f} ratio={wall / bound:.3f} "
        f"peak_crm_details={crm['details']['peak_in_flight']} peak_stt={stt['peak']} peak_llm={llm_peak} "
        f"dagster_runs={len(runs)} audited={state.audited} failed={state.failed} not_ready={state.not_ready} "
        f"stalled={int(stalled)} llm_tail_s={use.tail_s:.1f} llm_idle_slot_s={use.idle_slot_s:.1f} "
        f"billed_input_per_audit={per_audit:.0f} "
        f"output_per_audit={output / max(1, audits):.0f} "
        f"usd_per_audit={day.cost(price) / max(1, audits):.4f} "
        f"usd_per_audited_min={day.cost(price) / minutes if minutes else 0:.5f} token_ratio={tokens.token_ratio:.2f}"
    )


if __name__ == "__main__":
    main()
