"""The Dagster daemon killed (SIGKILL) in the middle of an automation run, then started again.

The deployment's topology: a code server (`dagster code-server start`, as `callaudit run` and compose
start it) and a `dagster-daemon run` process on the project's `dagster.yaml` (Postgres storage, the
run queue, run monitoring), the demo CRM simulator, real Postgres and Redis. The scheduler sensor
requests the due run, the queue launches it on the code server; the daemon dies while the run is
running and is started again. The run's worker lives beside the code server, not the daemon: the run
ends once, and the restarted daemon's ticks neither request it again nor create anything twice.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import psutil
import pytest
from dagster._core.scheduler.instigation import InstigatorType, TickStatus
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from callaudit.demo_crm.config import FamilyFaults, Faults, Latency
from domain.models import Audit
from domain.models.automation import (
    AutomationNotification,
    AutomationRun,
    AutomationRunFicheResult,
    AutomationSchedule,
)
from tests.fixtures.audit_day import DAY
from tests.fixtures.crm_simulator import Simulator
from tests.fixtures.dagster_stack import Stack, running_stack, until

FINISHED = ("completed", "partial", "failed")


@pytest.fixture
def stack(
    tmp_path: Path,
    database_url: str,
    redis_url: str,
    simulator: Simulator,
    dagster_database: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Stack]:
    urls = (database_url, redis_url, simulator.base_url, dagster_database)
    with running_stack(tmp_path, monkeypatch, urls, STT_PROVIDER="reference") as running:
        yield running


def add_schedule(engine: Engine, scorecard: int) -> tuple[int, dt.datetime]:
    """A daily schedule due one minute ago (once: its next due time is tomorrow), auditing the simulator's day."""
    with Session(engine) as session, session.begin():
        now = session.scalar(select(func.now()))
        assert now is not None
        due = now.astimezone(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=1)
        created = due - dt.timedelta(minutes=5)
        schedule = AutomationSchedule(
            name="Ventes NCA",
            schedule_type="CRON",
            cron_expression=f"{due.minute} {due.hour} * * *",
            timezone="UTC",
            fiche_selection_mode="date_range",
            fiche_selection_date_range="custom",
            fiche_selection_custom_start_date=dt.date.fromisoformat(DAY),
            fiche_selection_custom_end_date=dt.date.fromisoformat(DAY),
            fiche_selection_groupes=["NCA R1", "NCA R3"],
            fiche_selection_max_fiches=3,
            specific_audit_configs=[scorecard],
            use_automatic_audits=False,
            notify_emails=["qualite@example.test"],
            created_at=created,
            updated_at=created,
        )
        session.add(schedule)
        session.flush()
        return schedule.id, due


def the_run(engine: Engine, schedule_id: int) -> AutomationRun | None:
    with Session(engine) as session:
        return session.scalars(select(AutomationRun).where(AutomationRun.schedule_id == schedule_id)).one_or_none()


def scheduler_ticks_after(instance: dg.DagsterInstance, moment: float) -> int:
    """Ticks of the `automation_scheduler` sensor evaluated (and ended) after `moment`."""
    [state] = [
        s
        for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        if s.instigator_name == "automation_scheduler"
    ]
    ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=20)
    return sum(t.timestamp > moment and t.status != TickStatus.STARTED for t in ticks)


def worker_pid(instance: dg.DagsterInstance, dagster_run_id: str) -> int:
    """The process executing the Dagster run (a child of the code server), from its own events."""
    pids = {e.dagster_event.pid for e in instance.all_logs(dagster_run_id) if e.dagster_event and e.dagster_event.pid}
    [pid] = pids
    return pid


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.usefixtures("clean_tables")
@pytest.mark.parametrize("lost", ["daemon", "daemon-and-run-worker", "code-server-and-run-worker"])
def test_the_daemon_killed_mid_run_and_restarted_concludes_the_run_once(
    stack: Stack,
    sync_engine: Engine,
    simulator: Simulator,
    scorecard_id: int,
    lost: str,
) -> None:
    """When the run's worker is killed as well (the host lost both), the code server marks its Dagster
    run failed, and the restarted daemon's scheduler resumes it once. When the code server dies with
    its worker, nobody is left to report the run: the daemon's run monitoring finds the worker gone
    (`callaudit.launcher.LocalRunLauncher`) instead of waiting out the 4 h maximum runtime."""
    worker_dies_too = lost != "daemon"
    # A slow CRM keeps the run busy long enough to kill the daemon under it.
    slow = FamilyFaults(latency=Latency(mean_ms=2500))
    simulator.configure(Faults(search=slow, details=slow))
    schedule_id, due = add_schedule(sync_engine, scorecard_id)
    stack.start_daemon()

    run = until(
        lambda: (r := the_run(sync_engine, schedule_id)) is not None and r.status == "running" and r,
        "the scheduled run running",
    )
    assert run.due_at == due
    with dg.DagsterInstance.get() as instance:
        if lost == "code-server-and-run-worker":
            pid = worker_pid(instance, run.dagster_run_id)
            stack.kill_code_server()
            killed_at = time.time()
            until(lambda: not psutil.pid_exists(pid), "the run worker gone with its code server", 30)
            stack.start_code_server()
            failed = until(
                lambda: (
                    (r := instance.get_run_by_id(run.dagster_run_id)) is not None
                    and r.status == dg.DagsterRunStatus.FAILURE
                    and r
                ),
                "run monitoring failing the run whose worker is gone",
                180,
            )
            failure = instance.all_logs(failed.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
            reasons = [e.dagster_event.message or "" for e in failure if e.dagster_event]
            assert any(f"(pid {pid}) is gone" in reason for reason in reasons), stack.logs()
        else:
            stack.kill_daemon()
            killed_at = time.time()
        if lost == "daemon-and-run-worker":
            os.kill(worker_pid(instance, run.dagster_run_id), signal.SIGKILL)
            until(
                lambda: (
                    getattr(instance.get_run_by_id(run.dagster_run_id), "status", None) == dg.DagsterRunStatus.FAILURE
                ),
                "the code server failing the dead worker's run",
                60,
            )
        still = the_run(sync_engine, schedule_id)
        assert still is not None
        assert still.status == "running", "the run ended before the kill: nothing was tested"
        simulator.configure(Faults())  # the rest at full speed

        if lost != "code-server-and-run-worker":
            stack.start_daemon()
        done = until(
            lambda: (r := the_run(sync_engine, schedule_id)) is not None and r.status in FINISHED and r,
            "the run concluded",
            480,
        )
        # The restarted daemon's scheduler ticks at least once after the run ended: it asks for nothing.
        ended = done.completed_at.timestamp()
        until(lambda: scheduler_ticks_after(instance, max(ended, killed_at)) >= 1, "a scheduler tick after the end")
        dagster_runs = instance.get_runs(dg.RunsFilter(tags={"app/automation_schedule_id": str(schedule_id)}))

    if worker_dies_too:
        resumed, dead = dagster_runs
        assert (dead.run_id, dead.status) == (run.dagster_run_id, dg.DagsterRunStatus.FAILURE)
        assert resumed.tags["dagster/run_key"].endswith(":resume-1")
    else:
        [resumed] = dagster_runs
    assert resumed.run_id == done.dagster_run_id
    assert resumed.status == dg.DagsterRunStatus.SUCCESS, stack.logs()
    assert resumed.tags["dagster/sensor_name"] == "automation_scheduler"
    with Session(sync_engine) as session:
        runs = session.scalars(select(AutomationRun).where(AutomationRun.schedule_id == schedule_id)).all()
        results = session.scalars(
            select(AutomationRunFicheResult).where(AutomationRunFicheResult.run_id == done.id)
        ).all()
        audits = session.execute(
            select(Audit.fiche_id, Audit.scorecard_id, func.count())
            .where(Audit.automation_run_id == done.id)
            .group_by(Audit.fiche_id, Audit.scorecard_id)
        ).all()
        notices = session.scalars(
            select(AutomationNotification.key).where(AutomationNotification.run_id == done.id)
        ).all()
        schedule = session.get_one(AutomationSchedule, schedule_id)

    assert [r.id for r in runs] == [done.id]  # one run for the due time, none missed, none again
    assert (done.status, done.resumes, done.error_message) == ("completed", int(worker_dies_too), None), stack.logs()
    successful = {r.fiche_id for r in results if r.status == "successful"}
    assert 0 < len(successful) <= 3
    assert done.total_fiches == len(results) == done.successful_fiches + done.failed_fiches + done.ignored_fiches
    assert {(fiche, scorecard): n for fiche, scorecard, n in audits} == {(f, scorecard_id): 1 for f in successful}
    assert notices == [f"automation-run:{done.id}:email:qualite@example.test"]
    assert (schedule.total_runs, schedule.last_run_status) == (1, "success")
