"""The Dagster daemon killed (`SIGKILL`) in the middle of a sales day, kept down past a schedule tick,
then started again.

The same processes as the storm drill (`test_day_storm.py`), upstreams slow but healthy. The day runs
from the `refresh_today_sales` schedule (every minute) and the sensors `transcribe_fetched_fiches`
and `audit_automatic_scorecards`. Checked from Dagster's own records: every minute from the first
tick to the last has exactly one schedule run (the tick missed while the daemon was down is launched
once on restart, none twice), every sensor run key was launched once; and in the database: the day
completed with one audit per fiche and no row twice.
"""

from __future__ import annotations

import datetime as dt
import itertools
import time
from collections import Counter

import dagster as dg
import pytest
from dagster._core.storage.tags import SCHEDULED_EXECUTION_TIME_TAG
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from domain.models.transcripts import Transcript
from tests.fixtures.audit_day import scorecard_id  # noqa: F401 - fixture
from tests.fixtures.crm_simulator import simulator  # noqa: F401 - fixture
from tests.fixtures.dagster_stack import Stack, until
from tests.fixtures.day_storm import (
    Upstreams,
    automatic_only,
    day_state,
    duplicates,
    settled,
)

SCHEDULE = "refresh_today_sales"


def transcribed(engine: Engine) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Transcript)) or 0


@pytest.mark.slow
@pytest.mark.timeout(1500)
@pytest.mark.usefixtures("clean_tables")
@pytest.mark.parametrize("upstreams", [False], ids=["calm"], indirect=True)
def test_the_daemon_restarted_mid_day_neither_skips_nor_double_launches(
    day_stack: Stack,
    upstreams: Upstreams,
    sync_engine: Engine,
    scorecard_id: int,  # noqa: F811
) -> None:
    automatic_only(sync_engine, scorecard_id)
    day_stack.start_daemon()
    until(lambda: transcribed(sync_engine) > 0, "the day's first transcript (mid-day)", 900)
    day_stack.kill_daemon()
    down_from = dt.datetime.now(dt.UTC)
    time.sleep(70)  # down across a schedule tick (every minute)
    day_stack.start_daemon()
    until(lambda: settled(sync_engine, scorecard_id), "the day audited", 1200)
    restarted = dt.datetime.now(dt.UTC)
    # A tick after the restart shows the scheduler caught up before the runs are read.
    with dg.DagsterInstance.get() as instance:
        until(
            lambda: any(
                dt.datetime.fromisoformat(r.tags[SCHEDULED_EXECUTION_TIME_TAG]) > restarted
                for r in instance.get_runs(dg.RunsFilter(tags={"dagster/schedule_name": SCHEDULE}))
            ),
            "a schedule tick after the restart",
            180,
        )
        runs = instance.get_runs()

    ticks = sorted(
        dt.datetime.fromisoformat(r.tags[SCHEDULED_EXECUTION_TIME_TAG])
        for r in runs
        if r.tags.get("dagster/schedule_name") == SCHEDULE
    )
    assert ticks[0] < down_from < ticks[-1]
    twice = [t for t, n in Counter(ticks).items() if n > 1]
    assert twice == [], "a tick launched twice"
    gaps = [(a, b) for a, b in itertools.pairwise(ticks) if b - a != dt.timedelta(minutes=1)]
    assert gaps == [], "a tick skipped"
    keys = Counter(r.tags["dagster/run_key"] for r in runs if "dagster/sensor_name" in r.tags)
    assert keys, "the sensors launched nothing"
    assert [k for k, n in keys.items() if n > 1] == []
    audits = day_state(sync_engine, scorecard_id)
    assert audits is not None
    assert (audits.audited, audits.failed) == (audits.fiches, 0), day_stack.logs()
    assert duplicates(sync_engine) == {"audits": 0, "audit_steps": 0, "transcripts": 0, "recordings": 0}
