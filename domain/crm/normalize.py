"""Gateway payloads -> rows of `fiches`, its sections and `recordings`, and back again.

The round trip is exact for every value the gateway sent, with these documented normalisations:
values take the contract's types (`civilite` "2" -> 2, numbers in string fields -> strings);
known keys the gateway omitted come back as null (or `[]` for comments and tags); recordings come
back ordered by start time, with `start_time` in UTC (`+00:00`) unless it had no offset, an empty
`recording_url` as null, from/to numbers filled from the file name when null, and without any
keys outside the recording contract (such as the gateway's own `transcription`, never used).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from domain.crm import sections
from domain.crm.parsing import (
    BUSINESS_TZ,
    CrmRecording,
    FicheDetails,
    SalesFiche,
    SalesPage,
    StartTime,
    format_start_time,
    parse_start_time,
)
from domain.crm.recordings import merge_recording_url, recording_metadata, unformat_french_number
from domain.models.fiches import FicheFetchStatus, SalesDaySource

# --- the sales day ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SalesDay:
    day: dt.date
    source: SalesDaySource

    @classmethod
    def of(cls, day: dt.date | None, source: str | None) -> SalesDay | None:
        """From a row's `sales_date` / `sales_date_source` (None unless both are set)."""
        return None if day is None or source is None else cls(day, SalesDaySource(source))


def resolve_sales_day(
    current: SalesDay | None,
    *,
    listed_on: dt.date | None,
    inserted_at: dt.datetime | None,
    tz: ZoneInfo = BUSINESS_TZ,
) -> SalesDay | None:
    """The one rule for a fiche's `sales_date` (§3.10, §13.2 #15), on every write path.

    1. A CRM sales search that lists the fiche for day D says it was sold on D: that wins over
       anything else. `listed_on` is that day (a details write passes it only when its caller got
       the fiche from the search of that day, e.g. a day partition; ad-hoc fetches pass None).
    2. If several day searches list the same fiche, the earliest day wins, so re-running or
       backfilling days in any order gives the same answer.
    3. A details write never moves a day set by a search.
    4. Only a fiche no search has listed (fetched ad hoc) falls back to the day of
       `information.date_insertion` in the business time zone, until a search lists it.
    """
    if listed_on is not None:
        if current is not None and current.source is SalesDaySource.SALES_SEARCH:
            return SalesDay(min(current.day, listed_on), SalesDaySource.SALES_SEARCH)
        return SalesDay(listed_on, SalesDaySource.SALES_SEARCH)
    if current is not None and current.source is SalesDaySource.SALES_SEARCH:
        return current
    if inserted_at is not None:
        return SalesDay(inserted_at.astimezone(tz).date(), SalesDaySource.DATE_INSERTION)
    return current


# --- recordings --------------------------------------------------------------------------------


def recording_row(recording: CrmRecording, field: str, tz: ZoneInfo = BUSINESS_TZ) -> dict[str, Any]:
    """The `recordings` columns of one call (without `fiche_id`); `''` means "URL unknown"."""
    start = parse_start_time(recording.start_time, f"{field}.start_time", tz)
    url = (recording.recording_url or "").strip()
    meta = recording_metadata(url, start.at if start else None, recording.from_number, recording.to_number)
    return {
        "call_id": recording.call_id,
        "recording_url": url,
        "start_time": start.at if start else None,
        "start_time_offset_assumed": start.offset_assumed if start else False,
        "duration_seconds": recording.duration_seconds,
        "direction": recording.direction,
        "answered": recording.answered,
        "from_number": meta.from_number,
        "to_number": meta.to_number,
        "recording_date": meta.recording_date,
        "recording_time": meta.recording_time,
        "uuid": meta.uuid,
    }


def recording_rows(recordings: Iterable[CrmRecording], field: str, tz: ZoneInfo = BUSINESS_TZ) -> list[dict[str, Any]]:
    """One row per `call_id`: a call listed twice is merged (later values win, except that a
    known URL is never replaced by an unknown one), so one upsert statement never hits a row twice."""
    merged: dict[str, dict[str, Any]] = {}
    for index, recording in enumerate(recordings):
        row = recording_row(recording, f"{field}.{index}", tz)
        previous = merged.get(row["call_id"])
        if previous is not None:
            url = merge_recording_url(previous["recording_url"], row["recording_url"])
            row = {**previous, **{k: v for k, v in row.items() if v is not None}, "recording_url": url}
        merged[row["call_id"]] = row
    return list(merged.values())


def recording_payload(row: Mapping[str, Any], tz: ZoneInfo = BUSINESS_TZ) -> dict[str, Any]:
    """The gateway's recording object from a `recordings` row."""
    start = None if row["start_time"] is None else StartTime(row["start_time"], row["start_time_offset_assumed"])
    return {
        "call_id": row["call_id"],
        "start_time": None if start is None else format_start_time(start),
        "duration_seconds": row["duration_seconds"],
        "direction": row["direction"],
        "from_number": unformat_french_number(row["from_number"]),
        "to_number": unformat_french_number(row["to_number"]),
        "answered": row["answered"],
        "recording_url": row["recording_url"] or None,
    }


# --- sales lists -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FicheSnapshot:
    """The columns of an existing `fiches` row that a sales listing may patch."""

    fetch_status: str
    cle: str | None
    prospect_nom: str | None
    prospect_prenom: str | None
    prospect_email: str | None
    prospect_tel: str | None
    raw_data: dict[str, Any]
    sales_date: dt.date | None
    sales_date_source: str | None

    @property
    def sales_day(self) -> SalesDay | None:
        return SalesDay.of(self.sales_date, self.sales_date_source)


def unique_summaries(page: SalesPage) -> dict[str, SalesFiche]:
    """The page's fiches by id; a fiche listed twice keeps its last record and all its calls."""
    by_id: dict[str, SalesFiche] = {}
    for listed in page.fiches or []:
        previous = by_id.get(listed.id)
        calls = [*(previous.recordings or []), *(listed.recordings or [])] if previous else None
        by_id[listed.id] = listed.model_copy(update={"recordings": calls}) if calls else listed
    return by_id


def patch_from_sales_listing(
    current: FicheSnapshot, summary: SalesFiche, listed_on: dt.date, now: dt.datetime
) -> dict[str, Any]:
    """New values of the patchable columns (all of them, so rows can be updated in one batch).

    Listing is additive (§3.7): `cle` and summary columns are refreshed but never blanked; a fiche
    holding details keeps them (the sales list is a summary, never a substitute), and keeps its
    status; a NOT_FOUND marker and a failure are kept (the marker's TTL decides when details are
    asked again: a listing does not make a permanently missing fiche fetchable).
    groupe / agence are not in sales lists, so they are never touched.
    """
    sales_day = resolve_sales_day(current.sales_day, listed_on=listed_on, inserted_at=None)
    assert sales_day is not None  # listed_on is given
    patch: dict[str, Any] = {
        "cle": summary.cle or current.cle,
        "sales_date": sales_day.day,
        "sales_date_source": sales_day.source.value,
        "last_revalidated_at": now,
        "fetch_status": current.fetch_status,
        "prospect_nom": current.prospect_nom,
        "prospect_prenom": current.prospect_prenom,
        "prospect_email": current.prospect_email,
        "prospect_tel": current.prospect_tel,
        "raw_data": current.raw_data,
    }
    if current.fetch_status == FicheFetchStatus.DETAILS:
        return patch
    listed = {
        "prospect_nom": summary.nom,
        "prospect_prenom": summary.prenom,
        "prospect_email": summary.email,
        "prospect_tel": summary.telephone,
    }
    patch.update({column: value for column, value in listed.items() if value})
    patch["raw_data"] = summary.model_dump(mode="json", exclude_unset=True, exclude={"recordings"})
    return patch


# --- details -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class NormalizedDetails:
    """A details payload as rows. Section rows carry no `fiche_id`; a section the payload sent as
    null (or omitted) has no row. `fiche` holds only the `fiches` columns the payload speaks to."""

    fiche: dict[str, Any]
    information: dict[str, Any] | None
    prospect: dict[str, Any] | None
    subscription: dict[str, Any] | None
    comments: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    recordings: list[dict[str, Any]] | None  # None: the payload did not list calls (do not reconcile)
    raw_data: dict[str, Any]
    information_fiche_id: str | None
    inserted_at: dt.datetime | None


def _split_one(raw: dict[str, Any], key: str, columns: Sequence[sections.Col], tz: ZoneInfo) -> dict[str, Any] | None:
    """Row of a 1:1 section; its leftover (or its explicit null) goes back into `raw`."""
    if key not in raw:
        return None
    section = raw.pop(key)
    if section is None:
        raw[key] = None
        return None
    row, leftover = sections.split_section(section, columns, key, tz)
    if leftover:
        raw[key] = leftover
    return row


def _split_many(
    container: dict[str, Any], key: str, columns: Sequence[sections.Col], field: str, tz: ZoneInfo
) -> list[dict[str, Any]]:
    """Rows of a 1:N section; per-item leftovers (or an explicit null) stay in `container`."""
    if key not in container:
        return []
    items = container.pop(key)
    if items is None:
        container[key] = None
        return []
    rows, leftovers = sections.split_list(items, columns, field, tz)
    if leftovers is not None:
        container[key] = leftovers
    return rows


def normalize_details(payload: FicheDetails, tz: ZoneInfo = BUSINESS_TZ) -> NormalizedDetails:
    """Split a details payload into rows; raises `CrmPayloadError` naming a malformed field."""
    raw = payload.model_dump(mode="json", exclude_unset=True)
    raw.pop("recordings", None)
    information_raw = raw.get("information")
    tags: list[dict[str, Any]] = []
    if isinstance(information_raw, dict):
        tags = _split_many(information_raw, "etiquettes", sections.TAG, "information.etiquettes", tz)
    information = _split_one(raw, "information", sections.INFORMATION, tz)
    prospect = _split_one(raw, "prospect", sections.PROSPECT, tz)
    subscription = _split_one(raw, "elements_souscription", sections.SUBSCRIPTION, tz)
    comments = _split_many(raw, "commentaires", sections.COMMENT, "commentaires", tz)

    fiche: dict[str, Any] = {}
    info = payload.information
    if info is not None:
        fiche.update(groupe=info.groupe, agence_nom=info.agence_nom, attribution_user_id=info.attribution_user_id)
        if info.cle:
            fiche["cle"] = info.cle
    if payload.prospect is not None:
        person = payload.prospect
        fiche.update(
            prospect_nom=person.nom,
            prospect_prenom=person.prenom,
            prospect_email=person.mail,
            prospect_tel=person.telephone or person.mobile,
        )
    calls = None if payload.recordings is None else recording_rows(payload.recordings, "recordings", tz)
    if calls is not None:
        fiche["recordings_count"] = len(calls)
    return NormalizedDetails(
        fiche=fiche,
        information=information,
        prospect=prospect,
        subscription=subscription,
        comments=comments,
        tags=tags,
        recordings=calls,
        raw_data=raw,
        information_fiche_id=info.fiche_id if info else None,
        inserted_at=information["date_insertion"] if information else None,
    )


@dataclass(frozen=True)
class StoredDetails:
    """What the tables hold for one fiche, as column mappings (inverse input of `normalize_details`)."""

    raw_data: Mapping[str, Any]
    information: Mapping[str, Any] | None
    prospect: Mapping[str, Any] | None
    subscription: Mapping[str, Any] | None
    comments: Sequence[Mapping[str, Any]]
    tags: Sequence[Mapping[str, Any]]
    recordings: Sequence[Mapping[str, Any]]


def _join_one(
    out: dict[str, Any], key: str, row: Mapping[str, Any] | None, columns: Sequence[sections.Col], tz: ZoneInfo
) -> None:
    leftover = out.get(key)
    if row is not None:
        out[key] = sections.join_section(row, columns, leftover, tz)


def _join_many(
    container: dict[str, Any],
    key: str,
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[sections.Col],
    tz: ZoneInfo,
) -> None:
    if key in container and container[key] is None:
        return
    container[key] = sections.join_list(rows, columns, container.get(key), tz)


def rebuild_payload(stored: StoredDetails, tz: ZoneInfo = BUSINESS_TZ) -> dict[str, Any]:
    """The gateway-shaped details payload (see the module docstring for the normalisations)."""
    out = dict(stored.raw_data)
    _join_one(out, "information", stored.information, sections.INFORMATION, tz)
    if isinstance(out.get("information"), dict):
        _join_many(out["information"], "etiquettes", stored.tags, sections.TAG, tz)
    _join_one(out, "prospect", stored.prospect, sections.PROSPECT, tz)
    _join_one(out, "elements_souscription", stored.subscription, sections.SUBSCRIPTION, tz)
    _join_many(out, "commentaires", stored.comments, sections.COMMENT, tz)
    out["recordings"] = [recording_payload(row, tz) for row in stored.recordings]
    return out
