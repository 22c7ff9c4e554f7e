"""A sales day audited through the real `audits` asset and the ad-hoc job, heuristic auditor."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, cast

import dagster as dg
import redis
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from assets.audits import audits
from assets.fiches import fiche_details, sales_fiches
from assets.transcripts import transcripts
from domain.audits.auditor import TranscriptMode
from domain.audits.store import AuditInputs, Trigger, queue_audits, start_audit
from domain.models import (
    Audit,
    AuditCitation,
    AuditStep,
    Fiche,
    FicheTranscription,
    Scorecard,
    ScorecardVersion,
    TranscriptChunk,
)
from domain.scorecards.service import (
    current_spec,
    demo_document,
    draft_of,
    get_scorecard,
    import_document,
    new_version,
)
from orchestration.definitions import defs
from orchestration.jobs import audit_fiches_job
from orchestration.sensors.automation import audit_automatic_scorecards
from orchestration.sensors.partitions import sync_scorecard_partitions
from runs.contract import AuditFiches
from tests.fixtures.audit_day import DAY
from tests.fixtures.audit_runs import materialize_audits
from tests.fixtures.realtime_catalogue import catalogued


def _audits(engine: Engine) -> list[Audit]:
    with Session(engine) as session:
        return list(session.scalars(select(Audit).order_by(Audit.fiche_id, Audit.version)))


def test_a_day_is_audited_once_then_again_for_a_new_scorecard_version(
    instance: dg.DagsterInstance,
    audit_resources: dict[str, Any],
    transcribed_day: list[str],
    scorecard_id: int,
    sync_engine: Engine,
) -> None:
    first = materialize_audits(instance, audit_resources, scorecard_id)
    assert transcribed_day
    assert first["audited"] == len(transcribed_day)
    assert (first["failed"], first["unchanged"]) == (0, 0)
    assert first["citations_kept"] > 0
    assert sum(first["levels"].values()) == len(transcribed_day)
    rows = _audits(sync_engine)
    assert [a.fiche_id for a in rows] == transcribed_day
    assert {(a.status, a.auditor, a.is_latest, a.version) for a in rows} == {("completed", "heuristic", True, 1)}
    old_version = rows[0].scorecard_version_id
    with Session(sync_engine) as session:
        steps = session.scalar(select(func.count()).select_from(AuditStep))
        spec = session.get_one(ScorecardVersion, old_version).spec()
        # Every stored citation is inside its chunk's time span: located to the second by word timings.
        spans = session.execute(
            select(AuditCitation.start_seconds, AuditCitation.end_seconds, TranscriptChunk.start_seconds).join(
                TranscriptChunk, TranscriptChunk.chunk_id == AuditCitation.chunk_id
            )
        ).all()
    assert steps == len(spec.steps) * len(transcribed_day)
    assert spans
    assert all(chunk_start <= start <= end for start, end, chunk_start in spans)

    assert first["covers_the_day"] is True
    assert (first["day_fiches"], first["day_audited"], first["day_not_ready"]) == (len(transcribed_day),) * 2 + (0,)
    assert first["day_average_score"] == first["average_score"]

    # Nothing to do: no materialization, so the partition keeps the first run's figures.
    assert materialize_audits(instance, audit_resources, scorecard_id) == {}
    assert len(_audits(sync_engine)) == len(rows)
    key = dg.MultiPartitionKey({"sales_day": DAY, "scorecard": str(scorecard_id)})
    [latest] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=audits.key, asset_partitions=[key]), limit=1
    ).records
    assert latest.asset_materialization is not None
    assert latest.asset_materialization.metadata["day_audited"].value == len(transcribed_day)

    with Session(sync_engine) as session, session.begin():
        scorecard = get_scorecard(session, scorecard_id, for_update=True)
        draft = draft_of(session.get_one(ScorecardVersion, old_version))
        new_version(session, scorecard, draft.__class__(**{**draft.__dict__, "system_prompt": "Soyez strict."}))
    third = materialize_audits(instance, audit_resources, scorecard_id)
    assert third["audited"] == len(transcribed_day)
    rows = _audits(sync_engine)
    assert len(rows) == 2 * len(transcribed_day)
    old, new = [a for a in rows if a.version == 1], [a for a in rows if a.version == 2]
    assert {a.scorecard_version_id for a in old} == {old_version}
    assert len({a.scorecard_version_id for a in new}) == 1
    assert new[0].scorecard_version_id != old_version
    assert all(a.is_latest for a in new)
    assert not any(a.is_latest for a in old)


def test_partially_transcribed_fiches_wait(
    instance: dg.DagsterInstance,
    audit_resources: dict[str, Any],
    transcribed_day: list[str],
    scorecard_id: int,
    sync_engine: Engine,
) -> None:
    partial = transcribed_day[0]
    with Session(sync_engine) as session, session.begin():
        session.get_one(FicheTranscription, partial).status = "partial"
    figures = materialize_audits(instance, audit_resources, scorecard_id)
    # The run takes only fiches whose transcription is complete; the day's state names the others.
    assert figures["not_ready"] == 0
    assert figures["day_not_ready"] >= 1
    assert figures["covers_the_day"] is False  # the partition is not reported done
    assert partial not in {a.fiche_id for a in _audits(sync_engine)}


def test_the_ad_hoc_job_transcribes_then_audits_and_publishes_events(
    audit_resources: dict[str, Any], scorecard_id: int, sync_engine: Engine, redis_client: redis.Redis
) -> None:
    assert dg.materialize([sales_fiches, fiche_details], partition_key=DAY, resources=audit_resources).success
    with Session(sync_engine) as session:
        assert session.scalar(select(func.count()).select_from(FicheTranscription)) == 0
        fiche_id = session.scalar(select(Fiche.fiche_id).where(Fiche.recordings_count > 0).order_by(Fiche.fiche_id))
    assert fiche_id
    config = {"fiche_ids": [fiche_id], "scorecard_id": scorecard_id, "trigger_source": "api", "user_id": None}
    result = audit_fiches_job.execute_in_process(
        run_config=AuditFiches.model_validate(config).run_config(),
        resources=audit_resources,
    )
    assert result.success
    [audit] = _audits(sync_engine)
    assert (audit.fiche_id, audit.status, audit.trigger_source, audit.run_id) == (
        fiche_id,
        "completed",
        "api",
        result.run_id,
    )
    events = [event for event, _ in catalogued(redis_client, f"audit:{audit.id}")]
    assert events[-1] == "audit.completed"
    assert events[:3] == ["audit.config_loaded", "audit.transcription_check", "audit.started"]
    assert {"audit.step_completed", "audit.progress", "audit.compliance_calculated"} <= set(events)
    on_fiche = [event for event, _ in catalogued(redis_client, f"fiche:{fiche_id}")]
    assert on_fiche[0] == "transcription.started"
    assert {"transcription.recording_started", "transcription.progress", "audit.completed"} <= set(on_fiche)
    batches = catalogued(redis_client, f"job:{result.run_id}")
    completed = [(p["operation_type"], p["total"], p["completed"]) for e, p in batches if e == "batch.completed"]
    assert completed == [("transcription", 1, 1), ("audit", 1, 1)]


def test_sensors_keep_scorecard_partitions_and_audit_automatic_scorecards(
    instance: dg.DagsterInstance,
    audit_resources: dict[str, Any],
    transcribed_day: list[str],
    scorecard_id: int,
    sync_engine: Engine,
) -> None:
    with Session(sync_engine) as session, session.begin():
        session.get_one(Scorecard, scorecard_id).run_automatically = True
        manual = import_document(session, {**demo_document(), "name": "Manuelle"}).scorecard.id
    resources = {"database": audit_resources["database"], "settings": audit_resources["settings"]}
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        result = sync_scorecard_partitions(context)
    assert isinstance(result, dg.SensorResult)
    [added] = result.dynamic_partitions_requests or []
    assert isinstance(added, dg.AddDynamicPartitionsRequest)
    assert set(added.partition_keys) == {str(scorecard_id), str(manual)}
    instance.add_dynamic_partitions("scorecards", list(added.partition_keys))  # what the daemon does with it

    assert dg.materialize([transcripts], partition_key=DAY, resources=audit_resources, instance=instance).success
    with (
        dg.build_sensor_context(instance=instance, resources=resources, definitions=defs()) as context,
        dg.partition_loading_context(dynamic_partitions_store=instance),
    ):
        requests = audit_automatic_scorecards.evaluate_tick(context).run_requests or []
    assert [r.partition_key for r in requests] == [
        dg.MultiPartitionKey({"sales_day": DAY, "scorecard": str(scorecard_id)})
    ]


def test_the_automatic_audits_follow_every_day_transcribed_between_two_ticks(
    instance: dg.DagsterInstance, audit_resources: dict[str, Any], scorecard_id: int, sync_engine: Engine
) -> None:
    with Session(sync_engine) as session, session.begin():
        session.get_one(Scorecard, scorecard_id).run_automatically = True
    instance.add_dynamic_partitions("scorecards", [str(scorecard_id)])
    resources = {"database": audit_resources["database"], "settings": audit_resources["settings"]}

    cursor: list[str | None] = [None]  # what the daemon keeps between ticks
    launched: set[str | None] = set()  # run keys: the daemon never launches one twice

    def tick() -> list[str]:
        with (
            dg.build_sensor_context(
                instance=instance, resources=resources, definitions=defs(), cursor=cursor[0]
            ) as ctx,
            dg.partition_loading_context(dynamic_partitions_store=instance),
        ):
            result = audit_automatic_scorecards.evaluate_tick(ctx)
        cursor[0] = result.cursor or cursor[0]
        new = [r for r in result.run_requests or [] if r.run_key not in launched]
        launched.update(r.run_key for r in new)
        return [cast(dg.MultiPartitionKey, r.partition_key).keys_by_dimension["sales_day"] for r in new]

    days = ["2026-03-03", "2026-03-04", "2026-03-05"]
    day_assets = [sales_fiches, fiche_details, transcripts]
    assert dg.materialize(day_assets, partition_key=days[0], resources=audit_resources, instance=instance).success
    assert tick() == days[:1]
    for day in days[1:]:  # a backfill: two days land before the next tick
        assert dg.materialize(day_assets, partition_key=day, resources=audit_resources, instance=instance).success
    assert tick() == days[1:]
    assert tick() == []


def test_the_run_takes_over_the_audit_queued_at_launch(
    audit_resources: dict[str, Any], scorecard_id: int, sync_engine: Engine
) -> None:
    assert dg.materialize([sales_fiches, fiche_details], partition_key=DAY, resources=audit_resources).success
    with Session(sync_engine) as session, session.begin():
        fiche_id = session.scalar(select(Fiche.fiche_id).where(Fiche.recordings_count > 0).order_by(Fiche.fiche_id))
        assert fiche_id
        run_id = str(uuid.uuid4())
        [queued] = queue_audits(
            session, [fiche_id], current_spec(session, scorecard_id), Trigger("api", None, run_id), use_rlm=False
        )
    config = {"fiche_ids": [fiche_id], "scorecard_id": scorecard_id, "trigger_source": "api", "user_id": None}
    result = audit_fiches_job.execute_in_process(
        run_config=AuditFiches.model_validate(config).run_config(), resources=audit_resources, run_id=run_id
    )
    assert result.success
    [audit] = _audits(sync_engine)
    assert (audit.id, audit.status, audit.run_id, audit.auditor) == (queued, "completed", run_id, "heuristic")
    assert audit.is_latest


def test_auditing_a_day_before_its_transcripts_materializes_nothing(
    instance: dg.DagsterInstance, audit_resources: dict[str, Any], scorecard_id: int, sync_engine: Engine
) -> None:
    assert dg.materialize([sales_fiches, fiche_details], partition_key=DAY, resources=audit_resources).success
    assert materialize_audits(instance, audit_resources, scorecard_id) == {}  # every fiche not ready: not green
    assert _audits(sync_engine) == []


def test_a_run_that_audited_nothing_does_not_report_success(
    instance: dg.DagsterInstance,
    audit_resources: dict[str, Any],
    transcribed_day: list[str],
    scorecard_id: int,
    sync_engine: Engine,
) -> None:
    """Drill 3: runs reported SUCCESS with `in_flight: N`, having audited nothing."""
    with Session(sync_engine) as session, session.begin():
        spec = current_spec(session, scorecard_id)
        inputs = AuditInputs(spec.version_id, "t", "heuristic", None, "p", TranscriptMode.PROMPT)
        now = dt.datetime.now(dt.UTC)  # a live worker elsewhere: fresh heartbeat
        busy = start_audit(session, transcribed_day[0], spec, inputs, Trigger(run_id="other"), use_rlm=False, now=now)
    assert busy is not None
    instance.add_dynamic_partitions("scorecards", [str(scorecard_id)])
    result = dg.materialize(
        [audits],
        partition_key=dg.MultiPartitionKey({"sales_day": DAY, "scorecard": str(scorecard_id)}),
        resources=audit_resources,
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "another run is auditing them" in str(failure.step_failure_data.error)
