"""Embedded Postgres (migrated to head) and Redis in a temporary directory, for the benchmarks that
run the product's stages or API against real servers; stopped on the way out."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from alembic import command

from callaudit.embedded import EmbeddedPostgres, EmbeddedRedis
from callaudit.migrate import alembic_config


@dataclass(frozen=True)
class Servers:
    home: Path  # the temporary directory, removed after (unless kept)
    database_url: str
    redis_url: str


@contextmanager
def migrated_servers(prefix: str, home: Path | None = None) -> Iterator[Servers]:
    """Servers in a temporary directory, or in `home` (kept, and its data reused) when given."""
    if home is not None:
        home.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=prefix) if home is None else nullcontext(str(home)) as tmp:
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
