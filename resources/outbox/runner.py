"""`callaudit outbox-worker`: the outbox worker as a process, configured from the settings."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
from pathlib import Path

from callaudit.runtime import Runtime
from callaudit.settings import Settings
from domain.outbox.secrets_box import SecretBox, SecretsUnavailable
from domain.rbac import Scope
from resources.database import async_session_factory, create_api_engine
from resources.egress import EgressClient, EgressPolicy
from resources.mail import SmtpSender
from resources.outbox.worker import OutboxConfig, OutboxWorker

log = logging.getLogger(__name__)


def egress_policy(settings: Settings) -> EgressPolicy:
    return EgressPolicy.build(settings.webhook_allowed_origins, allow_loopback=settings.egress_allow_loopback)


DEV_KEY_FILE = "webhook-dev.key"


def secrets_key(settings: Settings) -> str | None:
    """`WEBHOOK_SECRETS_KEY`, else `JWT_ACCESS_SECRET`; outside production without either, a key generated
    once into `<CALLAUDIT_HOME>/webhook-dev.key` (0600), shared by the API and the worker of one machine."""
    configured = settings.webhook_secrets_source
    if configured or settings.is_production:
        return configured
    home = settings.callaudit_home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    path = home / DEV_KEY_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def secret_box(settings: Settings) -> SecretBox | None:
    try:
        return SecretBox(secrets_key(settings))
    except SecretsUnavailable:
        return None


def outbox_config(settings: Settings) -> OutboxConfig:
    return OutboxConfig(
        schedule=tuple(settings.webhook_retry_schedule),
        disable_after=settings.webhook_disable_after_failures,
        lease_seconds=max(settings.webhook_timeout_seconds, settings.smtp_timeout_ms / 1000) * 2 + 30,
        static_scope=Scope(settings.api_auth_token_scope),
        retention_days=settings.webhook_log_retention_days,
    )


async def serve(runtime: Runtime, heartbeat: Path | None = None) -> None:
    settings = runtime.settings
    engine = create_api_engine(runtime.database_url, pool_size=4, max_overflow=4)
    egress = EgressClient(egress_policy(settings), timeout=settings.webhook_timeout_seconds)
    mailer = SmtpSender(settings) if settings.smtp_host and settings.smtp_sender else None
    worker = OutboxWorker(
        async_session_factory(engine),
        egress,
        box=secret_box(settings),
        mailer=mailer,
        config=outbox_config(settings),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("outbox worker started (e-mail %s)", "on" if mailer else "off: SMTP_HOST unset")
    try:
        await worker.run_forever(stop, heartbeat=heartbeat)
    finally:
        await egress.aclose()
        await engine.dispose()
