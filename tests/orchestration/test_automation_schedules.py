"""User schedules end to end: the scheduler sensor requests the run, the job runs it on the demo CRM
simulator with faults (real database, Redis, reference STT, heuristic auditor), the records add up.

The daemon's part is played by `tick`: it evaluates the sensor as a daemon tick would and executes
each request once per run key, as the daemon does.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import redis
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from callaudit.demo_crm.config import Faults
from callaudit.settings import get_settings
from domain.models import Audit, AuditControlPoint, AuditStep, Fiche
from domain.models.automation import (
    AutomationNotification,
    AutomationRun,
    AutomationRunFicheResult,
    AutomationSchedule,
)
from domain.outbox.secrets_box import SecretBox
from domain.schedules.debug_log import debug_log_path
from domain.schedules.webhook import set_schedule_webhook
from domain.scorecards.service import demo_document, import_document
from orchestration.definitions import defs
from orchestration.jobs import DagsterPipeline, automation_run_job
from tests.fixtures.audit_day import DAY
from tests.fixtures.crm_simulator import Simulator, faulty

GROUPES = ["NCA R1", "NCA R3"]


class Daemon:
    def __init__(self, instance: dg.DagsterInstance, resources: dict[str, Any]) -> None:
        self.instance = instance
        self.resources = resources
        self.run_keys: set[str] = set()
        self.results: list[dg.ExecuteInProcessResult] = []

    def tick(self) -> list[dg.RunRequest]:
        definitions = defs()
        with dg.build_sensor_context(
            instance=self.instance,
            resources={"database": self.resources["database"], "settings": self.resources["settings"]},
            definitions=definitions,
        ) as context:
            data = definitions.resolve_sensor_def("automation_scheduler").evaluate_tick(context)
        requests = list(data.run_requests or [])
        for request in requests:
            assert request.run_key is not None
            if request.run_key in self.run_keys:  # the daemon launches a run key once
                continue
            self.run_keys.add(request.run_key)
            result = automation_run_job.execute_in_process(
                run_config=request.run_config,
                resources=self.resources,
                instance=self.instance,
                tags=request.tags,
                raise_on_error=False,
            )
            self.results.append(result)
        return requests


def second_scorecard(engine: Engine) -> int:
    document = demo_document()
    document["name"] = "Grille conformité (copie)"
    with Session(engine) as session, session.begin():
        return import_document(session, document, as_new=True).scorecard.id


def add_schedule(engine: Engine, **fields: Any) -> int:
    """An every-minute schedule created three minutes ago, auditing the simulator's day."""
    before = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3)
    values: dict[str, Any] = {
        "name": "Ventes NCA",
        "schedule_type": "CRON",
        "cron_expression": "* * * * *",
        "timezone": "Europe/Paris",
        "fiche_selection_mode": "date_range",
        "fiche_selection_date_range": "custom",
        "fiche_selection_custom_start_date": dt.date.fromisoformat(DAY),
        "fiche_selection_custom_end_date": dt.date.fromisoformat(DAY),
        "fiche_selection_groupes": GROUPES,
        "created_at": before,
        "updated_at": before,
        **fields,
    }
    with Session(engine) as session, session.begin():
        schedule = AutomationSchedule(**values)
        session.add(schedule)
        session.flush()
        if schedule.webhook_url:  # as the API does when it saves the URL
            set_schedule_webhook(
                session, schedule, schedule.webhook_url, box=SecretBox("test-key-" + "0" * 32), user_id=None
            )
        return schedule.id


def events(client: redis.Redis, run_id: int) -> list[tuple[str, dict[str, Any]]]:
    entries: list[tuple[str, dict[str, str]]] = client.xrange(f"sse:job:{run_id}")  # type: ignore[assignment]
    return [(fields["type"], json.loads(fields["data"])) for _, fields in entries]


@pytest.mark.usefixtures("clean_tables")
def test_a_schedule_with_two_scorecards_groups_and_max_fiches_runs_from_its_sensor(
    instance: dg.DagsterInstance,
    audit_resources: dict[str, Any],
    scorecard_id: int,
    sync_engine: Engine,
    simulator: Simulator,
    redis_client: redis.Redis,
) -> None:
    second = second_scorecard(sync_engine)
    schedule_id = add_schedule(
        sync_engine,
        specific_audit_configs=[scorecard_id, second],
        use_automatic_audits=False,
        fiche_selection_max_fiches=3,
        notify_emails=["qualite@example.test"],
        webhook_url="https://hooks.example.test/automation",
    )
    # A CRM that fails a fifth of its answers (5xx, 429, timeouts, transient 404s): the client retries.
    simulator.configure(Faults(search=faulty(0.2), details=faulty(0.2)))
    simulator.reset()
    daemon = Daemon(instance, audit_resources)

    [request] = daemon.tick()
    assert request.run_key is not None
    assert request.run_key.startswith(f"sched:{schedule_id}:")
    assert request.tags["app/automation_schedule"] == "Ventes NCA"
    assert request.tags["app/automation_schedule_limit_1"] == str(schedule_id)  # maxConcurrentRuns, default 1
    [result] = daemon.results
    assert result.success, result.all_events
    run_id = int(request.tags["app/automation_run_id"])

    with Session(sync_engine) as session:
        run = session.get_one(AutomationRun, run_id)
        results = session.scalars(
            select(AutomationRunFicheResult).where(AutomationRunFicheResult.run_id == run_id)
        ).all()
        day_fiches = {
            f.fiche_id: f for f in session.scalars(select(Fiche).where(Fiche.sales_date == dt.date.fromisoformat(DAY)))
        }
        audits = session.execute(
            select(Audit.fiche_id, Audit.scorecard_id, Audit.trigger_source, Audit.automation_schedule_id).where(
                Audit.automation_run_id == run_id
            )
        ).all()
        schedule = session.get_one(AutomationSchedule, schedule_id)
        notices = session.scalars(
            select(AutomationNotification.key).where(AutomationNotification.run_id == run_id)
        ).all()

    # Every fiche of the day has one result; the counters add up to the selection.
    assert {r.fiche_id for r in results} == set(day_fiches)
    assert run.total_fiches == len(day_fiches) == run.successful_fiches + run.failed_fiches + run.ignored_fiches
    successful = [r for r in results if r.status == "successful"]
    # maxFiches is per run, and only fiches of the selected groups are taken.
    assert 0 < len(successful) <= 3
    assert all(day_fiches[r.fiche_id].groupe in GROUPES for r in successful)
    for r in results:
        if r.status == "ignored":
            assert r.ignore_reason
        if r.status == "ignored" and day_fiches[r.fiche_id].groupe not in GROUPES:
            # screened out by its groupe, or never examined once maxFiches fiches were taken
            assert "groupe" in (r.ignore_reason or "") or "maxFiches (3)" in (r.ignore_reason or "")
    # Both scorecards audited every successful fiche, linked to the run and the schedule.
    assert {(f, s) for f, s, *_ in audits} == {(r.fiche_id, s) for r in successful for s in (scorecard_id, second)}
    assert {(source, sid) for *_, source, sid in audits} == {("automation", schedule_id)}
    with Session(sync_engine) as session:  # made by the audit engine, normalized control points and all
        points = session.scalar(
            select(func.count())
            .select_from(AuditControlPoint)
            .join(AuditStep, AuditStep.id == AuditControlPoint.step_id)
            .join(Audit, Audit.id == AuditStep.audit_id)
            .where(Audit.automation_run_id == run_id)
        )
    assert points
    assert run.audits_run == 2 * len(successful)
    assert run.status in ("completed", "partial")
    assert run.dagster_run_id == result.run_id
    assert (schedule.total_runs, schedule.last_run_status) == (1, "success" if run.status == "completed" else "partial")
    assert set(notices) == {f"automation-run:{run_id}:webhook", f"automation-run:{run_id}:email:qualite@example.test"}

    names = [name for name, _ in events(redis_client, run_id)]
    assert names[0] == "automation.run.started"
    assert "automation.run.selection" in names
    assert "automation.run.progress" in names
    assert names[-1] == "automation.run.completed"

    # The CRM caps held: one sales search at a time, at most 3 details fetches at a time.
    families = simulator.stats()["families"]
    assert families["search"]["peak_in_flight"] == 1
    assert 1 <= families["details"]["peak_in_flight"] <= 3

    # The next tick does not run the same due time again.
    assert all(r.run_key in daemon.run_keys for r in daemon.tick())
    assert len(daemon.results) <= 2


@pytest.fixture
def debug_logs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """`AUTOMATION_DEBUG_LOG_TO_FILE=1` with `CALLAUDIT_HOME` here, for the runs of the test."""
    monkeypatch.setenv("AUTOMATION_DEBUG_LOG_TO_FILE", "1")
    monkeypatch.setenv("CALLAUDIT_HOME", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()  # before the environment is restored: the next reader loads it afresh


class WorkerDied(BaseException):
    """The run's process dying mid-run (not an error the run could catch and record)."""


@pytest.mark.usefixtures("clean_tables")
def test_a_run_whose_worker_dies_midway_is_resumed_without_losing_or_duplicating_anything(
    instance: dg.DagsterInstance,
    audit_resources: dict[str, Any],
    scorecard_id: int,
    sync_engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    debug_logs: Path,
) -> None:
    schedule_id = add_schedule(
        sync_engine,
        specific_audit_configs=[scorecard_id],
        use_automatic_audits=False,
        fiche_selection_max_fiches=3,
        notify_emails=["qualite@example.test"],
    )
    real_audit = DagsterPipeline.audit
    calls: list[list[str]] = []

    def dies_after_one_audit(
        self: DagsterPipeline, fiche_ids: Sequence[str], *, scorecard_id: int, use_rlm: bool
    ) -> None:
        calls.append(list(fiche_ids))
        if len(calls) == 1:
            real_audit(self, list(fiche_ids)[:1], scorecard_id=scorecard_id, use_rlm=use_rlm)
            raise WorkerDied
        real_audit(self, fiche_ids, scorecard_id=scorecard_id, use_rlm=use_rlm)

    monkeypatch.setattr(DagsterPipeline, "audit", dies_after_one_audit)
    # The runs read the settings resource: the one loaded with the debug log switched on.
    daemon = Daemon(instance, {**audit_resources, "settings": get_settings()})
    daemon.tick()
    [dead] = daemon.results
    assert not dead.success  # the Dagster run failed; the automation run was left running
    with Session(sync_engine) as session:
        [run] = session.scalars(
            select(AutomationRun).where(AutomationRun.schedule_id == schedule_id, AutomationRun.status != "missed")
        ).all()
        assert run.status == "running"
        run_id = run.id

    [resumed] = daemon.tick()  # the restarted daemon's tick
    assert resumed.run_key is not None
    assert resumed.run_key.endswith(":resume-1")
    assert daemon.results[1].success

    with Session(sync_engine) as session:
        run = session.get_one(AutomationRun, run_id)
        results = session.scalars(
            select(AutomationRunFicheResult).where(AutomationRunFicheResult.run_id == run_id)
        ).all()
        audits = session.execute(
            select(Audit.fiche_id, func.count()).where(Audit.automation_run_id == run_id).group_by(Audit.fiche_id)
        ).all()
        notices = session.scalars(
            select(AutomationNotification.key).where(AutomationNotification.run_id == run_id)
        ).all()
    successful = {r.fiche_id for r in results if r.status == "successful"}
    assert len(successful) == 3
    assert dict(audits) == dict.fromkeys(successful, 1)  # the audit made before the death is reused
    assert run.total_fiches == len(results) == run.successful_fiches + run.failed_fiches + run.ignored_fiches
    assert (run.status, run.resumes) == ("completed", 1)
    assert notices == [f"automation-run:{run_id}:email:qualite@example.test"]
    assert daemon.tick() == []  # finished: nothing more is asked
    # AUTOMATION_DEBUG_LOG_TO_FILE: both executions wrote to the run's file, the second one appending.
    lines = debug_log_path(debug_logs, run_id).read_text(encoding="utf-8").splitlines()
    assert sum("Run started" in line for line in lines) == 2
    assert "Run completed" in lines[-1]
