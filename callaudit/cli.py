"""The `callaudit` command line: services, migrations, seeding, the API, the whole stack, the demo."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console
from rich.table import Table

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

console = Console()
err = Console(stderr=True)

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
def services_status() -> None:
    """Show whether each embedded server runs, its pid and its URL."""
    from callaudit.embedded import EmbeddedServices

    home = _settings().callaudit_home.resolve()
    rows = []
    for service in EmbeddedServices(home).all():
        status = service.status()
        rows.append(
            [status.name, "running" if status.running else "stopped", str(status.pid or "-"), status.url or "-"]
        )
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
    headers are bounded. h11 rather than httptools: uvicorn bounds headers only with h11."""
    trusted = settings.forwarded_allow_ips.strip()
    return {
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
        "http": "h11",
        "h11_max_incomplete_event_size": settings.api_max_header_bytes,
    }


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
    return [
        ChildSpec(
            "code-server",
            [str(bin_dir / "dagster"), "code-server", "start", "-m", "orchestration.definitions",
             "-h", settings.dagster_code_server_host, "-p", str(settings.dagster_code_server_port),
             "--location-name", "callaudit"],
            env, PROJECT_ROOT,
        ),
        ChildSpec(
            "webserver",
            [str(bin_dir / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(settings.dagster_webserver_port),
             "-w", workspace],
            env, PROJECT_ROOT,
        ),
        ChildSpec("daemon", [str(bin_dir / "dagster-daemon"), "run", "-w", workspace], env, PROJECT_ROOT),
        ChildSpec("api", [sys.executable, "-m", "callaudit", "api", "--port", str(settings.port)], env, PROJECT_ROOT),
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


def _prepare_stack(settings: Settings) -> Runtime:
    """Services, schema and seed; embedded servers started here are stopped again on failure."""
    from callaudit.migrate import migrate as run_migrations

    runtime = _runtime(settings)
    try:
        run_migrations(runtime)
        for line in _seed(runtime):
            err.print(line)  # stderr: stdout may be a `--json` summary
    except BaseException:
        runtime.stop_started()
        raise
    return runtime


def _seed(runtime: Runtime) -> list[str]:
    """Seed roles and the admin; returns lines worth printing (e.g. generated credentials)."""
    from callaudit.seed import seed_database

    return seed_database(runtime)


@app.command()
def run() -> None:
    """Start everything: embedded services, migrations, Dagster (code server, UI, daemon) and the API."""
    settings = _settings()
    runtime = _prepare_stack(settings)
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
                f"API http://127.0.0.1:{settings.port}/api-docs  (Ctrl-C stops everything)"
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


@app.command()
def seed() -> None:
    """Create or update permissions and built-in roles, and the admin from AUTH_SEED_ADMIN_*."""
    runtime = _runtime(_settings())
    for line in _seed(runtime):
        console.print(line)


@app.command()
def doctor() -> None:
    """Check the configuration and every dependency; exit 1 when something required fails."""
    from callaudit.doctor import Level, diagnose

    findings = diagnose(_settings())
    colours = {Level.OK: "green", Level.INFO: "blue", Level.WARN: "yellow", Level.FAIL: "red"}
    rows = [[f.name, f"[{colours[f.level]}]{f.level}[/]", f.detail] for f in findings]
    console.print(_table("callaudit doctor", ["check", "status", "detail"], rows))
    if any(f.level is Level.FAIL for f in findings):
        raise typer.Exit(1)


@app.command()
def demo(
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Headless end-to-end run on the embedded default; prints a summary and exits."""
    from callaudit.demo import run_demo

    settings = _settings()
    runtime = _prepare_stack(settings)
    try:
        summary = run_demo(runtime)
    finally:
        runtime.stop_started()
    if as_json:
        typer.echo(json.dumps(summary.as_dict(), indent=2, default=str))
    else:
        summary.render(console)
    if not summary.ok:
        raise typer.Exit(1)
