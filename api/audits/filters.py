"""The audit list filters of reference §4.9.1 as one validated query model, and their SQL conditions.

Pure: `AuditFilters` parses the query string (an invalid value is a 400 naming the parameter, via
the app's validation handler) and `conditions()` turns it into `WHERE` clauses over `Audit`,
`Fiche` and `Scorecard`, which every audit read joins; `count_conditions()` into clauses over
`AuditCount` when the pre-aggregated counts can answer them exactly. No I/O here.

The fiche's sales date and groupe are read from their copies on `Audit` (kept equal by triggers,
decision 117), so a count or a grouping filtered by them does not join every candidate to its fiche.

List parameters take a comma-separated value (`status=completed,failed`, as the original) or the
parameter repeated (`status=completed&status=failed`, what OpenAPI clients send).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)
from sqlalchemy import BigInteger, BindParameter, ColumnElement, bindparam, cast, or_, true

from api.fiches.schemas import FicheIdIn
from api.schemas import IsoDay
from api.security import MAX_ID, Str255
from domain.models.audits import Audit, AuditCount, AuditStatus
from domain.models.fiches import Fiche
from domain.models.scorecards import Scorecard

# List sizes keep the longest valid query string within what clients and proxies send (~8-64 KB).
MAX_IDS, MAX_NAMES, MAX_CHOICES = 200, 50, 20
MAX_INT4 = 2**31 - 1
EARLIEST_YEAR, LATEST_YEAR = 1900, 2999

#: `domain.models.audits.PENDING_LEVEL` and the `Level` values (a unit test keeps them equal).
Niveau = Literal["PENDING", "EXCELLENT", "BON", "ACCEPTABLE", "INSUFFISANT", "REJET"]


def split_csv(value: Any) -> Any:
    """`"a,b"` or `["a,b", "c"]` -> `["a", "b", "c"]` (blank items dropped); anything else unchanged."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        return [part.strip() for item in value for part in str(item).split(",") if part.strip()]
    return value


def _sane_date(value: dt.date) -> dt.date:
    # Far-away years overflow once moved to UTC; no audit is dated outside this window anyway.
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"year must be between {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value


T = TypeVar("T")

#: A comma-separated (or repeated) list parameter.
Csv = Annotated[list[T], BeforeValidator(split_csv)]
Day = Annotated[IsoDay, AfterValidator(_sane_date)]


def _instant(value: Any) -> dt.date | dt.datetime:
    """A day or an ISO 8601 date-time; one validator so an error names the parameter, not a union branch."""
    if isinstance(value, dt.date):
        return _sane_date(value)
    text = str(value)
    try:
        parsed = dt.date.fromisoformat(text) if len(text) == 10 else dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("must be a date (YYYY-MM-DD) or an ISO 8601 date-time") from None
    return _sane_date(parsed)


Instant = Annotated[
    dt.date | dt.datetime,
    PlainValidator(_instant),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}]}),
]
#: A machine word such as a trigger source or an auditor name.
Token = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
PositiveId = Annotated[int, Field(ge=1, le=MAX_ID)]
Count = Annotated[int, Field(ge=0, le=MAX_INT4)]
Score = Annotated[float, Field(ge=0, le=100)]


class AuditFilters(BaseModel):
    """What to select; every parameter is optional and they combine with AND."""

    fiche_ids: Csv[FicheIdIn] | None = Field(None, max_length=MAX_IDS)
    groupes: Csv[Str255] | None = Field(None, max_length=MAX_NAMES, description="Exact fiche groupe names")
    groupe_query: Str255 | None = Field(None, description="Fiche groupe contains (case-insensitive)")
    agence_query: Str255 | None = Field(None, description="Fiche agence contains (case-insensitive)")
    prospect_query: Str255 | None = Field(
        None, description="Prospect name, first name, e-mail, phone or fiche id contains"
    )
    sales_dates: Csv[Day] | None = Field(None, max_length=MAX_IDS)
    sales_date_from: Day | None = None
    sales_date_to: Day | None = None
    has_recordings: bool | None = None
    recordings_count_min: Count | None = None
    recordings_count_max: Count | None = None
    status: Csv[AuditStatus] | None = Field(None, max_length=MAX_CHOICES)
    is_compliant: bool | None = None
    date_from: Instant | None = Field(None, description="Created at or after (a day: from its start, SALES_TIMEZONE)")
    date_to: Instant | None = Field(None, description="Created at or before (a day: until its end, SALES_TIMEZONE)")
    scorecard_ids: Csv[PositiveId] | None = Field(None, max_length=MAX_IDS)
    audit_config_ids: Csv[PositiveId] | None = Field(
        None, max_length=MAX_IDS, description="Alias of scorecard_ids (the original's name)"
    )
    niveau: Csv[Niveau] | None = Field(None, max_length=MAX_CHOICES)
    score_min: Score | None = None
    score_max: Score | None = None
    duration_min_ms: Count | None = None
    duration_max_ms: Count | None = None
    tokens_min: Count | None = Field(None, description="Input plus output tokens")
    tokens_max: Count | None = None
    has_failed_steps: bool | None = None
    trigger_source: Csv[Token] | None = Field(None, max_length=MAX_CHOICES)
    auditor: Csv[Token] | None = Field(None, max_length=MAX_CHOICES, description="`heuristic`, `openai`")
    q: Str255 | None = Field(
        None, description="Fiche id, prospect names, scorecard name or error contain it; or the audit id when numeric"
    )
    latest_only: bool = Field(True, description="Only the latest audit of each (fiche, scorecard)")
    include_deleted: bool = Field(False, description="Also soft-deleted audits (never latest: see latest_only)")


def _start_of(value: dt.date | dt.datetime, tz: ZoneInfo) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    return dt.datetime.combine(value, dt.time.min, tzinfo=tz)


def _end_bound(value: dt.date | dt.datetime, tz: ZoneInfo) -> tuple[dt.datetime, bool]:
    """The upper bound of `date_to` and whether it is exclusive (a whole day ends before the next one)."""
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=tz)), False
    return dt.datetime.combine(value + dt.timedelta(days=1), dt.time.min, tzinfo=tz), True


def _contains_any(columns: Sequence[Any], text: str) -> ColumnElement[bool]:
    return or_(*(column.icontains(text, autoescape=True) for column in columns))


def total_tokens() -> ColumnElement[int]:
    return cast(Audit.input_tokens, BigInteger) + Audit.output_tokens


def _one_of(column: Any, values: Sequence[Any] | None) -> list[ColumnElement[bool]]:
    return [column.in_(values)] if values else []


def planned(column: Any, value: Any) -> BindParameter[Any]:
    """`value` written into the statement Postgres receives, where a bound parameter would leave it out.

    A range's width decides the plan, and the API's connections prepare a statement they run
    repeatedly: after five runs Postgres may keep a generic plan, made without the values. For a
    GROUP viewer's month of one scorecard sorted by score, that plan guessed 13 rows instead of
    14,800, joined each to its fiche before sorting, and took 20 ms instead of 3 (decision 120).
    SQLAlchemy renders the value (escaped, as a literal of the column's type) at execution, so
    the compiled statement stays cached."""
    return bindparam(None, value, type_=column.type, literal_execute=True)


def _between(column: Any, low: Any, high: Any) -> list[ColumnElement[bool]]:
    return [
        *([column >= planned(column, low)] if low is not None else []),
        *([column <= planned(column, high)] if high is not None else []),
    ]


Clause = ColumnElement[bool]


def _either(flag: bool | None, clause: Callable[[bool], Clause]) -> list[Clause]:
    """`clause(flag)` when the flag is set: a clause is built only for a filter given (building
    both sides of every flag and the unused ranges' columns cost the list a third of its clauses' time)."""
    return [] if flag is None else [clause(flag)]


def _contains(columns: Sequence[Any], text: str | None) -> list[ColumnElement[bool]]:
    return [_contains_any(columns, text)] if text else []


def _created(f: AuditFilters, tz: ZoneInfo) -> list[ColumnElement[bool]]:
    created = Audit.created_at
    where = [] if f.date_from is None else [created >= planned(created, _start_of(f.date_from, tz))]
    if f.date_to is not None:
        bound, exclusive = _end_bound(f.date_to, tz)
        where.append(created < planned(created, bound) if exclusive else created <= planned(created, bound))
    return where


def conditions(f: AuditFilters, tz: ZoneInfo) -> list[ColumnElement[bool]]:
    """The `WHERE` clauses of the filters over `Audit` joined to its `Fiche` and `Scorecard`.

    An empty list parameter (`status=`) filters nothing, like an absent one.
    """
    prospect = (Fiche.prospect_nom, Fiche.prospect_prenom, Fiche.prospect_email, Fiche.prospect_tel, Fiche.fiche_id)
    return [
        *_one_of(Audit.fiche_id, f.fiche_ids),
        *_one_of(Audit.fiche_groupe, f.groupes),
        *_contains((Audit.fiche_groupe,), f.groupe_query),
        *_contains((Fiche.agence_nom,), f.agence_query),
        *_contains(prospect, f.prospect_query),
        *_one_of(Audit.fiche_sales_date, f.sales_dates),
        *_between(Audit.fiche_sales_date, f.sales_date_from, f.sales_date_to),
        *_either(f.has_recordings, lambda yes: Fiche.recordings_count > 0 if yes else Fiche.recordings_count == 0),
        *_between(Fiche.recordings_count, f.recordings_count_min, f.recordings_count_max),
        *_one_of(Audit.status, [s.value for s in f.status or ()]),
        *_either(f.is_compliant, Audit.is_compliant.is_),
        *_created(f, tz),
        *_one_of(Audit.scorecard_id, [*(f.scorecard_ids or ()), *(f.audit_config_ids or ())]),
        *_one_of(Audit.niveau, f.niveau),
        *_between(Audit.score_percentage, f.score_min, f.score_max),
        *_between(Audit.duration_ms, f.duration_min_ms, f.duration_max_ms),
        *(_between(total_tokens(), f.tokens_min, f.tokens_max) if (f.tokens_min, f.tokens_max) != (None, None) else []),
        *_either(f.has_failed_steps, lambda yes: Audit.failed_steps > 0 if yes else Audit.failed_steps == 0),
        *_one_of(Audit.trigger_source, f.trigger_source),
        *_one_of(Audit.auditor, f.auditor),
        *([_free_text(f.q)] if f.q else []),
        *([Audit.is_latest == true()] if f.latest_only else []),
        *([] if f.include_deleted else [Audit.deleted_at.is_(None)]),
    ]


def _free_text(q: str) -> ColumnElement[bool]:
    matches = _contains_any((Audit.fiche_id, Fiche.prospect_nom, Fiche.prospect_prenom, Scorecard.name, Audit.error), q)
    if q.isascii() and q.isdigit() and 1 <= int(q) <= MAX_ID:
        return or_(Audit.id == int(q), matches)
    return matches


#: The filters `audit_counts` answers exactly: those on the columns of its key. Any other filter
#: (a fiche column it does not keep, a score range, the deleted or superseded audits) reads the audits.
COUNTED = frozenset(
    {"groupes", "status", "is_compliant", "date_from", "date_to", "scorecard_ids", "audit_config_ids", "niveau"}
)


def on_the_hour(instant: dt.datetime) -> bool:
    """Whether `instant` starts a UTC hour, the grain of `AuditCount.created_hour`."""
    utc = instant.astimezone(dt.UTC)
    return utc.minute == utc.second == utc.microsecond == 0


def count_conditions(f: AuditFilters, tz: ZoneInfo) -> list[ColumnElement[bool]] | None:
    """The filters as `WHERE` clauses over `AuditCount`, the same rows as `conditions()` selects;
    `None` when a filter reads what the counts do not keep, or a creation bound falls inside an hour
    (an inclusive date-time bound always may: the hour it starts holds later audits too)."""
    fields = AuditFilters.model_fields.items()
    if any(name not in COUNTED and getattr(f, name) != field.default for name, field in fields):
        return None
    where: list[ColumnElement[bool]] = []
    if f.date_from is not None:
        start = _start_of(f.date_from, tz)
        if not on_the_hour(start):
            return None
        where.append(AuditCount.created_hour >= planned(AuditCount.created_hour, start))
    if f.date_to is not None:
        bound, exclusive = _end_bound(f.date_to, tz)
        if not (exclusive and on_the_hour(bound)):
            return None
        where.append(AuditCount.created_hour < planned(AuditCount.created_hour, bound))
    return [
        *where,
        *_one_of(AuditCount.groupe, f.groupes),
        *_one_of(AuditCount.status, [s.value for s in f.status or ()]),
        *_either(f.is_compliant, AuditCount.is_compliant.is_),
        *_one_of(AuditCount.scorecard_id, [*(f.scorecard_ids or ()), *(f.audit_config_ids or ())]),
        *_one_of(AuditCount.niveau, f.niveau),
    ]


def whole_hours(tz: ZoneInfo) -> bool:
    """Whether `tz`'s days start on a UTC hour (its offsets, winter and summer, are whole hours), so a
    UTC hour of `audit_counts` falls in one of its days."""
    year = dt.datetime.now(tz).year
    offsets = (dt.datetime(year, month, 1, tzinfo=tz).utcoffset() for month in (1, 7))
    return all(offset is not None and offset % dt.timedelta(hours=1) == dt.timedelta(0) for offset in offsets)
