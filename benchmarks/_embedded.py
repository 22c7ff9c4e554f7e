"""Embedded Postgres (migrated to head) and Redis in a temporary directory, for the benchmarks that
run the product's stages or API against real servers; stopped on the way out."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alembic import command

from callaudit.embedded import EmbeddedPostgres, EmbeddedRedis
from callaudit.migrate import alembic_config


@dataclass(frozen=True)
class Servers:
    home: Path  # the temporary directory, removed after
    database_url: str
    redis_url: str


@contextmanager
def migrated_servers(prefix: str) -> Iterator[Servers]:
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        home = Path(tmp)
        postgres, redis = EmbeddedPostgres(home), EmbeddedRedis(home)
        postgres.start()
        redis.start()
        try:
            database_url, redis_url = postgres.url(), redis.url()
            assert database_url
            assert redis_url
            command.upgrade(alembic_config(database_url), "head")
            yield Servers(home, database_url, redis_url)
        finally:
            redis.stop()
            postgres.stop()
