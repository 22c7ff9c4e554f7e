"""`callaudit demo`: a headless end-to-end pass over the embedded stack, summarised per stage.

Each stage runs for real against the resolved services and records what it saw; the summary is
what a new user reads to know the installation works: the services, the schema, Dagster, the API,
then yesterday's sales ingested, transcribed and audited through the real assets.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import Console
from rich.table import Table

from callaudit.runtime import Runtime
from callaudit.settings import Settings


@dataclass
class StageResult:
    name: str
    ok: bool
    detail: str
    seconds: float
    figures: dict[str, Any] = field(default_factory=dict)


#: Audits listed in plain output: a log stays one screen long whatever DEMO_CRM_FICHES_PER_DAY is.
PLAIN_AUDIT_ROWS = 15


@dataclass
class DemoSummary:
    stages: list[StageResult]
    links: dict[str, str] = field(default_factory=dict)
    expected: int = 0  # stages planned (0: the default `STAGES`)

    @property
    def ok(self) -> bool:
        return len(self.stages) == (self.expected or len(STAGES)) and all(stage.ok for stage in self.stages)

    @property
    def failed(self) -> StageResult | None:
        return next((stage for stage in self.stages if not stage.ok), None)

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": self.ok,
            "stages": [
                {"name": s.name, "ok": s.ok, "detail": s.detail, "seconds": round(s.seconds, 3), **s.figures}
                for s in self.stages
            ],
            "links": self.links,
        }
        if self.failed is not None:
            body["error"] = {"stage": self.failed.name, "message": self.failed.detail, "exit_code": 1}
        return body

    def render(self, console: Console) -> None:
        """For a terminal: the stages were shown live; the audits as a table, then where to look."""
        for stage in self.stages:
            if stage.figures.get("audits"):
                console.print(_audits_table(stage.figures["audits"]))
        self._ending(lambda line: console.print(line, soft_wrap=True, highlight=False))

    def render_plain(self, write: Callable[[str], None]) -> None:
        """For logs and pipes: short plain lines, no colour, no table borders, no wrapping."""
        for stage in self.stages:
            rows = stage.figures.get("audits", [])
            if rows:
                write(f"audits of {stage.figures['day']} (latest per fiche): score %, level, critical steps passed")
            for row in rows[:PLAIN_AUDIT_ROWS]:
                score = "-" if row["score"] is None else f"{row['score']:.2f}"
                write(f"  fiche {row['fiche_id']}  {score:>6}  {row['niveau']:<11} critical {row['critical']}")
            if len(rows) > PLAIN_AUDIT_ROWS:
                write(f"  ... and {len(rows) - PLAIN_AUDIT_ROWS} more (`callaudit demo --json` lists them all)")
        self._ending(write)

    def _ending(self, write: Callable[[str], None]) -> None:
        failed = self.failed
        if failed is None:
            write(f"demo passed: {len(self.stages)} stages")
        else:
            write(f"demo FAILED at stage {failed.name}: {failed.detail} (exit code 1)")
        for label, url in self.links.items():
            write(f"  {label:<10} {url}")


class Progress(Protocol):
    """Live reporting of the stages as they run (a terminal's progress bar, or plain lines)."""

    def started(self, name: str, index: int, total: int) -> None: ...
    def finished(self, result: StageResult, index: int, total: int) -> None: ...


class PlainProgress:
    """One line per finished stage, for logs and pipes."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self.write = write

    def started(self, name: str, index: int, total: int) -> None:
        return None

    def finished(self, result: StageResult, index: int, total: int) -> None:
        state = "ok" if result.ok else "FAILED"
        self.write(f"[{index}/{total}] {result.name:<10} {state:<6} {result.seconds:5.1f}s  {result.detail}")


class LiveProgress:
    """A rich progress bar over the stages, the running one spinning, each finished one printed above it."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        self.bar = Bar(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = self.bar.add_task("demo", total=len(STAGES))

    def __enter__(self) -> LiveProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.bar.stop()

    def started(self, name: str, index: int, total: int) -> None:
        self.bar.update(self.task, description=f"{name} ({index}/{total})")

    def finished(self, result: StageResult, index: int, total: int) -> None:
        mark = "[green]✓[/]" if result.ok else "[red]✗[/]"
        self.bar.console.print(f"{mark} [bold]{result.name:<10}[/] {result.detail} [dim]{result.seconds:.1f}s[/]")
        self.bar.advance(self.task)


def _audits_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="audits of the demo day (latest per fiche)", title_justify="left")
    for column in ("fiche", "score %", "level", "critical steps passed"):
        table.add_column(column)
    for row in rows:
        score = "-" if row["score"] is None else f"{row['score']:.2f}"
        table.add_row(row["fiche_id"], score, row["niveau"], row["critical"])
    return table


Stage = Callable[[Runtime], tuple[str, dict[str, Any]]]

#: Run config of the demo's materializations: Dagster's per-event DEBUG lines would bury the summary.
QUIET_RUN: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _simulator(stack: contextlib.ExitStack, settings: Settings) -> str:
    """The demo CRM simulator on `DEMO_CRM_PORT`, the port `callaudit run` and `callaudit demo-crm` use,
    so the recording links stored by the demo work again whenever one of them runs. A simulator already
    serving there (`callaudit run`) is used as it is."""
    import httpx

    from callaudit.demo_crm.config import SimulatorConfig
    from callaudit.demo_crm.server import run_in_thread

    try:
        return stack.enter_context(run_in_thread(SimulatorConfig.from_env(), port=settings.demo_crm_port))
    except OSError:
        url = f"http://127.0.0.1:{settings.demo_crm_port}"
        try:
            answered = httpx.get(f"{url}/health", timeout=3.0, trust_env=False).status_code == 200
        except httpx.HTTPError:
            answered = False
        if not answered:
            raise RuntimeError(
                f"DEMO_CRM_PORT {settings.demo_crm_port} is taken by another program: set DEMO_CRM_PORT"
            ) from None
        return url


def _services(runtime: Runtime) -> tuple[str, dict[str, Any]]:
    import redis
    from sqlalchemy import text

    from resources.database import create_sync_engine

    engine = create_sync_engine(runtime.database_url)
    try:
        with engine.connect() as conn:
            pg_version = conn.execute(text("SHOW server_version")).scalar()
    finally:
        engine.dispose()
    client = redis.Redis.from_url(runtime.redis_url)
    try:
        redis_version = client.info("server")["redis_version"]
    finally:
        client.close()
    source = "embedded" if runtime.settings.database_url is None else "configured"
    return f"PostgreSQL {pg_version} + Redis {redis_version} ({source})", {
        "postgres_version": pg_version,
        "redis_version": redis_version,
    }


def _schema(runtime: Runtime) -> tuple[str, dict[str, Any]]:
    from alembic.migration import MigrationContext

    from callaudit.migrate import head_revision
    from resources.database import create_sync_engine

    head = head_revision()
    engine = create_sync_engine(runtime.database_url)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
    if current != head:
        raise RuntimeError(f"schema at {current}, head is {head}")
    return f"migrations at head ({head})", {"revision": head}


def _dagster(runtime: Runtime) -> tuple[str, dict[str, Any]]:
    from dagster import DagsterInstance

    from callaudit.migrate import dagster_environment
    from callaudit.pools import pool_limits
    from orchestration.definitions import defs

    repository = defs().get_repository_def()
    figures: dict[str, Any] = {
        "assets": len(repository.asset_graph.get_all_asset_keys()),
        "jobs": len([j for j in repository.get_all_jobs() if not j.name.startswith("__")]),
        "schedules": len(repository.schedule_defs),
        "sensors": len(repository.sensor_defs),
    }
    with dagster_environment(runtime), DagsterInstance.get() as instance:
        limits = {
            pool: instance.event_log_storage.get_concurrency_info(pool).slot_count
            for pool in pool_limits(runtime.settings)
        }
    figures["pools"] = limits
    wanted = pool_limits(runtime.settings)
    if limits != wanted:
        raise RuntimeError(f"Dagster pools {limits} differ from configuration {wanted}")
    detail = ", ".join(f"{v} {k}" for k, v in figures.items() if k != "pools")
    return f"definitions load ({detail}); pools {limits}", figures


def _api(runtime: Runtime) -> tuple[str, dict[str, Any]]:
    import asyncio

    import httpx

    from api.app import create_app

    async def probe() -> tuple[int, int]:
        app = create_app(runtime.settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
                health = await client.get("/health")
                spec = await client.get("/api-docs.json")
        return health.status_code, len(spec.json()["paths"])

    status, paths = asyncio.run(probe())
    if status != 200:
        raise RuntimeError(f"/health answered {status}")
    return f"/health 200, OpenAPI lists {paths} paths", {"openapi_paths": paths}


def _ingest(runtime: Runtime) -> tuple[str, dict[str, Any]]:
    """Yesterday's sales through the real assets, on the Postgres-backed Dagster instance."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    import dagster as dg

    from assets.fiches import fiche_details, sales_fiches
    from callaudit.migrate import dagster_environment
    from resources.crm.resource import CrmResource
    from resources.database import DatabaseResource
    from resources.redis.resource import RedisResource

    settings = runtime.settings
    day = dt.datetime.now(ZoneInfo(settings.sales_timezone)).date() - dt.timedelta(days=1)
    with contextlib.ExitStack() as stack:
        base_url = runtime.crm_base_url
        if settings.fiche_api_base_url is None:  # no gateway configured: the labelled simulator
            base_url = _simulator(stack, settings)
        token = settings.fiche_api_auth_token.get_secret_value() if settings.fiche_api_auth_token else None
        resources = {
            "crm": CrmResource(
                base_url=base_url,
                auth_token=token,
                search_concurrency=settings.fiche_sales_search_concurrency,
                fetch_concurrency=settings.fiche_fetch_concurrency,
            ),
            "redis": RedisResource(url=runtime.redis_url),
            "database": DatabaseResource(url=runtime.database_url),
            "settings": settings,
        }
        stack.enter_context(dagster_environment(runtime))
        instance = stack.enter_context(dg.DagsterInstance.get())
        result = dg.materialize(
            [sales_fiches, fiche_details],
            partition_key=day.isoformat(),
            resources=resources,
            instance=instance,
            run_config=QUIET_RUN,
        )
    [event] = result.asset_materializations_for_node("fiche_details")
    figures: dict[str, Any] = {
        key: event.metadata[key].value
        for key in ("fiches", "fetched", "cached", "not_found", "failed", "recordings", "crm_request_seconds")
    }
    figures.update(day=day.isoformat(), run_id=result.run_id)
    detail = (
        f"{figures['fiches']} fiches of {day}: {figures['fetched']} fetched, {figures['cached']} cached, "
        f"{figures['not_found']} not found, {figures['failed']} failed; {figures['recordings']} recordings"
    )
    return detail, figures


def _transcribe(runtime: Runtime) -> tuple[str, dict[str, Any]]:
    """The ingested day's recordings through the real `transcripts` asset.

    Without a configured gateway, the simulator (same seed, so the same day) is started again and
    its reference transcripts stand in for speech-to-text: recorded as provider `reference`.
    """
    import datetime as dt
    from zoneinfo import ZoneInfo

    import dagster as dg

    from assets.transcripts import transcripts
    from callaudit.migrate import dagster_environment
    from resources.database import DatabaseResource
    from resources.redis.resource import RedisResource
    from resources.stt.resource import SttResource

    settings = runtime.settings
    day = dt.datetime.now(ZoneInfo(settings.sales_timezone)).date() - dt.timedelta(days=1)
    with contextlib.ExitStack() as stack:
        stt = SttResource.from_settings(settings)
        if settings.fiche_api_base_url is None:
            simulator = _simulator(stack, settings)
            stt = SttResource.from_settings(settings, provider="reference", reference_base_url=simulator)
        resources = {
            "stt": stt,
            "redis": RedisResource(url=runtime.redis_url),
            "database": DatabaseResource(url=runtime.database_url),
            "settings": settings,
        }
        stack.enter_context(dagster_environment(runtime))
        instance = stack.enter_context(dg.DagsterInstance.get())
        result = dg.materialize(
            [transcripts], partition_key=day.isoformat(), resources=resources, instance=instance, run_config=QUIET_RUN
        )
    [event] = result.asset_materializations_for_node("transcripts")
    keys = ("recordings_transcribed", "recordings_skipped", "recordings_failed", "audio_minutes", "provider")
    figures: dict[str, Any] = {key: event.metadata[key].value for key in keys}
    figures.update(day=day.isoformat(), run_id=result.run_id)
    detail = (
        f"{figures['recordings_transcribed']} recordings transcribed ({figures['audio_minutes']} audio min, "
        f"provider {figures['provider']}), {figures['recordings_skipped']} already done, "
        f"{figures['recordings_failed']} failed"
    )
    return detail, figures


def _audit(runtime: Runtime, document: Mapping[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """The transcribed day audited with the demo scorecard (or `document`, a scorecard in the original
    system's format) through the real `audits` asset.

    The auditor is the configured one: the heuristic auditor unless an OpenAI-compatible endpoint
    is set. The scorecard is seeded (idempotently, by name) first.
    """
    import datetime as dt
    from zoneinfo import ZoneInfo

    import dagster as dg
    from sqlalchemy import select

    from assets.audits import audits
    from callaudit.migrate import dagster_environment
    from domain.models import Audit, Fiche, Scorecard
    from domain.partitions import day_audits
    from domain.scorecards.io import read_document
    from domain.scorecards.service import demo_document, seed_demo_scorecard
    from resources.database import DatabaseResource
    from resources.llm.resource import LlmResource
    from resources.redis.resource import RedisResource

    settings = runtime.settings
    day = dt.datetime.now(ZoneInfo(settings.sales_timezone)).date() - dt.timedelta(days=1)
    database = DatabaseResource(url=runtime.database_url)
    with database.session() as session:
        seed_demo_scorecard(session, document)
        name = read_document(document or demo_document()).name
        scorecard_id = session.scalars(select(Scorecard.id).where(Scorecard.name == name).order_by(Scorecard.id)).one()
    llm = LlmResource.from_settings(settings)
    resources = {
        "llm": llm,
        "redis": RedisResource(url=runtime.redis_url),
        "database": database,
        "settings": settings,
    }
    with contextlib.ExitStack() as stack:
        stack.enter_context(dagster_environment(runtime))
        instance = stack.enter_context(dg.DagsterInstance.get())
        instance.add_dynamic_partitions("scorecards", [str(scorecard_id)])
        key = dg.MultiPartitionKey({"sales_day": day.isoformat(), "scorecard": str(scorecard_id)})
        result = dg.materialize(
            [audits], partition_key=key, resources=resources, instance=instance, run_config=QUIET_RUN
        )
    # No materialization when the run had nothing to audit (the day was audited before).
    events = result.asset_materializations_for_node("audits")
    run = {k: v.value for k, v in events[0].metadata.items()} if events else {}
    with database.session() as session:
        day_state = day_audits(session, day, scorecard_id)
    figures: dict[str, Any] = {
        "audited": run.get("audited", 0),
        "failed": run.get("failed", 0),
        "cost_usd": run.get("cost_usd", 0.0),
        "auditor": run.get("auditor", llm.kind),
        "day_audited": day_state.audited,
        "not_ready": day_state.not_ready,
        "average_score": day_state.average_score,  # the day's, as the table below shows
        "levels": day_state.levels,
    }
    with database.session() as session:
        rows = session.execute(
            select(
                Audit.fiche_id,
                Audit.score_percentage,
                Audit.niveau,
                Audit.critical_passed,
                Audit.critical_total,
                Audit.id,
            )
            .join(Fiche, Fiche.fiche_id == Audit.fiche_id)
            .where(
                Fiche.sales_date == day,
                Audit.scorecard_id == scorecard_id,
                Audit.is_latest,
                Audit.deleted_at.is_(None),
            )
            .order_by(Audit.fiche_id)
        ).all()
    figures["audits"] = [
        {
            "fiche_id": fiche_id,
            "score": float(score) if score is not None else None,
            "niveau": niveau,
            "critical": f"{passed}/{total}",
            "audit_id": str(audit_id),
        }
        for fiche_id, score, niveau, passed, total, audit_id in rows
    ]
    figures.update(day=day.isoformat(), run_id=result.run_id, scorecard_id=scorecard_id)
    average = "-" if day_state.average_score is None else f"{day_state.average_score:.2f}"
    detail = (
        f"{figures['audited']} fiches audited now by {figures['auditor']} ({day_state.audited} audited in all), "
        f"{figures['not_ready']} not ready, {figures['failed']} failed; the day's average score {average}"
    )
    return detail, figures


STAGES: list[tuple[str, Stage]] = [
    ("services", _services),
    ("schema", _schema),
    ("dagster", _dagster),
    ("api", _api),
    ("ingest", _ingest),
    ("transcribe", _transcribe),
    ("audit", _audit),
]


def links(runtime: Runtime, stages: list[StageResult]) -> dict[str, str]:
    """Where to look next; they answer while `callaudit run` (`make run`) serves the stack."""
    settings = runtime.settings
    api = f"http://127.0.0.1:{settings.port}"
    found = {
        "dagster": f"http://127.0.0.1:{settings.dagster_webserver_port}",
        "api docs": f"{api}/api-docs",
    }
    audits = [row for stage in stages for row in stage.figures.get("audits", [])]
    if audits:
        found["audit"] = f"{api}/api/audits/{audits[0]['audit_id']}"
        found["report"] = api + _report_path(runtime, int(audits[0]["audit_id"]))
        recording = _first_recording_url(runtime, audits[0]["fiche_id"])
        if recording:
            found["recording"] = recording
    found["serve them"] = "make run  (or: .venv/bin/callaudit run)"
    return found


def _report_path(runtime: Runtime, audit_id: int) -> str:
    """A share link to the audit's report page (7 days): it opens in any browser, no login needed."""
    from api.reports.service import new_share_link, shared_report_path
    from resources.database import DatabaseResource

    link, token = new_share_link(audit_id, None, dt.timedelta(days=7))
    with DatabaseResource(url=runtime.database_url).session() as session:
        session.add(link)
    return shared_report_path(token)


def _first_recording_url(runtime: Runtime, fiche_id: str) -> str | None:
    from sqlalchemy import select

    from domain.models import Recording
    from resources.database import DatabaseResource

    with DatabaseResource(url=runtime.database_url).session() as session:
        return session.scalars(
            select(Recording.recording_url)
            .where(Recording.fiche_id == fiche_id, Recording.recording_url != "")
            .order_by(Recording.id)
            .limit(1)
        ).first()


def demo_stages(scorecards: Sequence[Mapping[str, Any]] = ()) -> list[tuple[str, Stage]]:
    """`STAGES`, then one more audit of the day per given scorecard (`callaudit demo --scorecard`)."""
    extra: list[tuple[str, Stage]] = [
        (f"audit: {document['name']}", functools.partial(_audit, document=document)) for document in scorecards
    ]
    return [*STAGES, *extra]


def run_demo(
    runtime: Runtime, progress: Progress | None = None, scorecards: Sequence[Mapping[str, Any]] = ()
) -> DemoSummary:
    """Every stage in order, stopping at the first that fails (the later ones depend on it)."""
    results: list[StageResult] = []
    stages = demo_stages(scorecards)
    total = len(stages)
    for index, (name, stage) in enumerate(stages, start=1):
        if progress is not None:
            progress.started(name, index, total)
        started = time.perf_counter()
        try:
            detail, figures = stage(runtime)
            result = StageResult(name, True, detail, time.perf_counter() - started, figures)
        except Exception as exc:
            message = " ".join(str(exc).split())[:300]
            result = StageResult(name, False, f"{type(exc).__name__}: {message}", time.perf_counter() - started)
        results.append(result)
        if progress is not None:
            progress.finished(result, index, total)
        if not result.ok:
            break
    summary = DemoSummary(results, expected=total)
    with contextlib.suppress(Exception):  # links are a courtesy: never what makes the demo fail
        summary.links = links(runtime, results)
    return summary
