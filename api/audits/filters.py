"""The audit list filters of reference §4.9.1 as one validated query model, and their SQL conditions.

Pure: `AuditFilters` parses the query string (an invalid value is a 400 naming the parameter, via
the app's validation handler); `selection()` turns it into a shape (the names of its clauses) and the
values they bind; `conditions()` turns a shape into `WHERE` clauses over `Audit`, `Fiche` and
`Scorecard`, which every audit read joins, and `count_conditions()` into clauses over `AuditCount`
when the pre-aggregated counts can answer them exactly (`counted()`). Clauses and statements are
built once per shape and run with each request's values (decision 124). No I/O here.

The fiche's sales date and groupe are read from their copies on `Audit` (kept equal by triggers,
decision 117), so a count or a grouping filtered by them does not join every candidate to its fiche.

List parameters take a comma-separated value (`status=completed,failed`, as the original) or the
parameter repeated (`status=completed&status=failed`, what OpenAPI clients send).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping, Sequence
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
from sqlalchemy import BigInteger, BindParameter, ColumnElement, String, bindparam, cast, or_, true

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


def total_tokens() -> ColumnElement[int]:
    return cast(Audit.input_tokens, BigInteger) + Audit.output_tokens


#: A selection's shape: the names of its clauses, in a fixed order. With the same shape, two
#: requests run the same statement with other values (`selection`).
Shape = tuple[str, ...]
Clause = ColumnElement[bool]


#: The filters that bind their value as it is, under their own name, and the text searches.
_AS_GIVEN = (
    "fiche_ids", "groupes", "sales_dates", "sales_date_from", "sales_date_to", "recordings_count_min",
    "recordings_count_max", "niveau", "score_min", "score_max", "duration_min_ms", "duration_max_ms", "tokens_min",
    "tokens_max", "trigger_source", "auditor",
)  # fmt: skip
_PATTERNS = ("groupe_query", "agence_query", "prospect_query")


def selection(f: AuditFilters, tz: ZoneInfo) -> tuple[Shape, dict[str, Any]]:
    """The filters given, as the names of their clauses (`conditions`) and the values they bind.

    A name says which clause and, for a flag, which side (`compliant`, `not_compliant`); an empty
    list parameter (`status=`) filters nothing, like an absent one. Pure and cheap: a statement is
    built once per shape, not per request (decision 124)."""
    shape: list[str] = []
    values: dict[str, Any] = {}

    def given(name: str, value: Any, clause: str | None = None) -> None:
        if value is not None and value not in ([], ""):
            shape.append(clause or name)
            values[name] = value

    def flag(value: bool | None, yes: str, no: str) -> None:
        if value is not None:
            shape.append(yes if value else no)

    for name in _AS_GIVEN:
        given(name, getattr(f, name))
    for name in _PATTERNS:
        text = getattr(f, name)
        given(name, text and like_pattern(text))
    flag(f.has_recordings, "with_recordings", "without_recordings")
    given("status", [s.value for s in f.status or ()])
    flag(f.is_compliant, "compliant", "not_compliant")
    if f.date_from is not None:
        given("created_from", _start_of(f.date_from, tz))
    if f.date_to is not None:
        bound, exclusive = _end_bound(f.date_to, tz)
        given("created_before" if exclusive else "created_until", bound)
    given("scorecard_ids", [*(f.scorecard_ids or ()), *(f.audit_config_ids or ())])
    flag(f.has_failed_steps, "with_failed_steps", "without_failed_steps")
    if f.q:
        numeric = f.q.isascii() and f.q.isdigit() and 1 <= int(f.q) <= MAX_ID
        given("q", like_pattern(f.q), "q_or_id" if numeric else "q")
        if numeric:
            values["q_id"] = int(f.q)
    if f.latest_only:
        shape.append("latest")
    if not f.include_deleted:
        shape.append("not_deleted")
    return tuple(shape), values


def like_pattern(text: str) -> str:
    """`text` with LIKE's wildcards and the escape character escaped, for `contains(..., escape="/")`:
    what SQLAlchemy's `autoescape` does to a literal, done to a parameter's value."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def planned(column: Any, name: str) -> BindParameter[Any]:
    """The parameter `name` written into the statement Postgres receives, where a bound parameter
    would leave it out.

    A range's width decides the plan, and the API's connections prepare a statement they run
    repeatedly: after five runs Postgres may keep a generic plan, made without the values. For a
    GROUP viewer's month of one scorecard sorted by score, that plan guessed 13 rows instead of
    14,800, joined each to its fiche before sorting, and took 20 ms instead of 3 (decision 120).
    SQLAlchemy renders the value (escaped, as a literal of the column's type) at execution, so
    the compiled statement stays cached."""
    return bindparam(name, type_=column.type, literal_execute=True)


def _one_of(column: Any, name: str) -> Callable[[], Clause]:
    return lambda: column.in_(bindparam(name, type_=column.type, expanding=True))


def _at_least(column: Any, name: str) -> Callable[[], Clause]:
    return lambda: column >= planned(column, name)


def _at_most(column: Any, name: str) -> Callable[[], Clause]:
    return lambda: column <= planned(column, name)


def _contains(columns: Sequence[Any], name: str) -> Clause:
    return or_(*(column.icontains(bindparam(name, type_=String), escape="/") for column in columns))


def _free_text(with_id: bool) -> Clause:
    matches = _contains((Audit.fiche_id, Fiche.prospect_nom, Fiche.prospect_prenom, Scorecard.name, Audit.error), "q")
    return or_(Audit.id == bindparam("q_id", type_=BigInteger), matches) if with_id else matches


_PROSPECT = (Fiche.prospect_nom, Fiche.prospect_prenom, Fiche.prospect_email, Fiche.prospect_tel, Fiche.fiche_id)

#: Each name of a shape and its clause over `Audit` joined to its `Fiche` and `Scorecard`.
_CLAUSES: dict[str, Callable[[], Clause]] = {
    "fiche_ids": _one_of(Audit.fiche_id, "fiche_ids"),
    "groupes": _one_of(Audit.fiche_groupe, "groupes"),
    "groupe_query": lambda: _contains((Audit.fiche_groupe,), "groupe_query"),
    "agence_query": lambda: _contains((Fiche.agence_nom,), "agence_query"),
    "prospect_query": lambda: _contains(_PROSPECT, "prospect_query"),
    "sales_dates": _one_of(Audit.fiche_sales_date, "sales_dates"),
    "sales_date_from": _at_least(Audit.fiche_sales_date, "sales_date_from"),
    "sales_date_to": _at_most(Audit.fiche_sales_date, "sales_date_to"),
    "with_recordings": lambda: Fiche.recordings_count > 0,
    "without_recordings": lambda: Fiche.recordings_count == 0,
    "recordings_count_min": _at_least(Fiche.recordings_count, "recordings_count_min"),
    "recordings_count_max": _at_most(Fiche.recordings_count, "recordings_count_max"),
    "status": _one_of(Audit.status, "status"),
    "compliant": lambda: Audit.is_compliant.is_(True),
    "not_compliant": lambda: Audit.is_compliant.is_(False),
    "created_from": _at_least(Audit.created_at, "created_from"),
    "created_before": lambda: Audit.created_at < planned(Audit.created_at, "created_before"),
    "created_until": _at_most(Audit.created_at, "created_until"),
    "scorecard_ids": _one_of(Audit.scorecard_id, "scorecard_ids"),
    "niveau": _one_of(Audit.niveau, "niveau"),
    "score_min": _at_least(Audit.score_percentage, "score_min"),
    "score_max": _at_most(Audit.score_percentage, "score_max"),
    "duration_min_ms": _at_least(Audit.duration_ms, "duration_min_ms"),
    "duration_max_ms": _at_most(Audit.duration_ms, "duration_max_ms"),
    "tokens_min": lambda: total_tokens() >= planned(total_tokens(), "tokens_min"),
    "tokens_max": lambda: total_tokens() <= planned(total_tokens(), "tokens_max"),
    "with_failed_steps": lambda: Audit.failed_steps > 0,
    "without_failed_steps": lambda: Audit.failed_steps == 0,
    "trigger_source": _one_of(Audit.trigger_source, "trigger_source"),
    "auditor": _one_of(Audit.auditor, "auditor"),
    "q": lambda: _free_text(with_id=False),
    "q_or_id": lambda: _free_text(with_id=True),
    "latest": lambda: Audit.is_latest == true(),
    "not_deleted": lambda: Audit.deleted_at.is_(None),
}


# Bounded: a client choosing its filters chooses the shape (SQLAlchemy's own compiled cache is too).
@functools.lru_cache(maxsize=1024)
def conditions(shape: Shape) -> tuple[Clause, ...]:
    """The `WHERE` clauses of a selection's shape, binding its values by name; built once a shape."""
    return tuple(_CLAUSES[name]() for name in shape)


def on_the_hour(instant: dt.datetime) -> bool:
    """Whether `instant` starts a UTC hour, the grain of `AuditCount.created_hour`."""
    utc = instant.astimezone(dt.UTC)
    return utc.minute == utc.second == utc.microsecond == 0


#: The clauses `audit_counts` answers exactly, over its own columns: those on the columns of its
#: key. `None`: what every count row is (a latest, not deleted audit). Any other name (a fiche column
#: it does not keep, a score range, an inclusive creation bound) reads the audits.
_COUNT_CLAUSES: dict[str, Callable[[], Clause] | None] = {
    "groupes": _one_of(AuditCount.groupe, "groupes"),
    "status": _one_of(AuditCount.status, "status"),
    "compliant": lambda: AuditCount.is_compliant.is_(True),
    "not_compliant": lambda: AuditCount.is_compliant.is_(False),
    "created_from": _at_least(AuditCount.created_hour, "created_from"),
    "created_before": lambda: AuditCount.created_hour < planned(AuditCount.created_hour, "created_before"),
    "scorecard_ids": _one_of(AuditCount.scorecard_id, "scorecard_ids"),
    "niveau": _one_of(AuditCount.niveau, "niveau"),
    "latest": None,
    "not_deleted": None,
}


def counted(shape: Shape, values: Mapping[str, Any]) -> bool:
    """Whether `count_conditions(shape)` selects from `audit_counts` what `conditions(shape)` selects
    from the audits: every filter one the counts keep, latest and not deleted audits only, and the
    creation bounds on UTC hours (an inclusive date-time bound never is: the hour it starts holds
    later audits too)."""
    return (
        "latest" in shape
        and "not_deleted" in shape
        and all(name in _COUNT_CLAUSES for name in shape)
        and all(on_the_hour(values[name]) for name in ("created_from", "created_before") if name in values)
    )


@functools.lru_cache(maxsize=1024)
def count_conditions(shape: Shape) -> tuple[Clause, ...]:
    """A `counted` shape's clauses over `AuditCount`."""
    return tuple(clause() for clause in (_COUNT_CLAUSES[name] for name in shape) if clause is not None)


def whole_hours(tz: ZoneInfo) -> bool:
    """Whether `tz`'s days start on a UTC hour (its offsets, winter and summer, are whole hours), so a
    UTC hour of `audit_counts` falls in one of its days."""
    year = dt.datetime.now(tz).year
    offsets = (dt.datetime(year, month, 1, tzinfo=tz).utcoffset() for month in (1, 7))
    return all(offset is not None and offset % dt.timedelta(hours=1) == dt.timedelta(0) for offset in offsets)
