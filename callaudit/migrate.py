"""Bring every store to the current schema: app tables (Alembic) and the Dagster instance."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from callaudit.pools import pool_limits
from callaudit.runtime import Runtime


def alembic_config(database_url: str | None = None) -> Config:
    """Alembic's configuration from the installed `migrations` package (no alembic.ini needed)."""
    import migrations

    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    if database_url is not None:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def ensure_database(url: str) -> bool:
    """Create the URL's database when the server lacks it (and the role may); True if created."""
    target = make_url(url)
    admin = create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": target.database}).scalar()
            if not exists:
                conn.execute(text(f'CREATE DATABASE "{target.database}"'))
                return True
        return False
    finally:
        admin.dispose()


@contextmanager
def dagster_environment(runtime: Runtime) -> Iterator[None]:
    previous = {k: os.environ.get(k) for k in ("DAGSTER_HOME", "DAGSTER_POSTGRES_URL")}
    os.environ["DAGSTER_HOME"] = str(runtime.dagster_home)
    os.environ["DAGSTER_POSTGRES_URL"] = runtime.dagster_postgres_url
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def migrate(runtime: Runtime) -> dict[str, int]:
    """Upgrade the app schema to head, then set Dagster's pool limits; returns the limits."""
    command.upgrade(alembic_config(runtime.database_url), "head")
    ensure_database(runtime.dagster_postgres_url)
    from dagster import DagsterInstance

    limits = pool_limits(runtime.settings)
    with dagster_environment(runtime), DagsterInstance.get() as instance:
        instance.upgrade()
        for pool, limit in limits.items():
            instance.event_log_storage.set_concurrency_slots(pool, limit)
    return limits
