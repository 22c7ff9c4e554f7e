"""Alembic environment: online migrations against the application database."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Connection, pool

from domain.models import Base
from domain.models.base import include_name
from resources.database import create_sync_engine

config = context.config
target_metadata = Base.metadata


def _database_url() -> str:
    explicit = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if explicit:
        return explicit
    for name in ("DIRECT_URL", "DATABASE_URL"):
        if os.environ.get(name):
            return os.environ[name]
    from callaudit.runtime import prepare
    from callaudit.settings import get_settings

    return prepare(get_settings(), start_embedded=False).database_url


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    engine = create_sync_engine(_database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        include_schemas=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported: run against a database")
run_migrations_online()
