"""The scheduler tick on the real database with a frozen clock: due runs once, catch-up, missed, stale."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from domain.models.automation import AutomationLog, AutomationRun, AutomationSchedule
from domain.schedules.scheduler import TickSettings, tick
from tests.fixtures.schedules import schedule

pytestmark = pytest.mark.usefixtures("clean_tables")

UTC = dt.UTC
SETTINGS = TickSettings(window=dt.timedelta(minutes=20), stale_after=dt.timedelta(hours=5, minutes=30))
CREATED = dt.datetime(2026, 6, 1, 4, 0, tzinfo=UTC)  # Monday 06:00 in Paris


def daily_seven(engine: Engine, **fields: object) -> int:
    """Every day at 07:00 Paris time (05:00 UTC in June), created on Monday 1 June at 06:00 Paris."""
    return schedule(
        engine,
        schedule_type="DAILY",
        time_of_day="07:00",
        cron_expression="0 7 * * *",
        created_at=CREATED,
        updated_at=CREATED,
        **fields,
    )


def run_tick(engine: Engine, now: dt.datetime, dagster: dict[str, str] | None = None) -> list[int]:
    with Session(engine) as session, session.begin():
        due = tick(session, now=now, settings=SETTINGS, dagster_status=(dagster or {}).get)
        return [d.run_id for d in due]


def runs(engine: Engine, schedule_id: int) -> list[AutomationRun]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(AutomationRun).where(AutomationRun.schedule_id == schedule_id).order_by(AutomationRun.id)
            )
        )


def test_a_due_time_makes_one_run_however_many_ticks_see_it(sync_engine: Engine) -> None:
    schedule_id = daily_seven(sync_engine)
    assert run_tick(sync_engine, dt.datetime(2026, 6, 1, 4, 59, tzinfo=UTC)) == []
    first = run_tick(sync_engine, dt.datetime(2026, 6, 1, 5, 0, 30, tzinfo=UTC))
    again = run_tick(sync_engine, dt.datetime(2026, 6, 1, 5, 1, tzinfo=UTC))
    assert first == again  # the pending run is requested again under the same run key, not created again
    [run] = runs(sync_engine, schedule_id)
    assert (run.status, run.trigger, run.due_at) == ("pending", "schedule", dt.datetime(2026, 6, 1, 5, tzinfo=UTC))


def test_a_late_tick_within_the_window_catches_up(sync_engine: Engine) -> None:
    schedule_id = daily_seven(sync_engine)
    assert len(run_tick(sync_engine, dt.datetime(2026, 6, 1, 5, 19, tzinfo=UTC))) == 1
    assert [r.due_at for r in runs(sync_engine, schedule_id)] == [dt.datetime(2026, 6, 1, 5, tzinfo=UTC)]


def test_a_daemon_down_longer_than_the_window_records_missed_due_times(sync_engine: Engine) -> None:
    schedule_id = daily_seven(sync_engine)
    assert run_tick(sync_engine, dt.datetime(2026, 6, 3, 5, 30, tzinfo=UTC)) == []  # down Mon 06:00 -> Wed 07:30
    [missed] = runs(sync_engine, schedule_id)
    assert missed.status == "missed"
    assert missed.config_snapshot["missedCount"] == 3
    assert missed.config_snapshot["missedDueTimes"][0] == "2026-06-01T05:00:00+00:00"
    with Session(sync_engine) as session:
        [log] = session.scalars(select(AutomationLog).where(AutomationLog.run_id == missed.id)).all()
    assert "3 due time(s) missed" in log.message
    # Counted once: the next tick on Thursday runs Thursday's due time only.
    assert len(run_tick(sync_engine, dt.datetime(2026, 6, 4, 5, 1, tzinfo=UTC))) == 1
    assert [r.status for r in runs(sync_engine, schedule_id)] == ["missed", "pending"]


def test_a_schedule_with_a_run_in_progress_waits_and_runs_its_due_time_after(sync_engine: Engine) -> None:
    daily_seven(sync_engine)
    [first] = run_tick(sync_engine, dt.datetime(2026, 6, 1, 5, 0, tzinfo=UTC))
    with Session(sync_engine) as session, session.begin():
        session.get_one(AutomationRun, first).status = "running"
    assert run_tick(sync_engine, dt.datetime(2026, 6, 2, 5, 0, tzinfo=UTC)) == []  # Tuesday: Monday's still runs
    with Session(sync_engine) as session, session.begin():
        session.get_one(AutomationRun, first).status = "completed"
    assert len(run_tick(sync_engine, dt.datetime(2026, 6, 2, 5, 10, tzinfo=UTC))) == 1


def test_max_concurrent_runs_lets_due_times_overlap_up_to_the_cap(sync_engine: Engine) -> None:
    daily_seven(sync_engine, max_concurrent_runs=2)
    [monday] = run_tick(sync_engine, dt.datetime(2026, 6, 1, 5, 0, tzinfo=UTC))
    with Session(sync_engine) as session, session.begin():
        session.get_one(AutomationRun, monday).status = "running"
    tuesday = run_tick(sync_engine, dt.datetime(2026, 6, 2, 5, 0, tzinfo=UTC))
    assert len(tuesday) == 1
    assert monday not in tuesday  # a running run is Dagster's already: not requested again
    with Session(sync_engine) as session, session.begin():
        session.get_one(AutomationRun, tuesday[0]).status = "running"
    assert run_tick(sync_engine, dt.datetime(2026, 6, 3, 5, 0, tzinfo=UTC)) == []  # two in progress: the cap


def test_stale_runs_are_reconciled_after_the_threshold_and_grace(sync_engine: Engine) -> None:
    schedule_id = daily_seven(sync_engine)
    [run_id] = run_tick(sync_engine, dt.datetime(2026, 6, 1, 5, 0, tzinfo=UTC))
    with Session(sync_engine) as session, session.begin():
        run = session.get_one(AutomationRun, run_id)
        run.status, run.started_at = "running", dt.datetime(2026, 6, 1, 5, 0, tzinfo=UTC)
    run_tick(sync_engine, dt.datetime(2026, 6, 1, 10, 29, tzinfo=UTC))
    assert runs(sync_engine, schedule_id)[0].status == "running"
    run_tick(sync_engine, dt.datetime(2026, 6, 1, 10, 30, tzinfo=UTC))
    reconciled = runs(sync_engine, schedule_id)[0]
    assert reconciled.status == "failed"
    assert reconciled.error_message == "Marked stale by the scheduler after 330 min"
    with Session(sync_engine) as session:
        stats = session.get_one(AutomationSchedule, schedule_id)
        assert (stats.total_runs, stats.failed_runs, stats.last_run_status) == (1, 1, "failed")


def test_a_run_whose_dagster_run_died_is_resumed_under_a_new_run_key_then_failed(sync_engine: Engine) -> None:
    """A killed daemon or worker: the run is asked for again (it resumes, reusing what it did), twice at most."""
    schedule_id = daily_seven(sync_engine)
    [run_id] = run_tick(sync_engine, dt.datetime(2026, 6, 1, 5, 0, tzinfo=UTC))

    def start(dagster_run_id: str) -> None:
        with Session(sync_engine) as session, session.begin():
            run = session.get_one(AutomationRun, run_id)
            run.status, run.started_at, run.dagster_run_id = (
                "running",
                dt.datetime(2026, 6, 1, 5, tzinfo=UTC),
                dagster_run_id,
            )

    start("d-1")
    assert run_tick(sync_engine, dt.datetime(2026, 6, 1, 5, 5, tzinfo=UTC), dagster={"d-1": "STARTED"}) == []
    keys = []
    for attempt, dagster_run_id in enumerate(("d-1", "d-2"), start=1):
        start(dagster_run_id)
        with Session(sync_engine) as session, session.begin():
            due = tick(session, now=dt.datetime(2026, 6, 1, 5, 6, tzinfo=UTC), settings=SETTINGS,
                       dagster_status={dagster_run_id: "FAILURE"}.get)  # fmt: skip
            keys += [d.key for d in due]
        [run] = runs(sync_engine, schedule_id)
        assert (run.status, run.resumes, run.dagster_run_id) == ("pending", attempt, None)
    assert keys == [
        f"sched:{schedule_id}:2026-06-01T05:00:00+00:00:resume-1",
        f"sched:{schedule_id}:2026-06-01T05:00:00+00:00:resume-2",
    ]
    start("d-3")
    run_tick(sync_engine, dt.datetime(2026, 6, 1, 5, 7, tzinfo=UTC), dagster={"d-3": "CANCELED"})
    [run] = runs(sync_engine, schedule_id)
    assert run.status == "failed"
    assert run.error_message == "Its Dagster run d-3 ended before the run finished (2 resumes)"


def test_manual_and_inactive_schedules_are_never_run_by_the_scheduler(sync_engine: Engine) -> None:
    schedule(sync_engine, created_at=CREATED, updated_at=CREATED)  # MANUAL
    daily_seven(sync_engine, is_active=False)
    assert run_tick(sync_engine, dt.datetime(2026, 6, 1, 5, 0, tzinfo=UTC)) == []


def test_a_triggered_run_whose_dagster_run_failed_before_starting_is_resumed(sync_engine: Engine) -> None:
    from tests.fixtures.schedules import new_run

    schedule_id = schedule(sync_engine, created_at=CREATED, updated_at=CREATED)
    run_id = new_run(sync_engine, schedule_id)
    with Session(sync_engine) as session, session.begin():
        session.get_one(AutomationRun, run_id).dagster_run_id = "d-9"
    with Session(sync_engine) as session, session.begin():
        now = dt.datetime.now(UTC) + dt.timedelta(minutes=1)  # the run row was created on the real clock
        due = tick(session, now=now, settings=SETTINGS, dagster_status={"d-9": "FAILURE"}.get)
        assert [d.key for d in due] == [f"manual:{run_id}:resume-1"]
