"""Writes CRM payloads into the tables, and reads a fiche back as the gateway's payload.

Every function takes the caller's `Session` and never commits: the caller owns the transaction.
Writes are idempotent (`INSERT ... ON CONFLICT`, sections replaced wholesale) and safe against
concurrent writers of the same fiche: a fiche row is created if missing, then locked
(`SELECT ... FOR UPDATE`, in `fiche_id` order) before the pure rules of `normalize` decide what
changes. Statements bypass the ORM unit of work, so `Fiche` objects already loaded in the session
are expired afterwards (other loaded children should be re-queried).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import CursorResult, and_, case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from domain.crm.cache import FicheCacheState
from domain.crm.normalize import (
    FicheSnapshot,
    SalesDay,
    StoredDetails,
    normalize_details,
    patch_from_sales_listing,
    rebuild_payload,
    recording_rows,
    resolve_sales_day,
    unique_summaries,
)
from domain.crm.parsing import BUSINESS_TZ, CrmPayloadError, FicheDetails, SalesPage
from domain.models.crm import FicheComment, FicheInformation, FicheProspect, FicheSubscription, FicheTag
from domain.models.fiches import DayCoverageStatus, Fiche, FicheFetchStatus, Recording, SalesDayCoverage

_BATCH = 1000  # rows per multi-row INSERT: well under PostgreSQL's 65,535 bind parameters


class DetailsNotStored(LookupError):
    """No usable details for this fiche (unknown, summary only, NOT_FOUND or failed)."""

    def __init__(self, fiche_id: str, status: str | None) -> None:
        super().__init__(f"fiche {fiche_id}: no details stored (status {status or 'unknown'})")
        self.fiche_id = fiche_id
        self.status = status


@dataclass(frozen=True)
class SalesUpsertResult:
    fiches: int
    created: int
    recordings: int


@dataclass(frozen=True)
class DetailsWriteResult:
    sales_date: dt.date | None
    recordings: int
    recordings_removed: int


# --- sales lists -------------------------------------------------------------------------------


def upsert_sales_summaries(
    session: Session, page: SalesPage, sales_day: dt.date, now: dt.datetime, *, tz: ZoneInfo = BUSINESS_TZ
) -> SalesUpsertResult:
    """Record what the sales search of `sales_day` listed (additive; rules in
    `normalize.patch_from_sales_listing`). Calls are upserted, never deleted: a sales list may
    have been asked without recordings. Day coverage is recorded separately (`record_day_coverage`)."""
    summaries = unique_summaries(page)
    if not summaries:
        return SalesUpsertResult(0, 0, 0)
    ids = sorted(summaries)
    created = session.scalars(
        insert(Fiche)
        .values([{"fiche_id": fiche_id} for fiche_id in ids])
        .on_conflict_do_nothing(index_elements=[Fiche.fiche_id])
        .returning(Fiche.fiche_id)
    ).all()
    rows = session.execute(
        select(Fiche.id, Fiche.fiche_id, *_snapshot_columns())
        .where(Fiche.fiche_id.in_(ids))
        .order_by(Fiche.fiche_id)
        .with_for_update()
    ).all()
    patches = [
        {
            "id": row.id,
            **patch_from_sales_listing(_snapshot(row), summaries[row.fiche_id], sales_day, now),
        }
        for row in rows
    ]
    session.execute(update(Fiche), patches)
    calls = [
        {"fiche_id": fiche_id, **call}
        for fiche_id in ids
        for call in recording_rows(summaries[fiche_id].recordings or [], f"fiches[id={fiche_id}].recordings", tz)
    ]
    _upsert_recordings(session, calls)
    # A summary's call count is a hint: the rows we hold, whatever this list included.
    session.execute(
        update(Fiche)
        .where(Fiche.fiche_id.in_(ids), Fiche.fetch_status != FicheFetchStatus.DETAILS)
        .values(
            recordings_count=select(func.count(Recording.id))
            .where(Recording.fiche_id == Fiche.fiche_id)
            .scalar_subquery()
        )
        .execution_options(synchronize_session=False)
    )
    _expire_loaded(session, [row.id for row in rows])
    return SalesUpsertResult(fiches=len(ids), created=len(created), recordings=len(calls))


def _snapshot_columns() -> tuple[Any, ...]:
    return (
        Fiche.fetch_status,
        Fiche.cle,
        Fiche.prospect_nom,
        Fiche.prospect_prenom,
        Fiche.prospect_email,
        Fiche.prospect_tel,
        Fiche.raw_data,
        Fiche.sales_date,
        Fiche.sales_date_source,
    )


def _snapshot(row: Any) -> FicheSnapshot:
    return FicheSnapshot(**{column.key: getattr(row, column.key) for column in _snapshot_columns()})


# --- details -----------------------------------------------------------------------------------


def store_details(  # noqa: PLR0917 - the signature callers were promised
    session: Session,
    fiche_id: str,
    payload: FicheDetails,
    now: dt.datetime,
    expires_at: dt.datetime,
    sales_day_hint: dt.date | None = None,
    *,
    tz: ZoneInfo = BUSINESS_TZ,
) -> DetailsWriteResult:
    """Write a full details payload: the fiche row, its sections and its calls.

    `sales_day_hint` is the day of a sales search that listed the fiche, when the caller has one
    (see `normalize.resolve_sales_day`). 1:1 sections are upserted (deleted when the payload sends
    them null), 1:N sections replaced wholesale. The payload's call list is authoritative: calls
    it no longer lists are deleted (§13.3 #19), unless it has no `recordings` key at all.
    """
    if payload.success is False:
        # Not a 404 (§13.2 #11): the caller records a failure and keeps what it has.
        raise CrmPayloadError("success", f"the gateway reported a failure: {payload.message!r}")
    normalized = normalize_details(payload, tz)
    if normalized.information_fiche_id not in (None, fiche_id):
        raise CrmPayloadError("information.fiche_id", f"is {normalized.information_fiche_id!r}, expected {fiche_id!r}")
    fiche = _lock_fiche(session, fiche_id)
    current = SalesDay.of(fiche.sales_date, fiche.sales_date_source)
    sales_day = resolve_sales_day(current, listed_on=sales_day_hint, inserted_at=normalized.inserted_at, tz=tz)
    for column, value in normalized.fiche.items():
        setattr(fiche, column, value)
    if sales_day is not None:
        fiche.sales_date, fiche.sales_date_source = sales_day.day, sales_day.source.value
    fiche.fetch_status = FicheFetchStatus.DETAILS.value
    fiche.fetch_error = None
    fiche.fetch_error_at = None
    fiche.fetch_attempts = 0
    fiche.raw_data = normalized.raw_data
    fiche.fetched_at = now
    fiche.expires_at = expires_at
    session.flush()

    _put_one(session, FicheInformation, fiche_id, normalized.information)
    _put_one(session, FicheProspect, fiche_id, normalized.prospect)
    _put_one(session, FicheSubscription, fiche_id, normalized.subscription)
    _put_many(session, FicheComment, fiche_id, normalized.comments)
    _put_many(session, FicheTag, fiche_id, normalized.tags)
    removed = 0
    if normalized.recordings is not None:
        _upsert_recordings(session, [{"fiche_id": fiche_id, **call} for call in normalized.recordings])
        kept = [call["call_id"] for call in normalized.recordings]
        gone = session.execute(delete(Recording).where(Recording.fiche_id == fiche_id, Recording.call_id.not_in(kept)))
        removed = cast(CursorResult[Any], gone).rowcount
    session.expire(fiche)
    return DetailsWriteResult(
        sales_date=sales_day.day if sales_day else None,
        recordings=len(normalized.recordings or []),
        recordings_removed=removed,
    )


def _put_one(session: Session, model: type[Any], fiche_id: str, row: dict[str, Any] | None) -> None:
    if row is None:
        session.execute(delete(model).where(model.fiche_id == fiche_id))
        return
    statement = insert(model).values(fiche_id=fiche_id, **row)
    session.execute(statement.on_conflict_do_update(index_elements=[model.fiche_id], set_=row))


def _put_many(session: Session, model: type[Any], fiche_id: str, rows: Sequence[dict[str, Any]]) -> None:
    session.execute(delete(model).where(model.fiche_id == fiche_id))
    for batch in _batches([{"fiche_id": fiche_id, **row} for row in rows]):
        session.execute(insert(model).values(batch))


def _upsert_recordings(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert or update calls by (fiche_id, call_id). A known URL is never replaced by '' and
    known metadata never by null (`recordings.merge_recording_url`, in SQL for concurrent writers)."""
    for batch in _batches(rows):
        statement = insert(Recording).values(batch)
        new = statement.excluded
        keep: dict[str, Any] = {
            column: func.coalesce(getattr(new, column), getattr(Recording, column))
            for column in (
                "start_time",
                "duration_seconds",
                "direction",
                "answered",
                "from_number",
                "to_number",
                "recording_date",
                "recording_time",
                "uuid",
            )
        }
        keep["recording_url"] = case((new.recording_url == "", Recording.recording_url), else_=new.recording_url)
        keep["start_time_offset_assumed"] = case(
            (new.start_time.is_(None), Recording.start_time_offset_assumed), else_=new.start_time_offset_assumed
        )
        keep["updated_at"] = func.now()
        session.execute(
            statement.on_conflict_do_update(index_elements=[Recording.fiche_id, Recording.call_id], set_=keep)
        )


# --- outcomes without details -------------------------------------------------------------------


def mark_not_found(session: Session, fiche_id: str, reason: str, now: dt.datetime, ttl: dt.timedelta) -> None:
    """The CRM answered a genuine 404: a NOT_FOUND marker until `now + ttl` (sections are kept,
    but `reconstruct_payload` refuses the fiche). Deciding a 404 is genuine is the caller's job."""
    fiche = _lock_fiche(session, fiche_id)
    fiche.fetch_status = FicheFetchStatus.NOT_FOUND.value
    fiche.fetch_error = reason
    fiche.fetch_error_at = now
    fiche.expires_at = now + ttl
    session.flush()
    session.expire(fiche)


def mark_failed(session: Session, fiche_id: str, reason: str, now: dt.datetime) -> None:
    """A fetch failed: record why and count it. Details already held stay served (status stays
    `details`); otherwise the fiche is `failed`. A success resets the count."""
    fiche = _lock_fiche(session, fiche_id)
    if fiche.fetch_status != FicheFetchStatus.DETAILS:
        fiche.fetch_status = FicheFetchStatus.FAILED.value
    fiche.fetch_error = reason
    fiche.fetch_error_at = now
    fiche.fetch_attempts += 1
    session.flush()
    session.expire(fiche)


# --- day coverage ------------------------------------------------------------------------------


def record_day_coverage(  # noqa: PLR0917 - the signature callers were promised
    session: Session,
    day: dt.date,
    status: DayCoverageStatus,
    fiche_count: int,
    error: str | None,
    now: dt.datetime,
) -> None:
    """Record a sales search of `day`, zero sales included (a day with no sale is covered, §13.2
    #1). A failed search never erases an earlier success: the day stays `fetched` (its count and
    time kept) with the failure in `error`; a success clears the error."""
    statement = insert(SalesDayCoverage).values(
        sales_date=day, status=status.value, fiche_count=fiche_count, error=error, fetched_at=now
    )
    new = statement.excluded
    keep_success = and_(new.status == DayCoverageStatus.FAILED, SalesDayCoverage.status == DayCoverageStatus.FETCHED)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[SalesDayCoverage.sales_date],
            set_={
                "status": case((keep_success, SalesDayCoverage.status), else_=new.status),
                "fiche_count": case((keep_success, SalesDayCoverage.fiche_count), else_=new.fiche_count),
                "fetched_at": case((keep_success, SalesDayCoverage.fetched_at), else_=new.fetched_at),
                "error": new.error,
                "updated_at": func.now(),
            },
        )
    )


# --- reads -------------------------------------------------------------------------------------


def load_cache_state(session: Session, fiche_id: str) -> FicheCacheState | None:
    """The inputs of `cache.decide` for one fiche, or None if it has no row."""
    calls = select(func.count(Recording.id)).where(Recording.fiche_id == Fiche.fiche_id)
    row = session.execute(
        select(
            Fiche.fetch_status,
            Fiche.fetched_at,
            Fiche.expires_at,
            Fiche.recordings_count,
            calls.scalar_subquery().label("recording_rows"),
            calls.where(Recording.recording_url == "").scalar_subquery().label("without_url"),
            select(FicheInformation.fiche_id).where(FicheInformation.fiche_id == Fiche.fiche_id).exists(),
        ).where(Fiche.fiche_id == fiche_id)
    ).first()
    if row is None:
        return None
    return FicheCacheState(
        fetch_status=row[0],
        fetched_at=row[1],
        expires_at=row[2],
        recordings_count=row[3],
        recording_rows=row[4],
        recordings_without_url=row[5],
        has_information=bool(row[6]),
    )


def reconstruct_payload(session: Session, fiche_id: str, *, tz: ZoneInfo = BUSINESS_TZ) -> dict[str, Any]:
    """The fiche as `GET /api/fiches/by-id/{id}` returned it (normalisations: `normalize` module
    docstring), or `DetailsNotStored` for a fiche without usable details."""
    fiche = session.execute(select(Fiche.fetch_status, Fiche.raw_data).where(Fiche.fiche_id == fiche_id)).first()
    if fiche is None or fiche.fetch_status != FicheFetchStatus.DETAILS:
        raise DetailsNotStored(fiche_id, fiche.fetch_status if fiche else None)

    def one(model: type[Any]) -> dict[str, Any] | None:
        row = session.execute(select(model.__table__).where(model.fiche_id == fiche_id)).mappings().first()
        return dict(row) if row else None

    def many(model: type[Any], *order: Any) -> list[dict[str, Any]]:
        statement = select(model.__table__).where(model.fiche_id == fiche_id).order_by(*order)
        return [dict(row) for row in session.execute(statement).mappings()]

    return rebuild_payload(
        StoredDetails(
            raw_data=fiche.raw_data,
            information=one(FicheInformation),
            prospect=one(FicheProspect),
            subscription=one(FicheSubscription),
            comments=many(FicheComment, FicheComment.position),
            tags=many(FicheTag, FicheTag.position),
            recordings=many(Recording, Recording.start_time.asc().nulls_last(), Recording.call_id),
        ),
        tz,
    )


# --- helpers -----------------------------------------------------------------------------------


def _lock_fiche(session: Session, fiche_id: str) -> Fiche:
    """The fiche's row, created as a bare summary if missing, locked until the transaction ends."""
    session.execute(insert(Fiche).values(fiche_id=fiche_id).on_conflict_do_nothing(index_elements=[Fiche.fiche_id]))
    return session.scalars(
        select(Fiche).where(Fiche.fiche_id == fiche_id).with_for_update().execution_options(populate_existing=True)
    ).one()


def _expire_loaded(session: Session, ids: Sequence[int]) -> None:
    for pk in ids:
        loaded = session.identity_map.get(identity_key(Fiche, pk))
        if loaded is not None:
            session.expire(loaded)


def _batches(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), _BATCH):
        yield rows[start : start + _BATCH]


def assign_crm_group_ids(session: Session, group_ids_by_name: dict[str, str]) -> int:
    """Link fiches to their CRM group id through the group's CRM name; returns rows changed.

    The fiche payload names its group but does not give its id; GROUP scope matches teams on the
    id (a renamed team keeps its visibility), so the CRM's group directory fills it in.
    """
    changed = 0
    for name, group_id in group_ids_by_name.items():
        result = session.execute(
            update(Fiche)
            .where(Fiche.groupe == name, Fiche.crm_group_id.is_distinct_from(group_id))
            .values(crm_group_id=group_id)
            .execution_options(synchronize_session=False)
        )
        changed += cast(CursorResult[Any], result).rowcount
    return changed
