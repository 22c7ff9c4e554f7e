"""A progressive fetch's days, fetched by its backfill's runs, announce the job's progress, then its end."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any

import dagster as dg
import redis
import standardwebhooks
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from assets.fiches import fiche_details, sales_fiches
from callaudit.demo_crm.config import FamilyFaults, Faults
from domain.models import Fiche, FicheFetchJob, OutboxEvent, User, UserStatus, WebhookSubscription
from domain.outbox.secrets_box import SecretBox
from domain.outbox.signing import generate_secret
from orchestration.sensors.run_status import publish_run_failures
from resources.database import async_session_factory, create_api_engine
from resources.egress import EgressClient, EgressPolicy
from resources.outbox import OutboxWorker
from tests.fixtures.crm_simulator import Simulator
from tests.fixtures.outbox import KEY
from tests.fixtures.realtime_catalogue import catalogued
from tests.fixtures.standins.receiver import Receiver, receiving

DAYS = ["2026-03-02", "2026-03-03"]


def test_each_day_of_a_fetch_job_publishes_progress_then_the_job_completes(
    crm_resources: dict[str, Any], sync_engine: Engine, redis_client: redis.Redis
) -> None:
    job_id = str(uuid.uuid4())
    with Session(sync_engine) as session, session.begin():
        requester = User(email=f"{job_id}@example.test", status=UserStatus.ACTIVE)
        session.add(requester)
        session.flush()
        requester_id = requester.id
        session.add(
            FicheFetchJob(
                id=job_id,
                start_date=dt.date.fromisoformat(DAYS[0]),
                end_date=dt.date.fromisoformat(DAYS[-1]),
                days=DAYS,
                status="launched",
                requested_by_id=requester_id,
            )
        )
    for day in DAYS:  # the backfill's runs, tagged with the job like the API's launch tags them
        result = dg.materialize(
            [sales_fiches, fiche_details], partition_key=day, resources=crm_resources, tags={"app/job_id": job_id}
        )
        assert result.success

    events = catalogued(redis_client, f"job:{job_id}")
    assert [event for event, _ in events] == ["fiches.progressive_fetch.progress", "fiches.progressive_fetch.complete"]
    progress, complete = events[0][1], events[1][1]
    assert (progress["datesCompleted"], progress["datesRemaining"], progress["latestDate"]) == (
        DAYS[:1],
        DAYS[1:],
        DAYS[0],
    )
    assert (complete["progress"], complete["datesRemaining"], complete["status"]) == (100, [], "complete")
    assert complete["totalFiches"] > 0
    with Session(sync_engine) as session:
        job = session.get(FicheFetchJob, job_id)
        assert job is not None
        assert job.status == "complete", "the last day's run concludes the job"
    [(event, notice)] = catalogued(redis_client, f"user:{requester_id}")
    assert (event, notice["type"], notice["jobId"]) == ("notification", "success", job_id)
    assert notice["message"] == "Récupération des fiches terminée"
    assert notice["description"] == f"{complete['totalFiches']} fiche(s) du {DAYS[0]} au {DAYS[-1]}."

    again = dg.materialize([fiche_details], partition_key=DAYS[0], resources=crm_resources, tags={"app/job_id": job_id})
    assert again.success
    assert len(catalogued(redis_client, f"job:{job_id}")) == 2, "a concluded job announces nothing more"
    assert len(catalogued(redis_client, f"user:{requester_id}")) == 1


def _job(sync_engine: Engine, days: list[str]) -> str:
    job_id = str(uuid.uuid4())
    with Session(sync_engine) as session, session.begin():
        session.add(
            FicheFetchJob(
                id=job_id,
                start_date=dt.date.fromisoformat(days[0]),
                end_date=dt.date.fromisoformat(days[-1]),
                days=days,
                status="launched",
            )
        )
        session.add(WebhookSubscription(url="http://placeholder/", job_id=job_id, secret_encrypted=""))
    return job_id


async def _deliver(database_url: str, job_id: str, receiver: Receiver) -> str:
    """Point the job's subscription at `receiver`, run the outbox worker once; the secret it signs with."""
    engine = create_api_engine(database_url)
    sessions = async_session_factory(engine)
    box, secret = SecretBox(KEY), generate_secret()
    async with sessions.begin() as session:
        await session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.job_id == job_id)
            .values(url=receiver.url + "/hooks", secret_encrypted=box.seal(secret))
        )
    egress = EgressClient(EgressPolicy.build([receiver.url]))
    try:
        await OutboxWorker(sessions, egress, box=box, mailer=None).run_once()
    finally:
        await egress.aclose()
        await engine.dispose()
    return secret


def test_the_last_days_run_queues_the_jobs_webhook_though_nobody_reads_the_job(
    crm_resources: dict[str, Any], sync_engine: Engine, database_url: str
) -> None:
    job_id = _job(sync_engine, DAYS)
    for day in DAYS:
        result = dg.materialize(
            [sales_fiches, fiche_details], partition_key=day, resources=crm_resources, tags={"app/job_id": job_id}
        )
        assert result.success

    with Session(sync_engine) as session:
        [event] = session.scalars(select(OutboxEvent).where(OutboxEvent.job_id == job_id)).all()
        cached = (
            session.scalar(
                select(func.count()).where(
                    Fiche.sales_date.between(dt.date.fromisoformat(DAYS[0]), dt.date.fromisoformat(DAYS[-1]))
                )
            )
            or 0
        )
    assert event.event_type == "fiches.progressive_fetch.complete"
    with receiving() as receiver:
        secret = asyncio.run(_deliver(database_url, job_id, receiver))
        [request] = receiver.requests
    sent = standardwebhooks.Webhook(secret).verify(request.body.decode(), request.headers)
    assert (sent["event"], sent["jobId"], sent["type"]) == ("complete", job_id, "fiches.progressive_fetch.complete")
    data = sent["data"]
    assert (data["status"], data["progress"], data["datesCompleted"], data["datesRemaining"]) == (
        "complete",
        100,
        DAYS,
        [],
    )
    assert cached > 0
    assert data["totalFiches"] == cached
    assert data["dataUrl"].endswith(f"start_date={DAYS[0]}&end_date={DAYS[-1]}")


def test_a_failed_last_run_concludes_the_job_as_failed_and_queues_its_webhook(
    crm_resources: dict[str, Any], sync_engine: Engine, simulator: Simulator, redis_client: redis.Redis
) -> None:
    job_id = _job(sync_engine, DAYS)
    ok = dg.materialize(
        [sales_fiches, fiche_details], partition_key=DAYS[0], resources=crm_resources, tags={"app/job_id": job_id}
    )
    assert ok.success
    simulator.configure(Faults(search=FamilyFaults.model_validate({"error_5xx_rate": 1.0})))
    instance = dg.DagsterInstance.ephemeral()
    failed = dg.materialize(
        [sales_fiches, fiche_details],
        partition_key=DAYS[1],
        resources=crm_resources,
        tags={"app/job_id": job_id},
        instance=instance,
        raise_on_error=False,
    )
    assert not failed.success
    with Session(sync_engine) as session:
        assert session.get(FicheFetchJob, job_id).status == "launched"  # type: ignore[union-attr]

    with dg.build_run_status_sensor_context(
        sensor_name=publish_run_failures.name,
        dagster_event=failed.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=failed.dagster_run,
        resources={key: crm_resources[key] for key in ("redis", "database", "settings")},
    ) as context:
        publish_run_failures(context.for_run_failure())

    with Session(sync_engine) as session:
        job = session.get(FicheFetchJob, job_id)
        assert job is not None
        assert (job.status, job.error) == ("failed", "1 day(s) failed")
        [event] = session.scalars(select(OutboxEvent).where(OutboxEvent.job_id == job_id)).all()
    assert event.event_type == "fiches.progressive_fetch.failed"
    assert (event.payload["datesCompleted"], event.payload["datesFailed"]) == (DAYS[:1], DAYS[1:])
    published = [name for name, _ in catalogued(redis_client, f"job:{job_id}")]
    assert published[-2:] == ["run.failed", "fiches.progressive_fetch.failed"]
