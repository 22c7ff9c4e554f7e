"""`callaudit doctor`: what is configured, what answers, and what is missing, in one table."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from callaudit.embedded import EmbeddedServices
from callaudit.settings import Settings


class Level(enum.StrEnum):
    OK = "ok"
    INFO = "info"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Finding:
    name: str
    level: Level
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "level": self.level.value}


# Settings accepted (the original system had them, `.env.example` lists them) that no code reads yet,
# with what would read them: set, they are reported so nobody believes they take effect.
UNUSED_SETTINGS: dict[str, str] = {
    "audit_step_timeline_excerpt": "prompt mode sends the whole timeline (docs/decisions.md #15)",
    "audit_step_timeline_max_chunks": "prompt mode sends the whole timeline (docs/decisions.md #15)",
}


def _server(
    name: str, variable: str, configured: SecretStr | None, embedded_url: str | None
) -> tuple[str, str] | Finding:
    """(url, where it comes from), or the finding that an unconfigured embedded server is stopped."""
    if configured is not None:
        return configured.get_secret_value(), variable
    if embedded_url is None:
        return Finding(name, Level.INFO, "embedded, stopped (`callaudit services up` or `run` starts it)")
    return embedded_url, "embedded"


def _postgres(settings: Settings, embedded: EmbeddedServices) -> Finding:
    from sqlalchemy import text

    from resources.database import create_sync_engine

    server = _server("postgres", "DATABASE_URL", settings.database_url, embedded.postgres.url())
    if isinstance(server, Finding):
        return server
    url, source = server
    engine = create_sync_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SHOW server_version")).scalar()
            revision = _revision(conn)
    except Exception as exc:
        return Finding("postgres", Level.FAIL, f"{source}: unreachable ({type(exc).__name__})")
    finally:
        engine.dispose()
    from callaudit.migrate import head_revision

    head = head_revision()
    if revision != head:
        return Finding(
            "postgres",
            Level.WARN,
            f"{source}: PostgreSQL {version}, schema {revision} != head {head}; run `callaudit migrate`",
        )
    return Finding("postgres", Level.OK, f"{source}: PostgreSQL {version}, schema at head ({head})")


def _revision(conn) -> str | None:  # type: ignore[no-untyped-def]
    from alembic.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def _redis(settings: Settings, embedded: EmbeddedServices) -> Finding:
    import redis

    server = _server("redis", "REDIS_URL", settings.redis_url, embedded.redis.url())
    if isinstance(server, Finding):
        return server
    url, source = server
    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        info = client.info("server")
    except Exception as exc:
        return Finding("redis", Level.FAIL, f"{source}: unreachable ({type(exc).__name__})")
    finally:
        client.close()
    return Finding("redis", Level.OK, f"{source}: Redis {info.get('redis_version')}")


def _http_probe(name: str, url: str, missing_level: Level, hint: str) -> Finding:
    try:
        response = httpx.get(url, timeout=3.0, trust_env=False)
    except httpx.HTTPError as exc:
        where = url.split("?", maxsplit=1)[0]
        return Finding(name, missing_level, f"{where} unreachable ({type(exc).__name__}); {hint}")
    return Finding(name, Level.OK, f"answers HTTP {response.status_code}")


def _dagster(settings: Settings, _: EmbeddedServices) -> Finding:
    return _http_probe(
        "dagster-webserver",
        f"{settings.dagster_webserver_url.rstrip('/')}/server_info",
        Level.WARN,
        "the API cannot launch runs until it is up (`callaudit run` starts it)",
    )


def _crm(settings: Settings, _: EmbeddedServices) -> Finding:
    if settings.fiche_api_base_url is None:
        return Finding(
            "crm", Level.INFO, f"FICHE_API_BASE_URL unset: the demo CRM simulator (port {settings.demo_crm_port})"
        )
    base = settings.fiche_api_base_url.rstrip("/").removesuffix("/api")
    return _http_probe("crm", f"{base}/health", Level.WARN, "check FICHE_API_BASE_URL and the network")


def _providers(settings: Settings, _: EmbeddedServices) -> list[Finding]:
    llm = (
        Finding(
            "llm",
            Level.OK,
            f"OpenAI-compatible ({settings.openai_base_url or 'api.openai.com'}), model {settings.openai_model_audit}",
        )
        if settings.openai_api_key
        else Finding("llm", Level.INFO, "OPENAI_API_KEY unset: audits use the heuristic auditor")
    )
    if settings.stt_provider == "elevenlabs" and settings.elevenlabs_api_key is None:
        stt = Finding("stt", Level.FAIL, "STT_PROVIDER=elevenlabs but ELEVENLABS_API_KEY is unset")
    elif settings.stt_provider == "openai" and settings.openai_api_key is None:
        stt = Finding("stt", Level.FAIL, "STT_PROVIDER=openai but OPENAI_API_KEY is unset")
    else:
        chosen = settings.stt_provider or ("elevenlabs" if settings.elevenlabs_api_key else "reference")
        stt = Finding("stt", Level.OK if chosen != "reference" else Level.INFO, f"provider {chosen}")
    secret = (
        Finding("auth", Level.OK, "JWT_ACCESS_SECRET set")
        if settings.jwt_access_secret
        else Finding("auth", Level.WARN, "JWT_ACCESS_SECRET unset: a development key under CALLAUDIT_HOME is used")
    )
    return [llm, stt, secret]


def _schedules(settings: Settings, _: EmbeddedServices) -> list[Finding]:
    """Cron expressions and the time zone, parsed by Dagster itself: what its scheduler would refuse."""
    import dagster as dg

    findings = []
    checks = [("SALES_REFRESH_CRON", settings.sales_refresh_cron, "UTC")]
    checks.append(("SALES_TIMEZONE", "0 0 * * *", settings.sales_timezone))
    for variable, cron, timezone in checks:
        try:
            dg.ScheduleDefinition(name="doctor", cron_schedule=cron, job_name="doctor", execution_timezone=timezone)
        except dg.DagsterInvalidDefinitionError as exc:
            what = f"time zone {timezone!r}" if variable == "SALES_TIMEZONE" else f"cron {cron!r}"
            findings.append(Finding(variable, Level.FAIL, f"{what} refused by Dagster's scheduler: {exc}"))
        else:
            value = timezone if variable == "SALES_TIMEZONE" else cron
            findings.append(Finding(variable, Level.OK, f"{value!r} accepted by Dagster's scheduler"))
    return findings


def _unused(settings: Settings, _: EmbeddedServices) -> list[Finding]:
    return [
        Finding(name.upper(), Level.WARN, f"set but not used: {why}")
        for name, why in UNUSED_SETTINGS.items()
        if name in settings.model_fields_set
    ]


CHECKS: list[Callable[[Settings, EmbeddedServices], Finding | list[Finding]]] = [
    _postgres,
    _redis,
    _dagster,
    _crm,
    _providers,
    _schedules,
    _unused,
]


def diagnose(settings: Settings) -> list[Finding]:
    embedded = EmbeddedServices(settings.callaudit_home.resolve())
    findings: list[Finding] = [Finding("configuration", Level.OK, "all variables valid")]
    for check in CHECKS:
        result = check(settings, embedded)
        findings.extend(result if isinstance(result, list) else [result])
    return findings
