"""`/api/webhooks`: the secret is shown once, URLs are SSRF-checked, subscriptions stay with their owner."""

from __future__ import annotations

import datetime as dt

import httpx
from sqlalchemy import select

from domain.models import OutboxDelivery, WebhookSubscription
from domain.outbox.secrets_box import SecretBox
from tests.fixtures.world import World

HOOK = "http://127.0.0.1:9/hooks"  # allowlisted in the API test settings


async def test_secret_is_shown_once_and_stored_encrypted(client: httpx.AsyncClient, world: World) -> None:
    created = await client.post(
        "/api/webhooks/subscriptions",
        json={"url": HOOK, "event_types": ["audit.completed"]},
        headers=world.headers("operator"),
    )
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    secret = data["secret"]
    assert secret.startswith("whsec_")
    assert data["owner_user_id"] == str(world.users["operator"])
    again = await client.get(f"/api/webhooks/subscriptions/{data['id']}", headers=world.headers("operator"))
    assert "secret" not in again.json()["data"]
    listed = await client.get("/api/webhooks/subscriptions", headers=world.headers("operator"))
    assert secret not in listed.text
    stored = await world.session.scalar(select(WebhookSubscription).where(WebhookSubscription.id == int(data["id"])))
    assert stored is not None
    assert secret not in stored.secret_encrypted
    assert SecretBox(world.settings.webhook_secrets_source).open(stored.secret_encrypted) == secret


async def test_private_urls_are_refused_naming_the_field(client: httpx.AsyncClient, world: World) -> None:
    for url in ("http://10.0.0.1/x", "http://[::1]:8080/", "http://169.254.169.254/", "ftp://example.com/x"):
        response = await client.post(
            "/api/webhooks/subscriptions", json={"url": url}, headers=world.headers("operator")
        )
        assert response.status_code == 400, url
        assert response.json()["field"] == "url"
    patch_target = await client.post("/api/webhooks/subscriptions", json={"url": HOOK}, headers=world.headers("admin"))
    subscription_id = patch_target.json()["data"]["id"]
    response = await client.patch(
        f"/api/webhooks/subscriptions/{subscription_id}",
        json={"url": "http://127.0.0.1:10/"},  # loopback outside the allowlist
        headers=world.headers("admin"),
    )
    assert response.status_code == 400
    assert response.json()["field"] == "url"


async def test_team_subscriptions_need_all_scope(client: httpx.AsyncClient, world: World) -> None:
    body = {"url": HOOK, "team_id": str(world.teams["own"])}
    refused = await client.post("/api/webhooks/subscriptions", json=body, headers=world.headers("operator"))
    assert refused.status_code == 403
    created = await client.post("/api/webhooks/subscriptions", json=body, headers=world.headers("admin"))
    assert created.status_code == 201
    assert created.json()["data"]["team_id"] == str(world.teams["own"])
    assert created.json()["data"]["owner_user_id"] is None


async def test_redeliver_a_disabled_subscription_is_a_conflict(client: httpx.AsyncClient, world: World) -> None:
    created = await client.post("/api/webhooks/subscriptions", json={"url": HOOK}, headers=world.headers("operator"))
    subscription_id = int(created.json()["data"]["id"])
    world.session.add(
        OutboxDelivery(
            id="msg_redeliver_test_0001",
            channel="webhook",
            subscription_id=subscription_id,
            event_type="audit.completed",
            body="{}",
            status="failed",
            attempts=8,
            next_attempt_at=dt.datetime.now(dt.UTC),
        )
    )
    await world.commit()
    redeliver = "/api/webhooks/deliveries/msg_redeliver_test_0001/redeliver"
    ok = await client.post(redeliver, headers=world.headers("operator"))
    assert ok.status_code == 202
    assert (ok.json()["data"]["status"], ok.json()["data"]["attempts"]) == ("pending", 8)
    await client.patch(
        f"/api/webhooks/subscriptions/{subscription_id}", json={"enabled": False}, headers=world.headers("operator")
    )
    conflict = await client.post(redeliver, headers=world.headers("operator"))
    assert conflict.status_code == 409


async def test_invitation_mail_is_queued_with_the_user(client: httpx.AsyncClient, world: World, app: object) -> None:
    state = app.state.callaudit  # type: ignore[attr-defined]
    original = state.settings
    state.settings = original.model_copy(update={"smtp_host": "127.0.0.1", "smtp_from": "qualite@example.fr"})
    try:
        response = await client.post(
            "/api/admin/users", json={"email": "nouvelle@example.fr"}, headers=world.headers("admin")
        )
    finally:
        state.settings = original
    assert response.status_code == 201, response.text
    token = response.json()["data"]["invite_token"]
    mail = (await world.session.scalars(select(OutboxDelivery).where(OutboxDelivery.channel == "mail"))).one()
    assert mail.event_type == "mail.invitation"
    assert '"to": "nouvelle@example.fr"' in mail.body
    assert "Invitation à rejoindre callaudit" in mail.body
    assert token in mail.body


async def test_no_mail_without_smtp(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post(
        "/api/admin/users", json={"email": "sansmail@example.fr"}, headers=world.headers("admin")
    )
    assert response.status_code == 201
    assert (await world.session.scalars(select(OutboxDelivery).where(OutboxDelivery.channel == "mail"))).first() is None


async def test_test_event_is_queued_unless_disabled(client: httpx.AsyncClient, world: World) -> None:
    created = await client.post("/api/webhooks/subscriptions", json={"url": HOOK}, headers=world.headers("operator"))
    base = f"/api/webhooks/subscriptions/{created.json()['data']['id']}"
    queued = await client.post(f"{base}/test", headers=world.headers("operator"))
    assert queued.status_code == 202
    assert (queued.json()["data"]["event_type"], queued.json()["data"]["status"]) == ("webhook.test", "pending")
    log = await client.get(f"{base}/deliveries", headers=world.headers("operator"))
    assert [d["id"] for d in log.json()["data"]] == [queued.json()["data"]["id"]]
    await client.patch(base, json={"enabled": False}, headers=world.headers("operator"))
    refused = await client.post(f"{base}/test", headers=world.headers("operator"))
    assert refused.status_code == 409


async def _stored(world: World, subscription_id: str) -> WebhookSubscription:
    statement = select(WebhookSubscription).where(WebhookSubscription.id == int(subscription_id))
    stored = await world.session.scalar(statement.execution_options(populate_existing=True))
    assert stored is not None
    return stored


async def test_rotating_the_secret_shows_the_new_one_once_and_keeps_the_old_one_for_the_overlap(
    client: httpx.AsyncClient, world: World
) -> None:
    created = await client.post("/api/webhooks/subscriptions", json={"url": HOOK}, headers=world.headers("operator"))
    subscription_id, old = created.json()["data"]["id"], created.json()["data"]["secret"]
    before = dt.datetime.now(dt.UTC)
    rotated = await client.post(
        f"/api/webhooks/subscriptions/{subscription_id}/rotate-secret",
        json={"overlap_seconds": 3600},
        headers=world.headers("operator"),
    )
    assert rotated.status_code == 200, rotated.text
    data = rotated.json()["data"]
    new = data["secret"]
    assert new.startswith("whsec_")
    assert new != old
    ends = dt.datetime.fromisoformat(data["previous_secret_expires_at"])
    assert before + dt.timedelta(seconds=3600) <= ends <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3600)
    shown = await client.get(f"/api/webhooks/subscriptions/{subscription_id}", headers=world.headers("operator"))
    assert new not in shown.text
    assert 'secret"' not in shown.text
    assert shown.json()["data"]["previous_secret_expires_at"] == data["previous_secret_expires_at"]

    stored = await _stored(world, subscription_id)
    box = SecretBox(world.settings.webhook_secrets_source)
    assert stored.previous_secret_encrypted is not None
    assert (box.open(stored.secret_encrypted), box.open(stored.previous_secret_encrypted)) == (new, old)
    assert new not in stored.secret_encrypted
    assert old not in stored.previous_secret_encrypted

    at_once = await client.post(
        f"/api/webhooks/subscriptions/{subscription_id}/rotate-secret",
        json={"overlap_seconds": 0},
        headers=world.headers("operator"),
    )
    assert at_once.json()["data"]["previous_secret_expires_at"] is None
    assert (await _stored(world, subscription_id)).previous_secret_encrypted is None
    too_long = await client.post(
        f"/api/webhooks/subscriptions/{subscription_id}/rotate-secret",
        json={"overlap_seconds": 8 * 86400},
        headers=world.headers("operator"),
    )
    assert too_long.status_code == 400
    assert too_long.json()["field"] == "body.overlap_seconds"
