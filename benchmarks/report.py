"""Benchmark: a 20-step audit report page served whole (100 ms bound), its render alone, and its PDF.

Sets up embedded Postgres and Redis in a temporary directory, migrates, and seeds it with the API
tests' world (`tests.fixtures.world`: roles, a GROUP viewer, a fiche of the demo CRM with its details)
and one audit of that fiche (`tests.fixtures.factories.aio.add_audit`): the transcript of its call is the
demo CRM's reference transcript, chunked and stored as the transcription stage does, and the audit
is the demo scorecard's 10 steps twice (20 steps, every control point with two citations).

* Route: `GET /reports/audits/{id}` as the viewer (bearer access token, `audits.read` and
  `recordings.read` on its group, so players too) through the real app in this process (httpx's
  ASGI transport, lifespan entered: its engine and pool, middleware, authentication, the route's
  queries, the view, the template), `--warmup` requests then `--requests` timed one after the other.
  This is the issue's bound. The SQL statements of one request are counted (`queries`), this
  process's CPU time is taken beside the wall time (`route_cpu_ms`: the part that is not waiting
  for Postgres or for a core), and after each request a bare `SELECT 1` through the app's pool
  times one round trip at that moment (`db_round_trip_ms`): on a shared, loaded machine the wall
  time is mostly `queries` (plus the pool's pre-ping) times that.
* Render: the view model (`domain.reports.view.build_report`) and Jinja2 template
  (`api.reports.render`) alone, on the source the route loads (`api.reports.service.load_source`).
* PDF: `?format=pdf` timed as render plus xhtml2pdf (`api.reports.pdf.render_pdf`, what the route
  runs in its worker thread). Its bound is 5 s: one PDF renders at a time per process, so a render
  is also the wait of the next request in line, and a download that takes longer than a few seconds
  is one a person gives up on (the route's hard cap, 30 s, only stops a runaway render).

The last line is `key=value`; `ratio` = median route time / 100 ms, `render_ratio` = median render
time / 100 ms, `pdf_ratio` = median PDF render time / 5 s (<= 1 meets each).

    .venv/bin/python benchmarks/report.py [--steps 20] [--requests 100] [--runs 200] [--pdf-runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from _embedded import migrated_servers
from sqlalchemy import Engine, event, text
from sqlalchemy.ext.asyncio import AsyncSession

from api.app import create_app
from api.reports import service
from api.reports.pdf import render_pdf
from api.reports.render import render
from callaudit.demo_crm.calls import build_transcript
from callaudit.demo_crm.fiches import build_fiche
from callaudit.settings import Settings, load_settings
from domain.models import AuditCitation, AuditControlPoint, AuditStep
from domain.reports.view import AuditSource, build_report, clock
from domain.transcripts.chunking import Chunk, Word, build_chunks
from resources.database import create_api_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the API tests' world and audit factory seed the database

from tests.fixtures.factories.aio import add_audit, add_scorecard  # noqa: E402
from tests.fixtures.world import World, build_world  # noqa: E402

BOUND_MS = 100.0
PDF_BOUND_MS = 5000.0
SCORECARD = ROOT / "domain" / "audits" / "demo_scorecard.json"
READER = "viewer"


def _reference_words() -> list[Word]:
    """The demo CRM's reference transcript of the world's fiche (`World.store_details`: the same
    simulator fiche), word by word."""
    core = build_fiche(7, date(2025, 3, 3), 1, 4)
    transcript = build_transcript(core, core.recordings[0])
    return [Word(w.text, w.start, w.end, w.speaker) for w in transcript.words]


def _steps(steps: int, chunks: Sequence[Chunk]) -> list[AuditStep]:
    """The demo scorecard's steps repeated up to `steps`, every point present with two citations."""
    template = json.loads(SCORECARD.read_text(encoding="utf-8"))["auditSteps"]
    rows = []
    for position in range(1, steps + 1):
        step = template[(position - 1) % len(template)]
        points = []
        for index, point in enumerate(step["controlPoints"], start=1):
            cited = [chunks[(position * 7 + index * 3 + k) % len(chunks)] for k in range(2)]
            citations = [
                AuditCitation(
                    index=k + 1, texte=c.text[:120], chunk_id=c.chunk_id, call_id=c.call_id, recording_index=0,
                    chunk_index=c.turn_index, speaker=c.speaker, role="agent" if c.speaker == "speaker_0" else "client",
                    start_seconds=c.start, end_seconds=c.end, minutage=clock(c.start), match="exact",
                )
                for k, c in enumerate(cited)
            ]  # fmt: skip
            points.append(AuditControlPoint(index=index, point=point, statut="PRESENT", commentaire="Dit clairement.",
                                            citations=citations))  # fmt: skip
        rows.append(
            AuditStep(position=position, name=step["name"], is_critical=step["isCritical"], weight=step["weight"],
                      conforme="CONFORME", score=step["weight"], severity="HIGH", traite=True,
                      niveau_conformite="EXCELLENT", commentaire_global="Étape menée.",
                      total_citations=2 * len(points), control_points=points)
        )  # fmt: skip
    return rows


async def _seed(settings: Settings, steps: int) -> tuple[int, str, int]:
    """(audit id, the viewer's access token, transcript turns) of the seeded, committed audit."""
    engine = create_api_engine(settings.database_url.get_secret_value())  # type: ignore[union-attr]
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            world: World = await build_world(session, settings)
            words = _reference_words()
            call_id = await world.add_transcript("own", words=words)
            chunks = build_chunks(call_id, words)
            rows = _steps(steps, chunks)
            critical = sum(s.is_critical for s in rows)
            audit_id = await add_audit(
                session, world.fiche_ids["own"], await add_scorecard(session), steps=rows, steps_total=steps,
                successful_steps=steps, critical_total=critical, critical_passed=critical,
            )  # fmt: skip
            await session.commit()
            return audit_id, world.access_token(READER), len(chunks)
    finally:
        await engine.dispose()


def _summary(timings: list[float]) -> tuple[float, float]:
    return statistics.median(timings), statistics.quantiles(timings, n=20)[-1]


@dataclass
class Route:
    """The report route's timed requests: wall and this process's CPU milliseconds, page bytes, SQL
    statements per request (the pool's pre-ping at checkout is one more round trip, not counted);
    and a bare `SELECT 1` through the app's pool after each request, what one of its round trips
    costs on this machine at that moment."""

    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    round_trip_ms: list[float] = field(default_factory=list)
    size: int = 0
    queries: float = 0.0


class QueryCounter:
    """SQL statements sent by any engine of this process while counting."""

    def __init__(self) -> None:
        self.count = 0
        event.listen(Engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: Any) -> None:
        self.count += 1

    def close(self) -> None:
        event.remove(Engine, "before_cursor_execute", self._seen)


async def _route(settings: Settings, audit_id: int, token: str, warmup: int, requests: int) -> Route:
    app = create_app(settings)
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/html"}
    url = f"/reports/audits/{audit_id}"
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
    ):

        async def once(result: Route) -> None:
            started, cpu = time.perf_counter(), time.process_time()
            response = await client.get(url, headers=headers)
            result.wall_ms.append((time.perf_counter() - started) * 1000)
            result.cpu_ms.append((time.process_time() - cpu) * 1000)
            if response.status_code != 200 or "<audio" not in response.text:
                raise SystemExit(f"the report did not render with its players: {response.status_code}")
            result.size = len(response.content)
            async with app.state.callaudit.sessionmaker() as session:
                await session.execute(text("SELECT 1"))  # the checkout and its pre-ping, not timed
                started = time.perf_counter()
                await session.execute(text("SELECT 1"))
                result.round_trip_ms.append((time.perf_counter() - started) * 1000)

        for _ in range(warmup):
            await once(Route())
        result = Route()
        counter = QueryCounter()
        try:
            for _ in range(requests):
                await once(result)
        finally:
            counter.close()
    result.queries = counter.count / requests - 2  # the round trip's own statements
    return result


async def _source(settings: Settings, audit_id: int) -> AuditSource:
    engine = create_api_engine(settings.database_url.get_secret_value())  # type: ignore[union-attr]
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            return await service.load_source(session, audit_id, None)
    finally:
        await engine.dispose()


def _time(work: Callable[[], int], runs: int) -> tuple[list[float], int]:
    work()  # first use: the template compiles, ReportLab's fonts load
    timings, size = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        size = work()
        timings.append((time.perf_counter() - started) * 1000)
    return timings, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=10, help="route requests before timing")
    parser.add_argument("--requests", type=int, default=100, help="route requests timed")
    parser.add_argument("--runs", type=int, default=200, help="renders timed (view model + template)")
    parser.add_argument("--pdf-runs", type=int, default=5)
    args = parser.parse_args()

    with migrated_servers("callaudit-report-bench-") as servers:
        settings = load_settings(
            database_url=servers.database_url, redis_url=servers.redis_url, callaudit_home=servers.home,
            log_level="WARNING", jwt_access_secret=secrets.token_urlsafe(48), auth_password_hash_profile="fast-test",
        )  # fmt: skip
        audit_id, token, turns = asyncio.run(_seed(settings, args.steps))
        route = asyncio.run(_route(settings, audit_id, token, args.warmup, args.requests))
        source = asyncio.run(_source(settings, audit_id))

    tz = ZoneInfo(settings.sales_timezone)

    def audio(call_id: str) -> str:
        return f"/api/recordings/{source.fiche_id}/{call_id}/audio"

    renders, size = _time(lambda: len(render("report.html.j2", r=build_report(source, audio, tz=tz))), args.runs)
    pdfs, pdf_size = _time(
        lambda: len(render_pdf(render("report.html.j2", r=build_report(source, None, tz=tz)))), args.pdf_runs
    )
    route_median, route_p95 = _summary(route.wall_ms)
    route_cpu = statistics.median(route.cpu_ms)
    round_trip = statistics.median(route.round_trip_ms)
    median, p95 = _summary(renders)
    pdf_median = statistics.median(pdfs)
    points = sum(len(s.control_points) for s in source.audit.steps)
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"audit: {args.steps} steps, {points} control points, {points * 2} citations, {len(source.calls)} calls, "
          f"{turns} transcript turns; page {size / 1024:.0f} KiB")  # fmt: skip
    print(f"route GET /reports/audits/{{id}} (ASGI, embedded Postgres), {args.warmup} warm-up + {args.requests} "
          f"requests: median {route_median:.1f} ms, p95 {route_p95:.1f} ms (this process's CPU: median "
          f"{route_cpu:.1f} ms); {route.queries:g} SQL statements a request; {route.size / 1024:.0f} KiB")  # fmt: skip
    print(f"  a bare SELECT 1 through the app's pool after each request: median {round_trip:.1f} ms")
    print(f"render (view model + template), {args.runs} runs: median {median:.1f} ms, p95 {p95:.1f} ms")
    print(f"PDF (view + template + xhtml2pdf), {args.pdf_runs} runs: median {pdf_median:.0f} ms, "
          f"max {max(pdfs):.0f} ms; {pdf_size / 1024:.0f} KiB")  # fmt: skip
    print(f"steps={args.steps} route_median_ms={route_median:.2f} route_p95_ms={route_p95:.2f} "
          f"route_cpu_ms={route_cpu:.2f} queries={route.queries:g} db_round_trip_ms={round_trip:.2f} "
          f"bound_ms={BOUND_MS:.0f} ratio={route_median / BOUND_MS:.3f} render_median_ms={median:.2f} "
          f"render_p95_ms={p95:.2f} render_ratio={median / BOUND_MS:.3f} pdf_median_ms={pdf_median:.0f} "
          f"pdf_bound_ms={PDF_BOUND_MS:.0f} pdf_ratio={pdf_median / PDF_BOUND_MS:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
