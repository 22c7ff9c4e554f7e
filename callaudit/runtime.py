"""Resolve where every dependency lives: configured servers, or the embedded ones under `home`.

Every command that needs Postgres or Redis goes through `prepare()`, so "unset means embedded" is
decided in one place, and child processes (Dagster, the API) get the resolved URLs in their env.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from callaudit.embedded import DAGSTER_DATABASE, EmbeddedServices
from callaudit.instance import render_instance, write_instance
from callaudit.settings import Settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Runtime:
    settings: Settings
    home: Path
    database_url: str
    dagster_postgres_url: str
    redis_url: str
    dagster_home: Path
    crm_base_url: str
    embedded: EmbeddedServices
    started: list[str] = field(default_factory=list)

    def child_environment(self) -> dict[str, str]:
        """The environment for child processes: every setting this process resolved (the
        environment over `.env`) and the resolved URLs, so they never start servers nor read
        another value from a `.env` of their own."""
        env = dict(os.environ)
        env.update(self.settings.as_environment())
        env.update(
            DATABASE_URL=self.database_url,
            DAGSTER_POSTGRES_URL=self.dagster_postgres_url,
            REDIS_URL=self.redis_url,
            DAGSTER_HOME=str(self.dagster_home),
            FICHE_API_BASE_URL=self.crm_base_url,
            CALLAUDIT_HOME=str(self.home),
            DAGSTER_CODE_SERVER_HOST=self.settings.dagster_code_server_host,
            DAGSTER_CODE_SERVER_PORT=str(self.settings.dagster_code_server_port),
            DAGSTER_WEBSERVER_URL=self.settings.dagster_webserver_url,
        )
        return env

    def stop_started(self) -> list[str]:
        """Stop the embedded servers this process started (not those it found running)."""
        stopped = []
        for service in self.embedded.all():
            if service.name in self.started and service.stop():
                stopped.append(service.name)
        self.started.clear()
        return stopped


def dagster_url_from(database_url: str) -> str:
    """Dagster's storage on the same server as the app, in its own database, with psycopg2."""
    url = make_url(database_url).set(drivername="postgresql+psycopg2", database=DAGSTER_DATABASE)
    return url.render_as_string(hide_password=False)


def prepare_dagster_home(settings: Settings, home: Path) -> Path:
    """DAGSTER_HOME from the environment, else `<home>/dagster`, holding the instance rendered for
    DAGSTER_RUN_LAUNCHER (a hand-written dagster.yaml is kept as it is)."""
    configured = os.environ.get("DAGSTER_HOME")
    dagster_home = Path(configured) if configured else (home / "dagster").resolve()
    write_instance(dagster_home, render_instance(settings), owned=not configured)
    return dagster_home


def prepare(settings: Settings, *, start_embedded: bool = True) -> Runtime:
    """Resolve every URL, starting embedded Postgres / Redis when their variable is unset."""
    home = settings.callaudit_home.resolve()
    embedded = EmbeddedServices(home)
    started: list[str] = []

    def embedded_url(service_name: str) -> str:
        service = embedded.postgres if service_name == "postgres" else embedded.redis
        if start_embedded and service.start():
            started.append(service_name)
        url = embedded.postgres.url() if service_name == "postgres" else embedded.redis.url()
        if url is None:
            raise RuntimeError(f"embedded {service_name} is not running (run `callaudit services up`)")
        return url

    if settings.database_url is not None:
        database_url = settings.database_url.get_secret_value()
    else:
        database_url = embedded_url("postgres")
    if settings.dagster_postgres_url is not None:
        dagster_url = settings.dagster_postgres_url.get_secret_value()
    else:
        dagster_url = dagster_url_from(database_url)
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else embedded_url("redis")
    crm = settings.crm_base_url
    return Runtime(
        settings=settings,
        home=home,
        database_url=database_url,
        dagster_postgres_url=dagster_url,
        redis_url=redis_url,
        dagster_home=prepare_dagster_home(settings, home),
        crm_base_url=crm,
        embedded=embedded,
        started=started,
    )
