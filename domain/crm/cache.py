"""Whether a fiche's details must be fetched from the CRM or served from the tables (§3.7).

`decide` is the whole decision table, a pure function of the row's state, the clock, the force
flag and the policy, so every path (day partitions, ad-hoc API fetches, automation) asks the same
question the same way. Serving stale details when a refresh fails is the caller's move; it asks
`has_fallback_details` whether there is anything to serve.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass
from typing import Protocol

from domain.models.fiches import FicheFetchStatus


class CacheAction(enum.StrEnum):
    USE_CACHE = "use_cache"
    FETCH = "fetch"
    NOT_FOUND_CACHED = "not_found_cached"  # the CRM said 404 less than the NOT_FOUND TTL ago
    COOLDOWN = "cooldown"  # a forced refresh ignored: details fetched moments ago; serve them


class CacheReason(enum.StrEnum):
    FRESH = "fresh"
    MISSING = "missing"  # no row at all
    SUMMARY_ONLY = "summary_only"  # only a sales-list summary: never accepted as details
    PREVIOUS_FAILURE = "previous_failure"  # the last fetch failed and no details are held
    EXPIRED = "expired"  # past `expires_at` (details freshness, or the NOT_FOUND marker's TTL)
    FORCED = "forced"
    NOT_FOUND = "not_found"
    FORCE_REFRESH_COOLDOWN = "force_refresh_cooldown"
    # Integrity self-heal: the stored details are unusable as they are, whatever the freshness.
    INCOMPLETE = "incomplete"  # details without their `information` section
    RECORDINGS_MISSING_ROWS = "recordings_missing_rows"  # fewer call rows than the CRM listed
    RECORDINGS_MISSING_URL = "recordings_missing_url"  # a call whose audio URL is still unknown


@dataclass(frozen=True)
class CacheDecision:
    action: CacheAction
    reason: CacheReason

    @property
    def fetch(self) -> bool:
        return self.action is CacheAction.FETCH


class CacheSettings(Protocol):
    """The settings `CachePolicy` reads (`callaudit.settings.Settings` has them)."""

    @property
    def cache_expiration_hours(self) -> int: ...

    @property
    def fiche_force_refresh_cooldown_ms(self) -> int: ...

    @property
    def fiche_not_found_ttl_ms(self) -> int: ...


@dataclass(frozen=True)
class CachePolicy:
    expiration: dt.timedelta = dt.timedelta(hours=240)
    force_refresh_cooldown: dt.timedelta = dt.timedelta(minutes=30)
    not_found_ttl: dt.timedelta = dt.timedelta(minutes=5)

    @classmethod
    def from_settings(cls, settings: CacheSettings) -> CachePolicy:
        return cls(
            expiration=dt.timedelta(hours=settings.cache_expiration_hours),
            force_refresh_cooldown=dt.timedelta(milliseconds=settings.fiche_force_refresh_cooldown_ms),
            not_found_ttl=dt.timedelta(milliseconds=settings.fiche_not_found_ttl_ms),
        )

    def details_expire_at(self, fetched_at: dt.datetime) -> dt.datetime:
        """`expires_at` of details fetched at `fetched_at`: a hint to refresh, never a deletion."""
        return fetched_at + self.expiration


@dataclass(frozen=True)
class FicheCacheState:
    """What the decision needs of a `fiches` row and its children."""

    fetch_status: str
    fetched_at: dt.datetime | None
    expires_at: dt.datetime | None
    recordings_count: int  # calls the CRM listed at the last details write
    recording_rows: int
    recordings_without_url: int
    has_information: bool


def integrity_issue(state: FicheCacheState) -> CacheReason | None:
    """Why stored details cannot be used as they are, if they cannot."""
    if not state.has_information:
        return CacheReason.INCOMPLETE
    if state.recording_rows < state.recordings_count:
        return CacheReason.RECORDINGS_MISSING_ROWS
    if state.recordings_without_url:
        return CacheReason.RECORDINGS_MISSING_URL
    return None


def decide(state: FicheCacheState | None, now: dt.datetime, *, force: bool, policy: CachePolicy) -> CacheDecision:
    """The §3.7 table; the first matching row wins.

    | row state                                    | force | decision                           |
    |----------------------------------------------|-------|------------------------------------|
    | no row                                       | any   | fetch (missing)                    |
    | not_found, marker within its TTL             | no    | not_found_cached (not_found)       |
    | not_found, marker within its TTL             | yes   | fetch (forced)                     |
    | not_found, marker past its TTL               | any   | fetch (expired)                    |
    | summary                                      | any   | fetch (summary_only)               |
    | failed (no details held)                     | any   | fetch (previous_failure)           |
    | details without `information`                | any   | fetch (incomplete)                 |
    | details, fewer call rows than calls listed   | any   | fetch (recordings_missing_rows)    |
    | details, a call with an unknown URL          | any   | fetch (recordings_missing_url)     |
    | details past expires_at                      | any   | fetch (expired)                    |
    | details fetched less than the cooldown ago   | yes   | cooldown (force_refresh_cooldown)  |
    | details                                      | yes   | fetch (forced)                     |
    | details                                      | no    | use_cache (fresh)                  |
    """
    if state is None:
        return CacheDecision(CacheAction.FETCH, CacheReason.MISSING)
    if state.fetch_status == FicheFetchStatus.NOT_FOUND:
        return _not_found(state, now, force=force)
    if state.fetch_status == FicheFetchStatus.SUMMARY:
        return CacheDecision(CacheAction.FETCH, CacheReason.SUMMARY_ONLY)
    if state.fetch_status != FicheFetchStatus.DETAILS:
        return CacheDecision(CacheAction.FETCH, CacheReason.PREVIOUS_FAILURE)
    return _details(state, now, force=force, policy=policy)


def _not_found(state: FicheCacheState, now: dt.datetime, *, force: bool) -> CacheDecision:
    if state.expires_at is None or state.expires_at <= now:
        return CacheDecision(CacheAction.FETCH, CacheReason.EXPIRED)
    if force:
        return CacheDecision(CacheAction.FETCH, CacheReason.FORCED)
    return CacheDecision(CacheAction.NOT_FOUND_CACHED, CacheReason.NOT_FOUND)


def _details(state: FicheCacheState, now: dt.datetime, *, force: bool, policy: CachePolicy) -> CacheDecision:
    issue = integrity_issue(state)
    if issue is not None:
        return CacheDecision(CacheAction.FETCH, issue)
    if state.expires_at is None or state.expires_at <= now:
        return CacheDecision(CacheAction.FETCH, CacheReason.EXPIRED)
    if not force:
        return CacheDecision(CacheAction.USE_CACHE, CacheReason.FRESH)
    if state.fetched_at is not None and now - state.fetched_at < policy.force_refresh_cooldown:
        return CacheDecision(CacheAction.COOLDOWN, CacheReason.FORCE_REFRESH_COOLDOWN)
    return CacheDecision(CacheAction.FETCH, CacheReason.FORCED)


def has_fallback_details(state: FicheCacheState | None) -> bool:
    """Whether stale details can be served when a refresh fails (a failed fetch keeps the status
    `details`; a NOT_FOUND marker does not: the CRM said the fiche is gone)."""
    return state is not None and state.fetch_status == FicheFetchStatus.DETAILS and state.has_information
