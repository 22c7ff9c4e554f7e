"""The day flows on its own: the sales schedule's run, then the automation sensors' runs, down to audits.

The daemon's part is played by `Daemon`: it evaluates the schedule and the sensors as a tick would
(keeping their cursors) and runs each request's job on the real assets, real database, Redis and
simulator. Nothing is launched by hand after the schedule's tick.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import dagster as dg
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from assets.audits import audits
from assets.fiches import fiche_details, sales_fiches
from assets.transcripts import transcripts
from domain.models import Audit, Fiche, FicheTranscription, Scorecard
from orchestration.definitions import defs
from orchestration.jobs import (
    audit_sales_day_job,
    sync_sales_day_job,
    transcribe_fiches_job,
    transcribe_sales_day_job,
)
from orchestration.sensors.automation import audit_automatic_scorecards, transcribe_fetched_fiches
from orchestration.sensors.partitions import sync_scorecard_partitions
from runs.contract import TranscribeFiches
from tests.fixtures.audit_day import DAY

JOB_ASSETS: dict[str, list[Any]] = {
    "sync_sales_day": [sales_fiches, fiche_details],
    "transcribe_sales_day": [transcripts],
    "audit_sales_day": [audits],
}


class Daemon:
    """Schedule and sensor ticks with their cursors kept, and each requested run executed."""

    def __init__(self, instance: dg.DagsterInstance, resources: dict[str, Any]) -> None:
        self.instance = instance
        self.resources = resources
        self.cursors: dict[str, str | None] = {}
        self.run_keys: set[str] = set()
        self.runs: list[tuple[str, str]] = []

    def execute(self, job_name: str, request: dg.RunRequest) -> None:
        if request.run_key is not None:
            if request.run_key in self.run_keys:  # the daemon skips a run key it has already launched
                return
            self.run_keys.add(request.run_key)
        result = dg.materialize(
            JOB_ASSETS[job_name],
            partition_key=request.partition_key,
            resources=self.resources,
            instance=self.instance,
            tags=request.tags,
        )
        assert result.success
        self.runs.append((job_name, str(request.partition_key)))

    def schedule_tick(self, at: dt.datetime) -> None:
        with dg.build_schedule_context(instance=self.instance, scheduled_execution_time=at) as context:
            request = defs().resolve_schedule_def("refresh_today_sales")(context)
        assert isinstance(request, dg.RunRequest)
        self.execute("sync_sales_day", request)

    def sensor_tick(self, sensor: dg.SensorDefinition) -> int:
        """One tick; how many runs it launched."""
        with (
            dg.build_sensor_context(
                instance=self.instance,
                resources={"database": self.resources["database"], "settings": self.resources["settings"]},
                definitions=defs(),
                cursor=self.cursors.get(sensor.name),
            ) as context,
            dg.partition_loading_context(dynamic_partitions_store=self.instance),
        ):
            data = sensor.evaluate_tick(context)
        self.cursors[sensor.name] = data.cursor
        for added in data.dynamic_partitions_requests or []:
            assert isinstance(added, dg.AddDynamicPartitionsRequest)
            self.instance.add_dynamic_partitions(added.partitions_def_name, list(added.partition_keys))
        before = len(self.runs)
        for request in data.run_requests or []:
            self.execute(sensor.job_name or "", request)
        return len(self.runs) - before


def _automatic(engine: Engine, scorecard_id: int) -> None:
    with Session(engine) as session, session.begin():
        session.get_one(Scorecard, scorecard_id).run_automatically = True


def test_the_sales_schedule_day_ends_audited_without_a_manual_launch(
    instance: dg.DagsterInstance, audit_resources: dict[str, Any], scorecard_id: int, sync_engine: Engine
) -> None:
    _automatic(sync_engine, scorecard_id)
    daemon = Daemon(instance, audit_resources)
    daemon.sensor_tick(sync_scorecard_partitions)
    assert daemon.sensor_tick(transcribe_fetched_fiches) == 0  # nothing fetched yet
    assert daemon.sensor_tick(audit_automatic_scorecards) == 0

    daemon.schedule_tick(dt.datetime.fromisoformat(DAY).replace(hour=18, tzinfo=ZoneInfo("Europe/Paris")))
    assert daemon.sensor_tick(transcribe_fetched_fiches) == 1
    assert daemon.sensor_tick(audit_automatic_scorecards) == 1
    assert daemon.runs == [
        ("sync_sales_day", DAY),
        ("transcribe_sales_day", DAY),
        ("audit_sales_day", f"{DAY}|{scorecard_id}"),
    ]

    with Session(sync_engine) as session:
        fetched = set(session.scalars(select(Fiche.fiche_id).where(Fiche.fetch_status == "details")))
        complete = set(
            session.scalars(select(FicheTranscription.fiche_id).where(FicheTranscription.status == "complete"))
        )
        audited = set(session.scalars(select(Audit.fiche_id).where(Audit.status == "completed")))
    assert fetched
    assert complete == fetched
    assert audited == complete

    # Settled: later ticks ask for nothing more.
    assert daemon.sensor_tick(transcribe_fetched_fiches) == 0
    assert daemon.sensor_tick(audit_automatic_scorecards) == 0


def test_a_fiche_transcribed_through_the_api_job_is_audited_by_the_automatic_scorecard(
    instance: dg.DagsterInstance, audit_resources: dict[str, Any], scorecard_id: int, sync_engine: Engine
) -> None:
    _automatic(sync_engine, scorecard_id)
    with Session(sync_engine) as session, session.begin():
        manual = session.get_one(Scorecard, scorecard_id)
        assert manual.is_active
    assert dg.materialize([sales_fiches, fiche_details], partition_key=DAY, resources=audit_resources).success
    with Session(sync_engine) as session:
        fiche_id = session.scalar(select(Fiche.fiche_id).where(Fiche.recordings_count > 0).order_by(Fiche.fiche_id))
    assert fiche_id

    # What `POST /api/transcriptions/{id}` launches: the ad-hoc job, which materializes no asset.
    config = {"fiche_ids": [fiche_id], "priority": "normal"}
    result = transcribe_fiches_job.execute_in_process(
        run_config=TranscribeFiches.model_validate(config).run_config(), resources=audit_resources
    )
    assert result.success
    assert not result.get_asset_materialization_events()

    daemon = Daemon(instance, audit_resources)
    daemon.sensor_tick(sync_scorecard_partitions)
    assert daemon.sensor_tick(audit_automatic_scorecards) == 1
    with Session(sync_engine) as session:
        audited = list(session.scalars(select(Audit.fiche_id).where(Audit.status == "completed")))
    assert audited == [fiche_id]
    assert daemon.sensor_tick(audit_automatic_scorecards) == 0


@pytest.mark.usefixtures("clean_tables")
def test_a_fiche_dated_in_the_future_is_not_a_partition_to_request(
    instance: dg.DagsterInstance, audit_resources: dict[str, Any], sync_engine: Engine
) -> None:
    now = dt.datetime.now(dt.UTC)
    with Session(sync_engine) as session, session.begin():
        future = now.date() + dt.timedelta(days=30)
        session.add(Fiche(fiche_id="F-FUTURE", sales_date=future, fetch_status="details", fetched_at=now))
    assert Daemon(instance, audit_resources).sensor_tick(transcribe_fetched_fiches) == 0


def _requests(instance: dg.DagsterInstance, resources: dict[str, Any], sensor: dg.SensorDefinition) -> list[str]:
    with (
        dg.build_sensor_context(
            instance=instance,
            resources={"database": resources["database"], "settings": resources["settings"]},
            definitions=defs(),
        ) as context,
        dg.partition_loading_context(dynamic_partitions_store=instance),
    ):
        data = sensor.evaluate_tick(context)
    return [r.run_key or "" for r in data.run_requests or []]


@pytest.mark.usefixtures("clean_tables")
def test_a_day_being_fetched_gets_its_transcription_run_at_once_and_only_one(
    instance: dg.DagsterInstance, audit_resources: dict[str, Any]
) -> None:
    today = dt.datetime.now(ZoneInfo(audit_resources["settings"].sales_timezone)).date().isoformat()

    def run(job: Any, run_id: str) -> None:
        # A whole asset job's run carries no asset selection: what it materializes is in its job's run tags.
        tags = {**(job.run_tags or {}), "dagster/partition": today}
        instance.add_run(dg.DagsterRun(job_name=job.name, run_id=run_id, status=dg.DagsterRunStatus.STARTED, tags=tags))

    assert _requests(instance, audit_resources, transcribe_fetched_fiches) == []
    run(sync_sales_day_job, "sync-1")  # the schedule's run, its details not landed yet
    assert _requests(instance, audit_resources, transcribe_fetched_fiches) == [f"transcripts:{today}:after:sync-1"]
    run(transcribe_sales_day_job, "transcribe-1")  # launched: it takes the day's fiches as they land
    assert _requests(instance, audit_resources, transcribe_fetched_fiches) == []


def test_the_schedules_run_still_queued_gets_the_days_transcription_and_audit_runs_once(
    instance: dg.DagsterInstance, audit_resources: dict[str, Any], scorecard_id: int, sync_engine: Engine
) -> None:
    """The downstream runs start their processes while the sync run's starts (decision 105): the tick
    after the schedule's run is created asks for them, before that run has fetched anything."""
    _automatic(sync_engine, scorecard_id)
    Daemon(instance, audit_resources).sensor_tick(sync_scorecard_partitions)
    today = dt.datetime.now(ZoneInfo(audit_resources["settings"].sales_timezone)).date().isoformat()

    def queued(job: Any, run_id: str, **partition: str) -> None:
        # Created, not started: the status a run has between the tick that creates it and its dequeue.
        tags = {**(job.run_tags or {}), **partition}
        status = dg.DagsterRunStatus.NOT_STARTED
        instance.add_run(dg.DagsterRun(job_name=job.name, run_id=run_id, status=status, tags=tags))

    queued(sync_sales_day_job, "sync-1", **{"dagster/partition": today})
    assert _requests(instance, audit_resources, transcribe_fetched_fiches) == [f"transcripts:{today}:after:sync-1"]
    assert _requests(instance, audit_resources, audit_automatic_scorecards) == [
        f"audits:{today}:{scorecard_id}:after:sync-1"
    ]
    # Once queued themselves, the next ticks ask for nothing more while the day is being worked.
    queued(transcribe_sales_day_job, "transcribe-1", **{"dagster/partition": today})
    multi = {"dagster/partition/sales_day": today, "dagster/partition/scorecard": str(scorecard_id)}
    queued(audit_sales_day_job, "audit-1", **multi)
    assert _requests(instance, audit_resources, transcribe_fetched_fiches) == []
    assert _requests(instance, audit_resources, audit_automatic_scorecards) == []
