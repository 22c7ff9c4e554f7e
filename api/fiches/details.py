"""A fiche's details, cache-first: stored when fresh, else fetched live through `services.ingestion.FicheSync`
(the code the Dagster assets run, writing in its own transactions), stored ones served when the CRM is down.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import ExternalServiceError, Forbidden, NotFound
from api.fiches.reads import NOT_FOUND, visible_fiche
from api.security import Grant
from callaudit.settings import Settings
from domain.crm.cache import CachePolicy, decide, has_fallback_details
from domain.crm.store import DetailsNotStored, load_cache_state, reconstruct_payload
from domain.models import Fiche, FicheFetchStatus
from domain.rbac import Scope
from domain.upstream import UpstreamError
from services.ingestion import FicheOutcome, FicheSync

log = logging.getLogger(__name__)


@dataclass
class DetailsResult:
    payload: dict[str, Any]
    fiche: Fiche
    stale: bool
    fetched: bool
    outcome: str | None
    error: str | None  # for the caller: why stored details were served instead of fresh ones


CRM_DOWN = "the CRM could not be reached; stored details served"


def _scope_decidable(fiche: Fiche) -> bool:
    """Whether the row says whose it is; a bare summary or NOT_FOUND marker does not yet."""
    return fiche.fetch_status == FicheFetchStatus.DETAILS or bool(fiche.crm_group_id or fiche.attribution_user_id)


async def load_details(
    session: AsyncSession,
    grant: Grant,
    fiche_id: str,
    *,
    refresh: bool,
    may_fetch: bool,
    sync: FicheSync,
    settings: Settings,
) -> DetailsResult:
    """The cached details, fetched live first when missing, expired, broken or `refresh` (§3.7).

    Scope first: a row the caller cannot see is a 404 without any CRM call, unless the row cannot
    say whose it is yet (unknown, summary without group) and the caller may fetch; then it is
    fetched and checked after. Without `may_fetch` nothing is fetched and nothing is written.
    """
    tz = ZoneInfo(settings.sales_timezone)
    fiche = await visible_fiche(session, grant, fiche_id)
    if fiche is None:
        row = (
            await session.scalars(
                select(Fiche).where(Fiche.fiche_id == fiche_id).execution_options(populate_existing=True)
            )
        ).first()
        if not may_fetch or (row is not None and _scope_decidable(row)):
            raise NotFound(NOT_FOUND)
    state = await session.run_sync(lambda s: load_cache_state(s, fiche_id))
    decision = decide(state, dt.datetime.now(dt.UTC), force=refresh, policy=CachePolicy.from_settings(settings))
    fetched, stale, outcome, error = False, False, None, None
    if decision.action.value == "not_found_cached":
        raise NotFound(NOT_FOUND)
    if decision.fetch and not may_fetch:
        if not has_fallback_details(state):
            raise Forbidden("Missing permission fiches.fetch (the details of this fiche are not stored yet)")
        stale, error = True, "stored details served: refreshing them needs the fiches.fetch permission"
    elif decision.fetch:
        fetched, outcome, error = await _fetch_live(
            sync, fiche_id, refresh=refresh, fallback=has_fallback_details(state)
        )
        stale = error is not None
        if fetched:
            await _link_group(session, sync, fiche_id)
    fiche = await visible_fiche(session, grant, fiche_id)
    if fiche is None:
        raise NotFound(NOT_FOUND)
    try:
        payload = await session.run_sync(lambda s: reconstruct_payload(s, fiche_id, tz=tz))
    except DetailsNotStored as exc:
        if exc.status == FicheFetchStatus.NOT_FOUND:
            raise NotFound(NOT_FOUND) from None
        raise ExternalServiceError("The CRM could not be reached and nothing is cached") from None
    return DetailsResult(payload, fiche, stale, fetched, outcome, error)


async def _fetch_live(
    sync: FicheSync, fiche_id: str, *, refresh: bool, fallback: bool
) -> tuple[bool, str | None, str | None]:
    """(fetched, outcome, error for the caller); raises when the CRM fails and nothing is stored."""
    try:
        result = await sync.sync_fiche(fiche_id, force=refresh)
    except UpstreamError as exc:  # rendered by `api/errors.py` unless stored details can be served
        log.info("fiche %s: the CRM failed: %s", fiche_id, exc)
        if not fallback:
            raise
        return False, None, CRM_DOWN
    if result.outcome in (FicheOutcome.NOT_FOUND, FicheOutcome.NOT_FOUND_CACHED):
        raise NotFound(NOT_FOUND)
    if result.outcome is FicheOutcome.FAILED:
        if not fallback:
            raise ExternalServiceError("The CRM could not be reached and nothing is cached")
        return False, result.outcome.value, CRM_DOWN
    return result.outcome is FicheOutcome.FETCHED, result.outcome.value, None


async def _link_group(session: AsyncSession, sync: FicheSync, fiche_id: str) -> None:
    """A freshly fetched fiche names its group but not its id; GROUP scope needs the id."""
    row = (await session.execute(select(Fiche.groupe, Fiche.crm_group_id).where(Fiche.fiche_id == fiche_id))).first()
    if row is None or not row.groupe or row.crm_group_id:
        return
    try:
        await sync.link_groups()
    except UpstreamError as exc:
        log.info("could not link fiche %s to its CRM group: %s", fiche_id, exc)


def can_see_recordings(session_grant: Grant | None, fiche: Fiche) -> bool:
    """`recordings.read` whose scope reaches this fiche (§13.3 #23: not implied by `fiches.read`)."""
    if session_grant is None:
        return False
    if session_grant.scope is Scope.ALL:
        return True
    if session_grant.scope is Scope.GROUP:
        return fiche.crm_group_id is not None and fiche.crm_group_id in session_grant.crm_group_ids
    return session_grant.crm_user_id is not None and fiche.attribution_user_id == session_grant.crm_user_id
