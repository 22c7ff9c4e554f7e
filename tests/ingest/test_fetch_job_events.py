"""A progressive fetch's days, fetched by its backfill's runs, announce the job's progress, then its end."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import dagster as dg
import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from assets.fiches import fiche_details, sales_fiches
from domain.models import FicheFetchJob
from tests.realtime.catalogue import catalogued

DAYS = ["2026-03-02", "2026-03-03"]


def test_each_day_of_a_fetch_job_publishes_progress_then_the_job_completes(
    crm_resources: dict[str, Any], sync_engine: Engine, redis_client: redis.Redis
) -> None:
    job_id = str(uuid.uuid4())
    with Session(sync_engine) as session, session.begin():
        session.add(
            FicheFetchJob(
                id=job_id,
                start_date=dt.date.fromisoformat(DAYS[0]),
                end_date=dt.date.fromisoformat(DAYS[-1]),
                days=DAYS,
                status="launched",
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

    again = dg.materialize([fiche_details], partition_key=DAYS[0], resources=crm_resources, tags={"app/job_id": job_id})
    assert again.success
    assert len(catalogued(redis_client, f"job:{job_id}")) == 2, "a concluded job announces nothing more"
