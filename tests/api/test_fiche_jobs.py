"""Progressive fetch jobs: the scoped list, the polling view, `webhookUrl`, and their outbox events."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import redis
from sqlalchemy import select, update

from domain.models import OutboxEvent, SalesDayCoverage, WebhookSubscription
from domain.outbox.catalogue import EVENTS
from domain.outbox.fanout import build_body, may_receive, subscriber_subject
from domain.rbac import Scope
from tests.fixtures.factories.aio import add_day_fiches
from tests.fixtures.fakes import RecordingLauncher
from tests.fixtures.realtime_catalogue import catalogued
from tests.fixtures.world import World

HOOK = "http://127.0.0.1:9/hooks"  # allowlisted in the API test settings


async def _range(client: httpx.AsyncClient, world: World, who: str, **params: str) -> httpx.Response:
    return await client.get("/api/fiches/status/by-date-range", params=params, headers=world.headers(who))


async def test_webhook_url_subscribes_the_job_and_its_outcome_is_scoped(
    client: httpx.AsyncClient, world: World, launcher: RecordingLauncher
) -> None:
    day = dt.date(2025, 7, 1)
    await add_day_fiches(world.session, day, "G-OWN", 2, "julown")
    await add_day_fiches(world.session, day, "G-OTHER", 3, "juloth")
    await world.commit()
    response = await _range(client, world, "operator", start_date="2025-07-01", end_date="2025-07-01", webhookUrl=HOOK)
    assert response.status_code == 200, response.text
    meta = response.json()["meta"]
    job_id = meta["job_id"]
    secret = meta["webhook_secret"]
    assert secret.startswith("whsec_")
    subscription = await world.session.scalar(
        select(WebhookSubscription).where(WebhookSubscription.id == int(meta["webhook_subscription_id"]))
    )
    assert subscription is not None
    assert (subscription.job_id, subscription.owner_user_id) == (job_id, world.users["operator"])
    assert secret not in subscription.secret_encrypted

    # the job concludes when polled: its outcome is queued in that same transaction
    world.session.add(SalesDayCoverage(sales_date=day, status="fetched", fiche_count=5))
    await world.session.execute(
        update(SalesDayCoverage)
        .where(SalesDayCoverage.sales_date == day)
        .values(updated_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5))
    )
    await world.commit()
    launcher.backfill = "COMPLETED_SUCCESS"
    polled = await client.get(
        "/api/fiches/webhooks/fiches", params={"jobId": job_id}, headers=world.headers("operator")
    )
    assert polled.status_code == 200, polled.text
    body = polled.json()
    assert (body["jobId"], body["event"]) == (job_id, "complete")
    assert sorted(f["ficheId"] for f in body["data"]["partialData"]) == ["julown000", "julown001"]
    assert body["data"]["currentFichesCount"] == 2
    assert body["data"]["dataUrl"].endswith("start_date=2025-07-01&end_date=2025-07-01")
    admin_view = await client.get(
        "/api/fiches/webhooks/fiches", params={"jobId": job_id}, headers=world.headers("admin")
    )
    assert admin_view.json()["data"]["currentFichesCount"] == 5

    [event] = (await world.session.scalars(select(OutboxEvent).where(OutboxEvent.job_id == job_id))).all()
    assert event.event_type == "fiches.progressive_fetch.complete"
    assert event.actor_user_id == world.users["operator"]
    # what the requester's URL receives: the range's fiches in the operator's scope only (§13.2 #5)
    rule = EVENTS[event.event_type]
    subject = await subscriber_subject(world.session, subscription, rule.permission, Scope.ALL)
    assert subject is not None
    assert await may_receive(world.session, subscription, subject, event, rule)
    sent = json.loads(await build_body(world.session, event, rule, subject))
    assert (sent["event"], sent["jobId"], sent["type"]) == ("complete", job_id, "fiches.progressive_fetch.complete")
    assert sorted(f["ficheId"] for f in sent["data"]["partialData"]) == ["julown000", "julown001"]


async def test_webhook_url_is_ssrf_checked(client: httpx.AsyncClient, world: World) -> None:
    for url in ("http://169.254.169.254/latest", "http://[::ffff:127.0.0.1]/", "http://user:pw@example.com/"):
        response = await _range(
            client, world, "operator", start_date="2025-07-10", end_date="2025-07-10", webhookUrl=url
        )
        assert response.status_code == 400
        assert response.json()["field"] == "webhookUrl"
    short = await _range(
        client, world, "operator", start_date="2025-07-10", end_date="2025-07-10", webhookUrl=HOOK, webhookSecret="x"
    )
    assert short.status_code == 400


async def test_a_given_secret_is_used_and_not_echoed(client: httpx.AsyncClient, world: World) -> None:
    response = await _range(
        client,
        world,
        "operator",
        start_date="2025-07-12",
        end_date="2025-07-12",
        webhookUrl=HOOK,
        webhookSecret="a-receiver-chosen-secret",
    )
    meta = response.json()["meta"]
    assert meta["webhook_subscription_id"]
    assert meta["webhook_secret"] is None
    assert "a-receiver-chosen-secret" not in response.text


async def test_failed_launch_is_announced(client: httpx.AsyncClient, world: World, launcher: RecordingLauncher) -> None:
    launcher.fail = True
    response = await _range(client, world, "operator", start_date="2025-07-20", end_date="2025-07-20")
    job_id = response.json()["meta"]["job_id"]
    [event] = (await world.session.scalars(select(OutboxEvent).where(OutboxEvent.job_id == job_id))).all()
    assert event.event_type == "fiches.progressive_fetch.failed"
    assert event.payload["status"] == "failed"


async def test_jobs_list_is_scoped(client: httpx.AsyncClient, world: World) -> None:
    mine = await world.add_fetch_job("operator")
    theirs = await world.add_fetch_job("other")
    await world.commit()
    operator = (await client.get("/api/fiches/jobs", headers=world.headers("operator"))).json()
    ids = {j["id"] for j in operator["data"]}
    assert mine in ids
    assert theirs not in ids
    assert all(j["requested_by_me"] for j in operator["data"])
    admin = (await client.get("/api/fiches/jobs", headers=world.headers("admin"))).json()
    assert {mine, theirs} <= {j["id"] for j in admin["data"]}
    launched = await client.get("/api/fiches/jobs", params={"status": "complete"}, headers=world.headers("admin"))
    assert mine not in {j["id"] for j in launched.json()["data"]}


async def test_unknown_job_is_404(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(
        "/api/fiches/webhooks/fiches",
        params={"jobId": "00000000-0000-0000-0000-000000000000"},
        headers=world.headers("operator"),
    )
    assert response.status_code == 404


async def test_the_created_event_counts_the_fiches_already_cached_in_the_range(
    client: httpx.AsyncClient, world: World, redis_client: redis.Redis
) -> None:
    cached = dt.date(2025, 7, 14)
    await add_day_fiches(world.session, cached, "G-OWN", 2, "juicac")
    await add_day_fiches(world.session, cached, "G-OTHER", 1, "juicad")
    world.session.add(SalesDayCoverage(sales_date=cached, status="fetched", fiche_count=3))
    await world.commit()
    response = await _range(client, world, "operator", start_date="2025-07-14", end_date="2025-07-15")
    job_id = response.json()["meta"]["job_id"]
    [(name, created)] = catalogued(redis_client, f"job:{job_id}")
    assert name == "fiches.progressive_fetch.created"
    assert (created["totalFiches"], created["totalDays"], created["datesRemaining"]) == (3, 1, ["2025-07-15"])
