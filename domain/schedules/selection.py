"""Which fiches a run takes (reference §9.3): days from a preset in the schedule's time zone, then
screens that either keep a fiche or give the reason it is ignored. Pure; the run applies them.

Screens before details use what the sales list told (groupe, audits made); screens after details
use what only details tell (recordings, a groupe the list did not carry). A fiche is never
silently dropped: every screen returns a reason the run records on the fiche.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from zoneinfo import ZoneInfo


class SelectionMode(StrEnum):
    DATE_RANGE = "date_range"
    MANUAL = "manual"
    FILTER = "filter"  # the original's alias of date_range


class DateRange(StrEnum):
    LAST_24H = "last_24h"
    YESTERDAY = "yesterday"
    LAST_WEEK = "last_week"
    LAST_MONTH = "last_month"
    CUSTOM = "custom"


@dataclass(frozen=True)
class FicheSelection:
    mode: SelectionMode = SelectionMode.DATE_RANGE
    date_range: DateRange | None = None
    custom_start_date: dt.date | None = None
    custom_end_date: dt.date | None = None
    groupes: tuple[str, ...] = ()
    only_with_recordings: bool = False
    only_unaudited: bool = False
    use_rlm: bool = False
    max_fiches: int | None = None
    max_recordings_per_fiche: int | None = None
    fiche_ids: tuple[str, ...] = ()


def split_ids(values: Iterable[str]) -> tuple[str, ...]:
    """Manual ids as typed: split on whitespace and commas, trimmed, de-duplicated, order kept."""
    out: dict[str, None] = {}
    for value in values:
        for part in re.split(r"[\s,]+", value):
            if part:
                out[part] = None
    return tuple(out)


def local_today(now: dt.datetime, tz: ZoneInfo) -> dt.date:
    """Today on the schedule's clock (never the server's)."""
    return now.astimezone(tz).date()


def _month_before(day: dt.date) -> dt.date:
    year, month = (day.year - 1, 12) if day.month == 1 else (day.year, day.month - 1)
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def _span(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def selection_days(selection: FicheSelection, today: dt.date) -> list[dt.date]:
    """The sales days a date-range selection covers, oldest first, never after `today`."""
    match selection.date_range:
        case DateRange.LAST_24H:
            return _span(today - dt.timedelta(days=1), today)
        case DateRange.YESTERDAY:
            return [today - dt.timedelta(days=1)]
        case DateRange.LAST_WEEK:
            return _span(today - dt.timedelta(days=7), today)
        case DateRange.LAST_MONTH:
            return _span(_month_before(today), today)
        case DateRange.CUSTOM if selection.custom_start_date is not None:
            end = min(selection.custom_end_date or selection.custom_start_date, today)
            return _span(selection.custom_start_date, end) if selection.custom_start_date <= end else []
        case _:
            return []


@dataclass(frozen=True)
class Candidate:
    """What the run knows of a fiche when it screens it."""

    fiche_id: str
    groupe: str | None = None
    crm_group_id: str | None = None
    recordings: int | None = None  # known after details
    audited_with: frozenset[int] = field(default_factory=frozenset)  # scorecards with a completed audit


def _groupe_reason(candidate: Candidate, groupes: Collection[str], scope_group_ids: Collection[str]) -> str | None:
    if candidate.groupe in groupes or candidate.crm_group_id in groupes or candidate.crm_group_id in scope_group_ids:
        return None
    return f"groupe not selected ({candidate.groupe or candidate.crm_group_id})"


def screen_before_details(
    candidate: Candidate,
    selection: FicheSelection,
    *,
    scope_group_ids: Collection[str],
    scorecards: Collection[int],
) -> str | None:
    """Why the sales list alone rules the fiche out, or None (a fiche whose groupe the list does not
    carry is kept, and screened again after details)."""
    if selection.groupes and (candidate.groupe or candidate.crm_group_id):
        reason = _groupe_reason(candidate, selection.groupes, scope_group_ids)
        if reason:
            return reason
    if selection.only_unaudited and scorecards and not scorecards_to_run(candidate, selection, scorecards):
        return "already audited with every selected scorecard"
    return None


def screen_after_details(
    candidate: Candidate,
    selection: FicheSelection,
    *,
    scope_group_ids: Collection[str],
    max_recordings: int | None,
) -> str | None:
    """Why the fiche's details rule it out, or None."""
    if selection.groupes:
        if not (candidate.groupe or candidate.crm_group_id):
            return "groupe unknown after details"
        reason = _groupe_reason(candidate, selection.groupes, scope_group_ids)
        if reason:
            return reason
    recordings = candidate.recordings or 0
    if selection.only_with_recordings and recordings == 0:
        return "no recordings"
    if max_recordings is not None and recordings > max_recordings:
        return f"too many recordings ({recordings} > {max_recordings})"
    return None


def scorecards_to_run(candidate: Candidate, selection: FicheSelection, scorecards: Collection[int]) -> list[int]:
    """The selected scorecards the fiche is audited with: all, or with `onlyUnaudited` those it has
    no completed audit with (per scorecard, not only the first one)."""
    if not selection.only_unaudited:
        return sorted(scorecards)
    return sorted(set(scorecards) - candidate.audited_with)


def effective_max_recordings(selection: FicheSelection, setting: int) -> int:
    """The selection's own limit, else AUTOMATION_MAX_RECORDINGS_PER_FICHE; no hard cap."""
    return selection.max_recordings_per_fiche or setting
