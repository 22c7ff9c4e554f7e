"""Pure parts of the outbox: retry schedule, signatures (against the reference library), secrets at rest."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
import standardwebhooks

from callaudit.settings import load_settings
from domain.outbox.queue import new_delivery_id
from domain.outbox.schedule import next_attempt, parse_retry_after
from domain.outbox.secrets_box import SecretBox, SecretsUnavailable
from domain.outbox.signing import generate_secret, signing_key, standard_signature, webhook_headers
from resources.outbox.runner import secrets_key

NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)


@pytest.mark.parametrize("seed", range(20))
def test_each_retry_is_its_delay_within_the_jitter(seed: int) -> None:
    rng = random.Random(seed)
    schedule = (5, 300, 1800)
    for attempt, delay in enumerate(schedule, start=1):
        due = next_attempt(NOW, attempt, schedule, rng=rng)
        assert due is not None
        assert dt.timedelta(seconds=delay * 0.8) <= due - NOW <= dt.timedelta(seconds=delay * 1.2)
    assert next_attempt(NOW, len(schedule) + 1, schedule, rng=rng) is None


def test_retry_after_stretches_a_delay_but_never_past_the_longest() -> None:
    rng = random.Random(1)
    due = next_attempt(NOW, 1, (5, 60), retry_after=30, rng=rng)
    assert due is not None
    assert due - NOW >= dt.timedelta(seconds=24)
    capped = next_attempt(NOW, 1, (5, 60), retry_after=10_000, rng=rng)
    assert capped is not None
    assert capped - NOW <= dt.timedelta(seconds=72)


def test_parse_retry_after() -> None:
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after("Mon, 02 Mar 2026 09:32:00 GMT", NOW) == 120.0
    assert parse_retry_after("soon", NOW) is None
    assert parse_retry_after(None, NOW) is None


def test_our_signature_is_the_reference_librarys() -> None:
    secret = generate_secret()
    msg_id, body = new_delivery_id(), '{"type":"audit.completed","data":{"é":1}}'
    ours = standard_signature(secret, msg_id, int(NOW.timestamp()), body)
    assert ours == standardwebhooks.Webhook(secret).sign(msg_id, NOW, body)
    headers = webhook_headers(
        secret=secret, msg_id=msg_id, body=body, now=dt.datetime.now(dt.UTC), event="e", attempt=1
    )
    assert standardwebhooks.Webhook(secret).verify(body, headers) == {"type": "audit.completed", "data": {"é": 1}}


def test_a_plain_secret_signs_with_its_own_bytes() -> None:
    assert signing_key("a-receiver-chosen-secret") == b"a-receiver-chosen-secret"
    headers = webhook_headers(
        secret="a-receiver-chosen-secret", msg_id="msg_x", body="{}", now=dt.datetime.now(dt.UTC), event="e", attempt=2
    )
    assert standardwebhooks.Webhook(b"a-receiver-chosen-secret").verify("{}", headers) == {}


def test_secrets_are_sealed_and_only_open_with_their_key() -> None:
    box = SecretBox("a" * 40)
    sealed = box.seal("whsec_abc")
    assert "whsec_abc" not in sealed
    assert box.open(sealed) == "whsec_abc"
    with pytest.raises(SecretsUnavailable):
        SecretBox("b" * 40).open(sealed)
    with pytest.raises(SecretsUnavailable):
        SecretBox(None)


def test_delivery_ids_are_unique_and_safe_in_the_signed_content() -> None:
    ids = {new_delivery_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all("." not in i and i.startswith("msg_") for i in ids)


def test_development_gets_a_stable_generated_key_production_none(tmp_path: Path) -> None:
    dev = load_settings(callaudit_home=tmp_path, jwt_access_secret=None)
    first = secrets_key(dev)
    assert first
    assert secrets_key(dev) == first
    assert (tmp_path / "webhook-dev.key").stat().st_mode & 0o777 == 0o600
    configured = load_settings(callaudit_home=tmp_path, webhook_secrets_key="k" * 40)
    assert secrets_key(configured) == "k" * 40
