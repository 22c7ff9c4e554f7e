"""The product's whole configuration, read once from the environment (and `.env`).

Names and defaults follow the original system's environment (see README, "Configuration") so an
existing deployment's `.env` keeps its meaning. A bad value fails at start-up with a message that
names the variable, never with a traceback deep inside a request.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Scope = Literal["SELF", "GROUP", "ALL"]


class SettingsError(RuntimeError):
    """Configuration is invalid; the message names each offending variable."""


def _csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
        # `NAME=` in a .env file means "unset" (as in .env.example), not an empty string.
        env_ignore_empty=True,
    )

    # --- runtime / HTTP --------------------------------------------------------------------
    callaudit_env: Literal["development", "production", "test"] = "development"
    callaudit_home: Path = Path(".callaudit")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    port: int = Field(3002, ge=1, le=65535)
    hostname: str | None = None
    api_base_url: str = "http://localhost:3002"
    forwarded_allow_ips: str = ""
    # Limits for clients reaching the API directly (nginx has its own): body size, request line and
    # headers together, and how long a started body may take to arrive.
    api_max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    api_max_header_bytes: int = Field(16 * 1024, ge=1024)
    api_header_timeout_seconds: float = Field(10.0, gt=0)
    api_body_timeout_seconds: float = Field(30.0, gt=0)
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:3000", "http://localhost:5173"]
    )
    api_auth_token: SecretStr | None = None
    api_auth_tokens: SecretStr | None = None
    api_auth_token_scope: Scope = "ALL"  # noqa: S105 - a scope name, not a secret

    # --- storage ------------------------------------------------------------------------------
    database_url: SecretStr | None = None
    direct_url: SecretStr | None = None
    dagster_postgres_url: SecretStr | None = None
    redis_url: SecretStr | None = None
    dagster_webserver_url: str = ""  # default: http://127.0.0.1:DAGSTER_WEBSERVER_PORT
    dagster_webserver_port: int = Field(3000, ge=1, le=65535)
    dagster_code_server_host: str = "127.0.0.1"
    dagster_code_server_port: int = Field(4000, ge=1, le=65535)
    # Where Dagster executes each run (docs/scaling.md): in the code server (local), in a fresh container
    # of the product image (docker, `callaudit[docker]`) or in a Kubernetes Job (k8s, `callaudit[k8s]`).
    dagster_run_launcher: Literal["local", "docker", "k8s"] = "local"
    # docker: the run containers' image (unset: the image the code server reports, DAGSTER_CURRENT_IMAGE)
    # and the networks they join (Compose prefixes network names with the project name).
    dagster_run_image: str | None = None
    dagster_run_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["callaudit_backend", "callaudit_egress"]
    )
    # k8s: the namespace of the run Jobs (unset: `default`) and the Secrets they read variables from.
    dagster_k8s_job_namespace: str | None = None
    dagster_k8s_env_secrets: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["callaudit-secrets"])
    sales_timezone: str = "Europe/Paris"
    sales_partitions_start: dt.date = dt.date(2025, 1, 1)

    # --- CRM gateway ---------------------------------------------------------------------------
    fiche_api_base_url: str | None = Field(None, validation_alias=AliasChoices("FICHE_API_BASE_URL", "FICHE_API_URL"))
    fiche_api_auth_token: SecretStr | None = None
    fiche_sales_include_recordings: bool = False
    fiche_force_refresh_cooldown_ms: int = Field(1_800_000, ge=0)
    fiche_not_found_ttl_ms: int = Field(300_000, ge=60_000)
    fiche_fetch_concurrency: int = Field(3, ge=1, le=100)
    fiche_sales_search_concurrency: int = Field(1, ge=1, le=20)
    fiche_recordings_upsert_concurrency: int = Field(3, ge=1, le=50)
    cache_expiration_hours: int = Field(240, ge=1)
    demo_crm_port: int = Field(8090, ge=1, le=65535)

    # --- auth -----------------------------------------------------------------------------------
    jwt_access_secret: SecretStr | None = None
    jwt_issuer: str = "ai-audit"
    jwt_audience: str = "ai-audit"
    auth_access_ttl_seconds: int = Field(900, ge=60, le=86_400)
    auth_refresh_ttl_seconds: int = Field(2_592_000, ge=3600)
    auth_refresh_cookie_name: str = "refresh_token"
    # A rotated refresh token presented again this soon gets the same successor (concurrent tabs).
    auth_refresh_reuse_grace_seconds: int = Field(10, ge=0, le=60)
    auth_cookie_secure: bool | None = None
    auth_cookie_samesite: Literal["lax", "strict", "none"] = "lax"
    # Lifetime of the report pages' cookie (`POST /reports/session`); the login session still bounds it.
    report_session_ttl_seconds: int = Field(1800, ge=60, le=43_200)
    auth_seed_admin_email: str | None = None
    auth_seed_admin_password: SecretStr | None = None
    auth_login_max_attempts: int = Field(5, ge=1)
    auth_login_window_seconds: int = Field(900, ge=1)
    # The previous signing secret: still verifies access tokens (by key id) during a rotation.
    jwt_access_secret_previous: SecretStr | None = None
    # argon2id parameters: `default` = argon2-cffi's (RFC 9106 low-memory). `fast-test` is for test suites
    # only and refused in production; hashes made with other parameters are upgraded at the next login.
    auth_password_hash_profile: Literal["default", "fast-test"] = "default"  # noqa: S105
    # Each API process remembers a signed-in user's principal this long at most, forgetting it as soon
    # as Postgres notifies a change (`api.auth.principal_cache`); 0: read it on every request.
    auth_principal_cache_seconds: float = Field(60.0, ge=0, le=3600)

    # --- LLM / audits ---------------------------------------------------------------------------
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_model_audit: str = "gpt-5.2"
    openai_model_chat: str = Field("gpt-5.2", validation_alias=AliasChoices("OPENAI_MODEL_CHAT", "OPENAI_MODEL"))
    openai_temperature_chat: float = Field(0.0, ge=0.0, le=2.0)
    openai_max_tokens_chat: int = Field(3000, ge=1)
    # Tokens (o200k_base) of any one chat request: summary, history, question, tools; a timeline that
    # does not fit is read through the transcript tools instead.
    chat_context_token_budget: int = Field(60_000, ge=8_000)
    audit_evidence_gating: bool = True
    audit_evidence_min_quote_chars: int = Field(12, ge=1)
    audit_step_timeline_excerpt: bool = True
    audit_step_timeline_max_chunks: int = Field(40, ge=1)
    audit_step_concurrency: int = Field(3, ge=1, le=50)
    audit_step_per_audit_concurrency: int = Field(10, ge=1, le=100)
    audit_run_concurrency: int = Field(10, ge=1, le=1000)
    # Unset: `openai` when OPENAI_API_KEY or OPENAI_BASE_URL is set (keyless local servers), else `heuristic`.
    audit_auditor: Literal["openai", "heuristic"] | None = None
    openai_temperature_audit: float = Field(0.0, ge=0.0, le=2.0)
    # Set for reasoning models; temperature is then not sent (they accept only their default).
    openai_reasoning_effort_audit: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    audit_tools_max_steps: int = Field(8, ge=2, le=20)
    # A fiche whose timeline is longer (o200k_base tokens) is audited in tools mode, not in the prompt.
    audit_prompt_token_budget: int = Field(120_000, ge=1_000)
    llm_max_concurrency: int = Field(8, ge=1, le=500)
    llm_request_timeout_seconds: float = Field(300.0, gt=0)
    llm_max_attempts: int = Field(4, ge=1, le=10)
    # JSON {"model": {"input": usd_per_1M, "cached_input": ..., "output": ...}}, merged over built-in prices.
    llm_prices: dict[str, dict[Literal["input", "cached_input", "output"], Annotated[float, Field(ge=0)]]] | None = None

    # --- transcription --------------------------------------------------------------------------
    stt_provider: Literal["elevenlabs", "openai", "reference"] | None = None
    elevenlabs_api_key: SecretStr | None = None
    elevenlabs_base_url: str | None = None
    elevenlabs_stt_model: str = "scribe_v1"
    openai_stt_model: str = "whisper-1"
    openai_stt_word_timestamps: bool = True
    transcription_elevenlabs_rate_limit_per_minute: int = Field(10, ge=1)
    transcription_elevenlabs_max_attempts: int = Field(6, ge=1, le=20)
    transcription_elevenlabs_backoff_base_seconds: float = Field(2.0, gt=0)
    transcription_elevenlabs_backoff_max_seconds: float = Field(60.0, gt=0)
    transcription_recording_concurrency: int = Field(2, ge=1, le=100)
    transcription_recording_timeout_seconds: float = Field(900.0, gt=0)
    transcription_request_timeout_seconds: float = Field(600.0, gt=0)
    transcription_audio_max_bytes: int = Field(200_000_000, ge=1)
    transcription_audio_urls_public: bool = False
    # The brokerage's names as its advisors say them on the phone: a speaker naming it is the agent.
    transcription_firm_names: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Every transcription (API, ad-hoc jobs, automation) skips fiches with more recordings; unset: no limit.
    transcription_max_recordings_per_fiche: int | None = Field(None, ge=1)

    # --- automation -----------------------------------------------------------------------------
    automation_scheduler_cron: str = "*/1 * * * *"
    automation_scheduler_window_minutes: int = Field(20, ge=5)
    # A run still pending/running this long after it started is reconciled as failed by the sensor.
    automation_stale_threshold_ms: int = Field(5 * 3_600_000, ge=60_000)
    automation_scheduler_stale_grace_ms: int = Field(30 * 60_000, ge=0)
    # Automated runs (schedule, sensors, backfills) skip fiches with more recordings; no hard cap.
    automation_max_recordings_per_fiche: int = Field(50, ge=1)
    # Mirror each automation run's log lines to $CALLAUDIT_HOME/automation-debug-logs/automation-run-<id>.txt.
    automation_debug_log_to_file: bool = False
    sales_refresh_cron: str = "*/15 * * * *"
    # A day's transcription and audit runs look for newly ready fiches this often while a run upstream
    # of them works on the day, and wait this long after it ends for the next one (services.drain).
    day_run_poll_seconds: float = Field(2.0, gt=0, le=60)
    day_run_linger_seconds: float = Field(20.0, ge=0, le=600)
    # Where the analytics assets write their Parquet files: a directory or any fsspec URL
    # (`s3://bucket/prefix` with its backend installed); unset: $CALLAUDIT_HOME/analytics.
    analytics_storage_root: str | None = None

    # --- realtime / webhooks / mail -------------------------------------------------------------
    webhook_allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Key encrypting webhook signing secrets at rest; unset: derived from JWT_ACCESS_SECRET.
    webhook_secrets_key: SecretStr | None = None
    # Seconds between delivery attempts (after the 1st, 2nd, ...); when spent, the delivery has failed.
    webhook_retry_schedule: Annotated[list[int], NoDecode] = Field(
        default_factory=lambda: [5, 300, 1800, 7200, 18000, 36000, 36000]
    )
    # A subscription whose deliveries failed for good this many times in a row is disabled.
    webhook_disable_after_failures: int = Field(3, ge=1)
    webhook_timeout_seconds: float = Field(15.0, gt=0, le=120)
    # Finished webhook / e-mail deliveries (and their attempt log) are kept this many days.
    webhook_log_retention_days: int = Field(30, ge=1)
    # Development only: lets webhook URLs point at this machine (127.0.0.1, ::1). Refused in production.
    egress_allow_loopback: bool = False
    event_stream_maxlen: int = Field(1000, ge=10)
    event_stream_ttl_seconds: int = Field(86_400, ge=60)
    # SSE (`/api/realtime/...`): comment lines this often keep proxies from closing an idle stream; a
    # stream ends after its lifetime (the client resumes with Last-Event-ID, maybe on another replica);
    # a replica refuses streams past the cap (503); browser stream tokens are valid this long.
    realtime_heartbeat_seconds: int = Field(15, ge=1, le=300)
    realtime_stream_max_seconds: int = Field(600, ge=1, le=86_400)
    realtime_max_streams: int = Field(2000, ge=1)
    realtime_stream_token_ttl_seconds: int = Field(60, ge=5, le=3600)
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_secure: bool = False
    smtp_user: str | None = None
    smtp_pass: SecretStr | None = None
    smtp_from: str | None = None
    smtp_timeout_ms: int = Field(10_000, ge=100)

    _split_csv = field_validator(
        "cors_origins",
        "webhook_allowed_origins",
        "webhook_retry_schedule",
        "transcription_firm_names",
        "dagster_run_networks",
        "dagster_k8s_env_secrets",
        mode="before",
    )(_csv)

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _positive_delays(cls, value: list[int]) -> list[int]:
        if not value or any(delay < 1 for delay in value):
            raise ValueError("expected a comma-separated list of delays in seconds, each at least 1")
        return value

    @field_validator("automation_scheduler_cron", "sales_refresh_cron")
    @classmethod
    def _cron_has_five_fields(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError("expected a 5-field cron expression such as '*/1 * * * *'")
        return value

    @field_validator("sales_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("database_url", "direct_url", "dagster_postgres_url")
    @classmethod
    def _postgres_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("postgresql", "postgres://")):
            raise ValueError("expected a postgresql:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected a redis://, rediss:// or unix:// URL")
        return value

    @model_validator(mode="after")
    def _derived_defaults(self) -> Settings:
        if not self.dagster_webserver_url:
            self.dagster_webserver_url = f"http://127.0.0.1:{self.dagster_webserver_port}"
        return self

    @field_validator("jwt_access_secret", "jwt_access_secret_previous")
    @classmethod
    def _strong_jwt_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < 32:
            raise ValueError("must be at least 32 characters (HS256 needs a 256-bit key)")
        return value

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.callaudit_env == "production" and self.jwt_access_secret is None:
            raise ValueError("JWT_ACCESS_SECRET is required when CALLAUDIT_ENV=production")
        if self.callaudit_env == "production" and self.auth_password_hash_profile != "default":  # noqa: S105
            raise ValueError("AUTH_PASSWORD_HASH_PROFILE=fast-test is refused when CALLAUDIT_ENV=production")
        if self.callaudit_env == "production" and self.egress_allow_loopback:
            raise ValueError("EGRESS_ALLOW_LOOPBACK is refused when CALLAUDIT_ENV=production")
        return self

    # --- derived values ---------------------------------------------------------------------------
    @property
    def analytics_root(self) -> str:
        return self.analytics_storage_root or str(self.callaudit_home.resolve() / "analytics")

    @property
    def is_production(self) -> bool:
        return self.callaudit_env == "production"

    @property
    def crm_base_url(self) -> str:
        """The configured gateway, else the demo CRM simulator that `callaudit run` starts."""
        return self.fiche_api_base_url or f"http://127.0.0.1:{self.demo_crm_port}"

    @property
    def cookie_secure(self) -> bool:
        return self.is_production if self.auth_cookie_secure is None else self.auth_cookie_secure

    @property
    def smtp_sender(self) -> str | None:
        return self.smtp_from or self.smtp_user

    @property
    def webhook_secrets_source(self) -> str | None:
        """What the webhook secrets key is derived from (never logged)."""
        key = self.webhook_secrets_key or self.jwt_access_secret
        return key.get_secret_value() if key is not None else None

    def as_environment(self) -> dict[str, str]:
        """Every value read from the environment or `.env` (not the defaults), as the environment
        variables that give it back: what `callaudit` hands its child processes, so each of them
        sees exactly the values this process resolved, whatever `.env` its working directory holds."""
        env = {}
        for name in sorted(self.model_fields_set):
            value = getattr(self, name)
            if value is not None:
                env[_env_name(name)] = _env_text(value)
        return env

    @property
    def static_api_tokens(self) -> list[str]:
        tokens = [self.api_auth_token.get_secret_value()] if self.api_auth_token is not None else []
        if self.api_auth_tokens is not None:
            tokens += [t.strip() for t in self.api_auth_tokens.get_secret_value().split(",") if t.strip()]
        return tokens


def _env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        first = alias.choices[0]
        return str(first).upper()
    return field.upper()


def _env_text(value: object) -> str:
    """A value as its variable would spell it (what the field's parsing reads back)."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "configuration"
        lines.append(f"  {field.upper()}: {item['msg']}")
    return "invalid configuration:\n" + "\n".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Read and validate the configuration, raising `SettingsError` that names each bad variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


@functools.cache
def get_settings() -> Settings:
    return load_settings()


def environment_names() -> set[str]:
    """The environment variable of every setting."""
    return {_env_name(name) for name in Settings.model_fields}
