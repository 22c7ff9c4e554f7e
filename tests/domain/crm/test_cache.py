"""The §3.7 cache decision, one row of the table per case."""

from __future__ import annotations

import dataclasses
import datetime as dt
from types import SimpleNamespace

import pytest

from domain.crm.cache import (
    CacheAction,
    CacheDecision,
    CachePolicy,
    CacheReason,
    FicheCacheState,
    decide,
    has_fallback_details,
)

NOW = dt.datetime(2025, 10, 20, 12, 0, tzinfo=dt.UTC)
POLICY = CachePolicy(
    expiration=dt.timedelta(hours=240),
    force_refresh_cooldown=dt.timedelta(minutes=30),
    not_found_ttl=dt.timedelta(minutes=5),
)
FRESH = FicheCacheState(
    fetch_status="details",
    fetched_at=NOW - dt.timedelta(hours=1),
    expires_at=NOW - dt.timedelta(hours=1) + POLICY.expiration,
    recordings_count=2,
    recording_rows=2,
    recordings_without_url=0,
    has_information=True,
)


def state(**changes: object) -> FicheCacheState:
    return dataclasses.replace(FRESH, **changes)  # type: ignore[arg-type]


def minutes_ago(minutes: float) -> dt.datetime:
    return NOW - dt.timedelta(minutes=minutes)


NOT_FOUND_LIVE = state(fetch_status="not_found", expires_at=NOW + dt.timedelta(minutes=3))
NOT_FOUND_OLD = state(fetch_status="not_found", expires_at=NOW - dt.timedelta(seconds=1))
JUST_FETCHED = state(fetched_at=minutes_ago(5))

fetch = CacheAction.FETCH
TABLE: list[tuple[str, FicheCacheState | None, bool, CacheAction, CacheReason]] = [
    ("no row", None, False, fetch, CacheReason.MISSING),
    ("no row, forced", None, True, fetch, CacheReason.MISSING),
    ("NOT_FOUND within TTL", NOT_FOUND_LIVE, False, CacheAction.NOT_FOUND_CACHED, CacheReason.NOT_FOUND),
    ("NOT_FOUND within TTL, forced", NOT_FOUND_LIVE, True, fetch, CacheReason.FORCED),
    ("NOT_FOUND past TTL", NOT_FOUND_OLD, False, fetch, CacheReason.EXPIRED),
    ("NOT_FOUND at the TTL's end", state(fetch_status="not_found", expires_at=NOW), False, fetch, CacheReason.EXPIRED),
    ("summary only", state(fetch_status="summary", fetched_at=None), False, fetch, CacheReason.SUMMARY_ONLY),
    ("summary only, forced", state(fetch_status="summary", fetched_at=None), True, fetch, CacheReason.SUMMARY_ONLY),
    ("failed, nothing held", state(fetch_status="failed"), False, fetch, CacheReason.PREVIOUS_FAILURE),
    ("details without information", state(has_information=False), False, fetch, CacheReason.INCOMPLETE),
    ("calls missing rows", state(recording_rows=1), False, fetch, CacheReason.RECORDINGS_MISSING_ROWS),
    ("a call without URL", state(recordings_without_url=1), False, fetch, CacheReason.RECORDINGS_MISSING_URL),
    ("integrity beats the cooldown", state(fetched_at=minutes_ago(1), recording_rows=0), True, fetch,
     CacheReason.RECORDINGS_MISSING_ROWS),
    ("more rows than calls listed is fine", state(recording_rows=3), False, CacheAction.USE_CACHE, CacheReason.FRESH),
    ("details expired (10 days)", state(expires_at=NOW - dt.timedelta(seconds=1)), False, fetch, CacheReason.EXPIRED),
    ("details without expiry", state(expires_at=None), False, fetch, CacheReason.EXPIRED),
    ("expired beats the cooldown", state(fetched_at=minutes_ago(1), expires_at=minutes_ago(0.5)), True, fetch,
     CacheReason.EXPIRED),
    ("forced within the cooldown", JUST_FETCHED, True, CacheAction.COOLDOWN, CacheReason.FORCE_REFRESH_COOLDOWN),
    ("forced just past the cooldown", state(fetched_at=minutes_ago(30)), True, fetch, CacheReason.FORCED),
    ("forced, never fetched", state(fetched_at=None), True, fetch, CacheReason.FORCED),
    ("fresh details", FRESH, False, CacheAction.USE_CACHE, CacheReason.FRESH),
    ("fresh, fetched moments ago", JUST_FETCHED, False, CacheAction.USE_CACHE, CacheReason.FRESH),
]  # fmt: skip


@pytest.mark.parametrize(("case", "row", "force", "action", "reason"), TABLE, ids=[row[0] for row in TABLE])
def test_decision_table(
    case: str, row: FicheCacheState | None, force: bool, action: CacheAction, reason: CacheReason
) -> None:
    decision = decide(row, NOW, force=force, policy=POLICY)
    assert decision == CacheDecision(action, reason)
    assert decision.fetch is (action is CacheAction.FETCH)


def test_every_reason_is_reachable() -> None:
    assert {row[4] for row in TABLE} == set(CacheReason)
    assert {row[3] for row in TABLE} == set(CacheAction)


def test_policy_from_settings_uses_the_original_units() -> None:
    settings = SimpleNamespace(
        cache_expiration_hours=240, fiche_force_refresh_cooldown_ms=1_800_000, fiche_not_found_ttl_ms=300_000
    )
    policy = CachePolicy.from_settings(settings)
    assert policy == POLICY
    assert policy.details_expire_at(NOW) == NOW + dt.timedelta(days=10)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (None, False),
        (FRESH, True),
        (state(expires_at=NOW - dt.timedelta(days=30)), True),  # stale details still serve when a refresh fails
        (state(recordings_without_url=1), True),
        (state(has_information=False), False),
        (state(fetch_status="summary"), False),
        (state(fetch_status="failed"), False),
        (NOT_FOUND_LIVE, False),
    ],
)
def test_fallback_details(row: FicheCacheState | None, expected: bool) -> None:
    assert has_fallback_details(row) is expected
