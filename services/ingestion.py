"""Mirroring the CRM into the application tables: one sales day, or given fiches, cache-first.

Shared by the Dagster assets and ad-hoc jobs (and the API's live refresh), so every path applies
the same cache rules (`domain.crm.cache`), the same write rules (`domain.crm.store`) and the same
outcome per fiche. One fiche's failure is recorded on that fiche and never stops the others; only
what no fiche can survive (bad credentials, Redis down so the caps cannot hold) aborts the batch.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from domain.crm.cache import CacheAction, CachePolicy, decide
from domain.crm.parsing import CrmPayloadError, parse_fiche_details, parse_sales_page
from domain.crm.store import (
    assign_crm_group_ids,
    load_cache_state,
    mark_failed,
    mark_not_found,
    record_day_coverage,
    store_details,
    upsert_sales_summaries,
)
from domain.models.fiches import DayCoverageStatus
from domain.upstream import UpstreamError, UpstreamHalt, UpstreamNotFound
from services.base import StageService, utc_now
from services.ports import CrmGateway


class FicheOutcome(enum.StrEnum):
    FETCHED = "fetched"
    CACHED = "cached"  # fresh details, or a forced refresh inside its cooldown
    NOT_FOUND = "not_found"  # the CRM answered 404 (after its transient-404 retries)
    NOT_FOUND_CACHED = "not_found_cached"
    FAILED = "failed"  # recorded on the fiche with its reason; previous details still served


@dataclass(frozen=True)
class FicheResult:
    fiche_id: str
    outcome: FicheOutcome
    reason: str | None = None
    recordings: int = 0
    created: bool = False


@dataclass(frozen=True)
class SalesDayResult:
    day: dt.date
    fiches: int
    created: int
    recordings: int
    fiche_ids: list[str]


@dataclass
class BatchReport:
    results: list[FicheResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def counts(self) -> Counter[str]:
        return Counter(result.outcome.value for result in self.results)

    @property
    def failures(self) -> dict[str, str]:
        return {r.fiche_id: r.reason or "" for r in self.results if r.outcome is FicheOutcome.FAILED}


class FicheSync(StageService):
    """Cache-first CRM mirroring over one CRM gateway and one session factory (no events: the
    callers publish what their own requests and runs did)."""

    def __init__(
        self,
        client: CrmGateway,
        sessions: sessionmaker[Session],
        *,
        policy: CachePolicy,
        tz: ZoneInfo,
        concurrency: int,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        super().__init__(sessions, clock=clock)
        self.client = client
        self.policy = policy
        self.tz = tz
        # In-process gate in front of the global Redis caps: waiting happens here, without polling,
        # so a free global slot is taken the moment a local one frees up.
        self._gate = asyncio.Semaphore(concurrency)

    # --- sales days ------------------------------------------------------------------------

    async def sync_sales_day(self, day: dt.date, *, include_recordings: bool) -> SalesDayResult:
        """Search the CRM for one sales day and record what it listed; zero sales is a fetched day."""
        try:
            page = await self.client.search_sales(day, day, include_recordings=include_recordings)
            parsed = parse_sales_page({"fiches": page.fiches, "total": page.total})
        except (UpstreamError, CrmPayloadError) as exc:
            reason = str(exc)
            await self._db(lambda s: record_day_coverage(s, day, DayCoverageStatus.FAILED, 0, reason, self._clock()))
            raise

        def write(session: Session) -> SalesDayResult:
            now = self._clock()
            upserted = upsert_sales_summaries(session, parsed, day, now, tz=self.tz)
            record_day_coverage(session, day, DayCoverageStatus.FETCHED, upserted.fiches, None, now)
            ids = sorted({str(f.id) for f in parsed.fiches or []})
            return SalesDayResult(day, upserted.fiches, upserted.created, upserted.recordings, ids)

        return await self._db(write)

    # --- fiche details ---------------------------------------------------------------------

    async def sync_fiche(self, fiche_id: str, *, force: bool = False) -> FicheResult:
        state = await self._db(lambda s: load_cache_state(s, fiche_id))
        decision = decide(state, self._clock(), force=force, policy=self.policy)
        if decision.action in (CacheAction.USE_CACHE, CacheAction.COOLDOWN):
            return FicheResult(fiche_id, FicheOutcome.CACHED, decision.reason.value)
        if decision.action is CacheAction.NOT_FOUND_CACHED:
            return FicheResult(fiche_id, FicheOutcome.NOT_FOUND_CACHED, decision.reason.value)
        return await self._fetch(fiche_id, decision.reason.value)

    async def _fetch(self, fiche_id: str, why: str) -> FicheResult:
        async with self._gate:
            try:
                raw = await self.client.fiche_details(fiche_id)
            except UpstreamNotFound as exc:
                reason, ttl = str(exc), self.policy.not_found_ttl
                await self._db(lambda s: mark_not_found(s, fiche_id, reason, self._clock(), ttl))
                return FicheResult(fiche_id, FicheOutcome.NOT_FOUND, reason)
            except UpstreamHalt:
                raise  # no other fiche can succeed either: abort the batch with this reason
            except UpstreamError as exc:
                return await self._failed(fiche_id, str(exc))

        def write(session: Session) -> FicheResult:
            now = self._clock()
            payload = parse_fiche_details(raw)
            written = store_details(session, fiche_id, payload, now, self.policy.details_expire_at(now), tz=self.tz)
            return FicheResult(fiche_id, FicheOutcome.FETCHED, why, written.recordings)

        try:
            return await self._db(write)
        except CrmPayloadError as exc:
            return await self._failed(fiche_id, f"malformed CRM payload: {exc}")

    async def _failed(self, fiche_id: str, reason: str) -> FicheResult:
        await self._db(lambda s: mark_failed(s, fiche_id, reason, self._clock()))
        return FicheResult(fiche_id, FicheOutcome.FAILED, reason)

    async def sync_fiches(self, fiche_ids: Iterable[str], *, force: bool = False) -> BatchReport:
        """Every fiche concurrently (bounded by the gate and the global caps), in input order."""
        started = time.perf_counter()
        results = await asyncio.gather(*(self.sync_fiche(fid, force=force) for fid in dict.fromkeys(fiche_ids)))
        return BatchReport(list(results), time.perf_counter() - started)

    async def link_groups(self) -> int:
        """Fill `fiches.crm_group_id` from the CRM's group directory (GROUP scope matches on it)."""
        groups = await self.client.groups(include_users=False)
        by_name = {str(g["nom"]): str(g["id"]) for g in groups if g.get("nom") and g.get("id") is not None}
        return await self._db(lambda s: assign_crm_group_ids(s, by_name))


def metadata_of(report: BatchReport) -> dict[str, Any]:
    counts = report.counts
    return {outcome.value: counts.get(outcome.value, 0) for outcome in FicheOutcome}
