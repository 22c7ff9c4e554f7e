"""What the audit routes do, all in SQL and scoped: lists, groupings, detail, metadata edits.

An audit is visible when its fiche is, under the `audits` grant (`domain.scoping` on the joined
`Fiche`; the lists and groupings apply the same rule to the audit's copies of its fiche's columns,
`audit_scope_clause`, and join the fiche only to show it); anything else is a 404. Every list is one
count query plus one page query (plus one `selectin` load per nested level for details), never a
query per row.

Soft delete and `is_latest`: a deleted audit is never the latest. Deleting or restoring moves the
flag, in the request's transaction, with the rule the audit store applies (`domain.audits.store`):
the newest completed, not deleted audit of the (fiche, scorecard); with none completed, the
current holder keeps it, else the newest not deleted attempt. In-flight audits cannot be deleted
(their completion would make them latest again).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, TypeVar, TypeVarTuple
from zoneinfo import ZoneInfo

from pydantic import BaseModel, TypeAdapter
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    Row,
    Select,
    Subquery,
    Text,
    bindparam,
    case,
    cast,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, load_only, selectinload
from sqlalchemy.sql.elements import KeyedColumnElement
from sqlalchemy.sql.util import find_tables

from api.audits.filters import (
    AuditFilters,
    Shape,
    conditions,
    count_conditions,
    counted,
    selection,
    total_tokens,
    whole_hours,
)
from api.audits.schemas import (
    AuditDetail,
    AuditFicheGroupsQuery,
    AuditGroup,
    AuditGroupedQuery,
    AuditListQuery,
    AuditPatch,
    AuditSummary,
    AuditWithSteps,
    CitationOut,
    ComplianceOut,
    ControlPointStatusOut,
    FicheAudits,
    FicheAuditsSummary,
    ScorecardRef,
    StepSummary,
)
from api.errors import Conflict, NotFound
from api.fiches.schemas import FicheListItem
from api.reviews.service import actor_of, overlaid_steps
from api.security import Grant
from api.sql_json import json_object
from domain.audits.reviews import has_trail, record_change, step_states_of
from domain.audits.store import fail_audit, lock_pair, refresh_latest
from domain.models import (
    Audit,
    AuditControlPoint,
    AuditCount,
    AuditProductLink,
    AuditRerun,
    AuditStatus,
    AuditStep,
    ChangeKind,
    Fiche,
    Scorecard,
    ScorecardVersion,
)
from domain.models.base import table_column
from domain.products.audit_link import ProductLinkValues, product_of
from domain.rbac import Scope
from domain.scoping import (
    ScopeShape,
    audit_scope_clause,
    bound_fiche_scope_clause,
    bound_owner_clause,
    fiche_scope_clause,
    scope_parameters,
    scope_shape,
)
from services.auditing import STALE_HEARTBEAT

AuditRow = Row[Audit, Fiche, str, int, *tuple[Any, ...]]  # and what a route adds
S = TypeVar("S", bound=AuditSummary)
T = TypeVar("T")
Ts = TypeVarTuple("Ts")

IN_FLIGHT = (AuditStatus.PENDING.value, AuditStatus.RUNNING.value)
# The fiche columns a summary shows: `raw_data` (the whole CRM payload) stays in the database.
FICHE_SUMMARY = load_only(
    Fiche.fiche_id,
    Fiche.sales_date,
    Fiche.groupe,
    Fiche.agence_nom,
    Fiche.prospect_nom,
    Fiche.prospect_prenom,
    Fiche.fetch_status,
    Fiche.recordings_count,
    Fiche.fetched_at,
    Fiche.created_at,
)


# --- statements ---------------------------------------------------------------------------------


def _joined(statement: Select[*Ts]) -> Select[*Ts]:
    return statement.join(Fiche, Fiche.fiche_id == Audit.fiche_id).join(Scorecard, Scorecard.id == Audit.scorecard_id)


def _audits_joined_for(statement: Select[*Ts], *clauses: ColumnElement[Any]) -> Select[*Ts]:
    """`statement` over `Audit`, joined to `Fiche` and `Scorecard` only when `clauses` read them.

    Every audit has its fiche and its scorecard (non-null foreign keys), so these inner joins never
    drop a row: where nothing reads them, a count or an aggregate without them is the same number,
    and can be answered from an index of `audits` alone (`ix_audits_latest_created`)."""
    elements = (getattr(clause, "__clause_element__", lambda c=clause: c)() for clause in clauses)  # ORM attributes
    tables = {table for element in elements for table in find_tables(element, check_columns=True)}
    if Fiche.__table__ in tables:
        statement = statement.join(Fiche, Fiche.fiche_id == Audit.fiche_id)
    if Scorecard.__table__ in tables:
        statement = statement.join(Scorecard, Scorecard.id == Audit.scorecard_id)
    return statement


def _rows() -> Select[Audit, Fiche, str, int]:
    """Audits with what a summary shows of their fiche and scorecard."""
    statement = select(Audit, Fiche, Scorecard.name, ScorecardVersion.version).select_from(Audit)
    return (
        _joined(statement)
        .join(ScorecardVersion, ScorecardVersion.id == Audit.scorecard_version_id)
        .options(FICHE_SUMMARY)
        .execution_options(populate_existing=True)
    )


_SUMMARY_FIELDS = tuple(name for name in AuditSummary.model_fields if name not in ("scorecard", "fiche"))
_SCORECARD_COLUMNS: dict[str, Any] = {
    "id": Audit.scorecard_id,
    "name": Scorecard.name,
    "version": ScorecardVersion.version,
    "version_id": Audit.scorecard_version_id,
}
_SCORECARD_FIELDS = tuple(_SCORECARD_COLUMNS)
_FICHE_FIELDS = tuple(FicheListItem.model_fields)
_SUMMARIES = TypeAdapter(list[AuditSummary])


def _summary_joined(statement: Select[*Ts]) -> Select[*Ts]:
    """`statement` over `Audit` with what a summary shows: its fiche, its scorecard and version."""
    return _joined(statement).join(ScorecardVersion, ScorecardVersion.id == Audit.scorecard_version_id)


def _summary_select(column: Callable[[Any], Any]) -> Select[Any]:
    """`AuditSummary`'s columns in `_summaries`' order: the audit's, its scorecard's, its fiche's,
    each mapped attribute passed through `column`."""
    audit = (total_tokens() if name == "total_tokens" else column(getattr(Audit, name)) for name in _SUMMARY_FIELDS)
    scorecard = (column(c) for c in _SCORECARD_COLUMNS.values())
    fiche = (column(getattr(Fiche, name)) for name in _FICHE_FIELDS)
    return _summary_joined(select(*audit, *scorecard, *fiche).select_from(Audit))


@functools.cache
def _summary_rows() -> Select[Any]:
    """The summary's columns as mapped attributes, for statements the session executes (the detail
    adds an entity). Built once (a select is immutable; `.where` copies it)."""
    return _summary_select(lambda attribute: attribute)


@functools.cache
def _summary_table_rows() -> Select[Any]:
    """The same columns as the tables' own, for the list's page executed as Core (`table_column`;
    with the detail's ORM statement they cost it 7 % more instructions, decision 120)."""
    return _summary_select(table_column)


_SCORECARD_START = len(_SUMMARY_FIELDS)
_FICHE_START = _SCORECARD_START + len(_SCORECARD_FIELDS)
_SUMMARY_WIDTH = _FICHE_START + len(_FICHE_FIELDS)


def _summary_dict(row: Sequence[T]) -> dict[str, T | dict[str, T]]:
    """`AuditSummary`'s fields from the first values of a `_summary_rows` row (or the first columns of a
    statement selecting them), as a plain dict."""
    return {
        **dict(zip(_SUMMARY_FIELDS, row[:_SCORECARD_START], strict=True)),
        "scorecard": dict(zip(_SCORECARD_FIELDS, row[_SCORECARD_START:_FICHE_START], strict=True)),
        "fiche": dict(zip(_FICHE_FIELDS, row[_FICHE_START:_SUMMARY_WIDTH], strict=True)),
    }


def _summary_json(page: Subquery) -> Select[str]:
    """Each audit of `page` (a `_summary_table_rows` subquery) as `AuditSummary`'s JSON, written by
    Postgres (`api.sql_json`): decoding a page's 50 x 45 columns, validating them and serialising the
    models took a sixth of a list request's CPU in the API process (decision 125). Written over the
    page, not in it: in it, Postgres writes the JSON of every row its `OFFSET` skips too."""
    fields = _summary_dict(list(page.c))
    nested: dict[str, type[BaseModel]] = {"scorecard": ScorecardRef, "fiche": FicheListItem}
    written = {
        name: json_object(nested[name], value) if isinstance(value, dict) else value for name, value in fields.items()
    }
    return select(cast(json_object(AuditSummary, {name: written[name] for name in AuditSummary.model_fields}), Text))


def _summaries(rows: Sequence[Row[Any]]) -> list[AuditSummary]:
    """Plain dicts validated in one call: pydantic-core builds the models without a Python frame
    each, and without `from_attributes`' attribute lookups on every row (decision 112)."""
    return _SUMMARIES.validate_python([_summary_dict(row) for row in rows])


def _where(grant: Grant, filters: AuditFilters, tz: ZoneInfo) -> tuple[list[ColumnElement[bool]], dict[str, Any]]:
    """The filters' and the scope's clauses (built once a shape) and the values they bind."""
    shape, values = selection(filters, tz)
    return [*conditions(shape), audit_scope_clause(scope_shape(grant))], {**values, **scope_parameters(grant)}


async def _total(session: AsyncSession, statement: Select[Any], parameters: Mapping[str, Any]) -> int:
    return int(await (await session.connection()).scalar(statement, parameters) or 0)


# --- shaping ------------------------------------------------------------------------------------


def _scorecard(row: AuditRow) -> ScorecardRef:
    audit, name, version = row[0], row[2], row[3]
    return ScorecardRef(id=audit.scorecard_id, name=name, version=version, version_id=audit.scorecard_version_id)


def audit_out(row: AuditRow, model: type[S], **extra: Any) -> S:
    """`model`'s fields read from the audit's columns of the same names, plus its scorecard and fiche."""
    audit, fiche = row[0], row[1]
    skip = {"scorecard", "fiche", *extra}
    fields = {name: getattr(audit, name) for name in model.model_fields if name not in skip}
    return model(**fields, scorecard=_scorecard(row), fiche=FicheListItem.model_validate(fiche), **extra)


def _ratio(part: int | None, whole: int | None) -> str | None:
    return None if part is None or whole is None else f"{part}/{whole}"


def _score(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


_COMPLIANCE_FIELDS = (
    "score_percentage",
    "niveau",
    "critical_passed",
    "critical_total",
    "points_earned",
    "points_total",
)


def compliance_of(values: Mapping[str, Any]) -> ComplianceOut:
    """The compliance block from an audit's `_COMPLIANCE_FIELDS`."""
    return ComplianceOut(
        score=_score(values["score_percentage"]),
        niveau=values["niveau"],
        points_critiques=_ratio(values["critical_passed"], values["critical_total"]),
        poids_obtenu=_ratio(values["points_earned"], values["points_total"]),
    )


def compliance_out(audit: Audit) -> ComplianceOut:
    return compliance_of({name: getattr(audit, name) for name in _COMPLIANCE_FIELDS})


# --- reads --------------------------------------------------------------------------------------

_SORT_COLUMNS: dict[str, Any] = {
    "created_at": Audit.created_at,
    "completed_at": Audit.completed_at,
    "score_percentage": Audit.score_percentage,
    "duration_ms": Audit.duration_ms,
}


_LIMIT = bindparam("limit", type_=Integer)
_OFFSET = bindparam("offset", type_=Integer)


def list_statements(
    grant: Grant, query: AuditListQuery, tz: ZoneInfo
) -> tuple[Select[int], Select[Any], dict[str, Any]]:
    """The audit list's count and page, and the values they bind. The count sums `audit_counts`
    when they hold every filter; the default order (newest first, ties by id) is the one
    `ix_audits_latest_created` holds, so the default page is read in index order and stops early."""
    shape, values = selection(query, tz)
    count, page = _list_statements(
        shape, scope_shape(grant), _counts_answer(grant, shape, values), query.sort_by, query.sort_order
    )
    return count, page, {**values, **scope_parameters(grant), "limit": query.limit, "offset": query.offset}


@functools.lru_cache(maxsize=1024)
def _list_statements(
    shape: Shape, scope: ScopeShape, from_counts: bool, sort_by: str, sort_order: str
) -> tuple[Select[int], Select[Any]]:
    """`list_statements`' statements, built once for every request of the same shape, scope, count
    source and order (building them and walking them for their cache key took a seventh of a list
    request's instructions, decision 124). Bounded: a client choosing its filters chooses the shape."""
    where = [*conditions(shape), audit_scope_clause(scope)]
    if from_counts:
        count = select(func.coalesce(func.sum(AuditCount.audits), 0)).where(*_count_where(shape, scope))
    else:
        count = _audits_joined_for(select(func.count()).select_from(Audit), *where).where(*where)
    page = _summary_table_rows().where(*where).order_by(*_order(sort_by, sort_order)).limit(_LIMIT).offset(_OFFSET)
    rows = page.subquery("page")
    return count, _summary_json(rows).order_by(*_order(sort_by, sort_order, rows))


def _order(sort_by: str, sort_order: str, page: Subquery | None = None) -> tuple[ColumnElement[Any], ...]:
    """The list's order (ties by id), on the audits or on the columns of a page of them."""
    columns: list[KeyedColumnElement[Any]] = [table_column(_SORT_COLUMNS[sort_by]), table_column(Audit.id)]
    if page is not None:
        columns = [c for c in (page.corresponding_column(column) for column in columns) if c is not None]
    column, audit_id = columns
    if sort_order == "asc":
        return column.asc().nulls_last(), audit_id.asc()
    return column.desc().nulls_last(), audit_id.desc()


async def list_audits(
    session: AsyncSession, grant: Grant, query: AuditListQuery, tz: ZoneInfo
) -> tuple[list[str], int]:
    """A page of audits as `AuditSummary` JSON texts, and how many match."""
    count, page, parameters = list_statements(grant, query, tz)
    total = await _total(session, count, parameters)
    # Core rows: the ORM's result machinery adds nothing to columns (0.3 ms of a page and its count).
    return list((await (await session.connection()).scalars(page, parameters)).all()), total


async def audits_by_fiche_groups(
    session: AsyncSession, grant: Grant, query: AuditFicheGroupsQuery, tz: ZoneInfo
) -> tuple[list[FicheAudits], int]:
    """A page of fiches (newest matching audit first), each with its matching audits and their summary."""
    where, parameters = _where(grant, query, tz)
    total = await _total(
        session,
        _joined(select(func.count(func.distinct(Audit.fiche_id))).select_from(Audit)).where(*where),
        parameters,
    )
    latest = func.max(Audit.created_at)
    # Grouping by the fiche's primary key lets Postgres return the fiche's other columns.
    fiches_page = (
        _joined(
            select(
                Fiche,
                func.count(Audit.id),
                func.count(Audit.id).filter(Audit.is_compliant.is_(True)),
                func.round(func.avg(Audit.score_percentage), 2),
                latest,
            ).select_from(Audit)
        )
        .where(*where)
        .group_by(Fiche.id)
        .order_by(latest.desc(), Fiche.fiche_id)
        .options(FICHE_SUMMARY)
        .limit(query.limit)
        .offset(query.offset)
    )
    groups = (await session.execute(fiches_page, parameters)).all()
    fiche_ids = [fiche.fiche_id for fiche, *_ in groups]
    audits: dict[str, list[AuditSummary]] = {fiche_id: [] for fiche_id in fiche_ids}
    if fiche_ids:
        statement = (
            _summary_rows().where(*where, Audit.fiche_id.in_(fiche_ids)).order_by(Audit.created_at.desc(), Audit.id)
        )
        for audit in _summaries((await session.execute(statement, parameters)).all()):
            audits[audit.fiche_id].append(audit)
    data = [
        FicheAudits(
            fiche=FicheListItem.model_validate(fiche),
            audits=audits[fiche.fiche_id],
            summary=FicheAuditsSummary(
                totalAudits=count, compliantCount=compliant, averageScore=_score(average), latestAuditDate=newest
            ),
        )
        for fiche, count, compliant, average, newest in groups
    ]
    return data, total


_GROUP_COLUMNS: dict[str, Any] = {
    "fiche": Audit.fiche_id,
    "groupe": Audit.fiche_groupe,
    "scorecard": Audit.scorecard_id,
    "status": Audit.status,
    "niveau": Audit.niveau,
}


def _group_key(query: AuditGroupedQuery, tz: ZoneInfo) -> tuple[ColumnElement[Any], bool]:
    """The SQL value audits are grouped by, and whether groups sort by it (else largest first)."""
    if query.group_by == "created_day":
        return sales_day(Audit.created_at, tz), True
    if query.group_by == "score_bucket":
        return score_bucket(query.bucket_size), True
    return _GROUP_COLUMNS[query.group_by], False


# The grouped view's expressions depend on the request only through its key (a column, the time zone,
# a bucket size of 1 to 100): built once each, not per request (building SQL functions cost about a
# third of the view's Python, decision 118).
@functools.cache
def sales_day(instant: InstrumentedAttribute[dt.datetime], tz: ZoneInfo) -> ColumnElement[dt.date]:
    """The day, in the sales time zone, of a timestamp column."""
    return func.date(func.timezone(tz.key, instant))


@functools.cache
def score_bucket(size: int) -> ColumnElement[int]:
    """Lower bound of the score's bucket (NULL without a score); 100 % falls in the last bucket, not
    in one of its own. A CASE, not LEAST: LEAST ignores NULLs and would bucket missing scores."""
    last = (99 // size) * size
    low = cast(func.floor(Audit.score_percentage / size) * size, Integer)
    return case((Audit.score_percentage >= 100, last), else_=low)


def bucket_label(low: int, size: int) -> str:
    return f"{low}-{min(low + size, 100)}"


def _key_text(value: Any, query: AuditGroupedQuery) -> str | None:
    if value is None:
        return None
    if query.group_by == "score_bucket":
        return bucket_label(int(value), query.bucket_size)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _counts_answer(grant: Grant, shape: Shape, values: Mapping[str, Any]) -> bool:
    """Whether `_count_where` selects over `AuditCount` what `_where` selects over the audits: not
    when the filters read what they do not keep (`counted`), nor for a SELF grant (they keep each
    audit's CRM group, not its owner)."""
    return grant.scope is not Scope.SELF and counted(shape, values)


@functools.lru_cache(maxsize=1024)
def _count_where(shape: Shape, scope: ScopeShape) -> tuple[ColumnElement[bool], ...]:
    # ALL or GROUP: the owner column is never read.
    group = AuditCount.crm_group_id
    return (*count_conditions(shape), bound_owner_clause(scope, group_column=group, owner_column=group))


_COUNT_GROUP_COLUMNS: dict[str, Any] = {
    "groupe": AuditCount.groupe,
    "scorecard": AuditCount.scorecard_id,
    "status": AuditCount.status,
    "niveau": AuditCount.niveau,
}


def _grouped_from_counts(
    grant: Grant, query: AuditGroupedQuery, tz: ZoneInfo
) -> tuple[Select[Any], ColumnElement[Any], ColumnElement[Any], dict[str, Any]] | None:
    """The grouping summed from `audit_counts` (a few rows per hour), when it holds the key and the
    filters, and the values it binds."""
    shape, values = selection(query, tz)
    if query.group_by == "created_day":
        key = sales_day(AuditCount.created_hour, tz) if whole_hours(tz) else None
    else:
        key = _COUNT_GROUP_COLUMNS.get(query.group_by)
    if key is None or not _counts_answer(grant, shape, values):
        return None
    columns = _counts_columns(key)
    statement = select(*columns).where(*_count_where(shape, scope_shape(grant))).group_by(key)
    return statement, key, columns[1], {**values, **scope_parameters(grant)}


@functools.cache
def _counts_columns(key: ColumnElement[Any]) -> tuple[ColumnElement[Any], ...]:
    """`_grouped_from_counts`'s columns: the key, the count (second), the compliance and scores, the
    number of groups."""
    return (
        key.label("key"),
        func.sum(AuditCount.audits),
        func.coalesce(func.sum(AuditCount.audits).filter(AuditCount.is_compliant.is_(True)), 0),
        func.coalesce(func.sum(AuditCount.audits).filter(AuditCount.is_compliant.is_(False)), 0),
        func.round(func.sum(AuditCount.score_sum) / func.nullif(func.sum(AuditCount.scored), 0), 2),
        func.min(AuditCount.score_min),
        func.max(AuditCount.score_max),
        func.count().over(),
    )


def _grouped_from_audits(
    grant: Grant, query: AuditGroupedQuery, tz: ZoneInfo, key: ColumnElement[Any]
) -> tuple[Select[Any], ColumnElement[Any], ColumnElement[Any], dict[str, Any]]:
    where, parameters = _where(grant, query, tz)
    columns = _audits_columns(key)
    # The number of groups rides along as a window over the groups: one pass over the audits, not two.
    statement = _audits_joined_for(select(*columns).select_from(Audit), key, *where)
    return statement.where(*where).group_by(key), key, columns[1], parameters


@functools.cache
def _audits_columns(key: ColumnElement[Any]) -> tuple[ColumnElement[Any], ...]:
    """`_grouped_from_audits`'s columns, in `_counts_columns`'s order. `count(*)`, not of `audits.id`:
    the index-only scans of decision 117 do not hold the id."""
    return (
        key.label("key"),
        func.count(),
        func.count().filter(Audit.is_compliant.is_(True)),
        func.count().filter(Audit.is_compliant.is_(False)),
        func.round(func.avg(Audit.score_percentage), 2),
        func.min(Audit.score_percentage),
        func.max(Audit.score_percentage),
        func.count().over(),
    )


async def grouped(
    session: AsyncSession, grant: Grant, query: AuditGroupedQuery, tz: ZoneInfo
) -> tuple[list[AuditGroup], int]:
    audit_key, by_key = _group_key(query, tz)
    statement, key, count, parameters = _grouped_from_counts(grant, query, tz) or _grouped_from_audits(
        grant, query, tz, audit_key
    )
    order = (key.asc().nulls_last(),) if by_key else (count.desc(), key.asc().nulls_last())
    page = statement.order_by(*order).limit(query.limit).offset(query.offset)
    rows = (await (await session.connection()).execute(page, parameters)).all()  # Core rows, as the list's
    if rows:
        total = rows[0][-1]
    elif query.offset:  # past the last group: the count alone says how many there are
        total = await _total(session, select(func.count()).select_from(statement.subquery()), parameters)
    else:
        total = 0
    groups = [
        AuditGroup(
            key=_key_text(value, query),
            count=n,
            compliantCount=compliant,
            nonCompliantCount=non_compliant,
            avgScore=_score(average),
            minScore=_score(low),
            maxScore=_score(high),
        )
        for value, n, compliant, non_compliant, average, low, high, _ in rows
    ]
    return groups, total


# What the detail adds to a summary's fields (its steps, compliance and product built apart).
_DETAIL_FIELDS = tuple(
    name
    for name in AuditDetail.model_fields
    if name not in AuditSummary.model_fields and name not in ("compliance", "steps", "product")
)
_COMPLIANCE_START = _SUMMARY_WIDTH + len(_DETAIL_FIELDS)


_PRODUCT_LINK = tuple(table_column(getattr(AuditProductLink, name)) for name in ProductLinkValues._fields)


@functools.cache
def _detail_row(scope: Scope) -> Select[Any]:
    """One audit's (`audit_id`) summary columns, then its detail's, its compliance's, whether it has a
    trail (`has_trail`) and its product link's: one statement built once, for subjects of `scope`
    (decision 121), of the tables' own columns and run as Core like the list's page (an entity in it
    took it through the ORM's execution path, 0.8 million instructions more, decision 124)."""
    columns = (table_column(getattr(Audit, name)) for name in (*_DETAIL_FIELDS, *_COMPLIANCE_FIELDS))
    return (
        _summary_table_rows()
        .add_columns(*columns, has_trail(table_column(Audit.id)), *_PRODUCT_LINK)
        .outerjoin(AuditProductLink, AuditProductLink.audit_id == Audit.id)
        .where(Audit.id == bindparam("audit_id", type_=BigInteger), bound_fiche_scope_clause(scope))
    )


_TRAIL = -1 - len(_PRODUCT_LINK)


async def audit_detail(session: AsyncSession, grant: Grant, audit_id: int) -> AuditDetail:
    parameters = {"audit_id": audit_id, **scope_parameters(grant)}
    row = (await (await session.connection()).execute(_detail_row(grant.scope), parameters)).first()
    if row is None:
        raise NotFound("Audit not found")
    compliance = dict(zip(_COMPLIANCE_FIELDS, row[_COMPLIANCE_START:_TRAIL], strict=True))
    trail = bool(row[_TRAIL])
    link = None if row[_TRAIL + 1] is None else ProductLinkValues(*row[_TRAIL + 1 :])  # NULL: no link (outer join)
    return AuditDetail.model_validate(
        {
            **_summary_dict(row),
            **dict(zip(_DETAIL_FIELDS, row[_SUMMARY_WIDTH:_COMPLIANCE_START], strict=True)),
            "compliance": compliance_of(compliance),
            "steps": await session.run_sync(lambda sync: overlaid_steps(sync, audit_id, trail=trail)),
            "product": product_of(link),
        }
    )


async def audits_of_fiche(session: AsyncSession, grant: Grant, fiche_id: str) -> list[AuditWithSteps]:
    """The latest, not deleted audits of a visible fiche (one per scorecard), newest first."""
    statement = (
        _rows()
        .where(Audit.fiche_id == fiche_id, Audit.is_latest, Audit.deleted_at.is_(None), fiche_scope_clause(grant))
        .order_by(Audit.created_at.desc(), Audit.id.desc())
    )
    rows = (await session.execute(statement)).all()
    ids = [row[0].id for row in rows]
    # The latest view (overrides in force applied), like the audit detail.
    states = await session.run_sync(lambda sync: step_states_of(sync, ids))
    return [
        audit_out(
            row,
            AuditWithSteps,
            steps=[
                StepSummary.model_validate(state.row, from_attributes=True).model_copy(update=state.view.step_values())
                for _, state in sorted(states.get(row[0].id, {}).items())
            ],
        )
        for row in rows
    ]


async def control_point(
    session: AsyncSession, grant: Grant, audit_id: int, position: int, index: int
) -> ControlPointStatusOut:
    statement = (
        select(AuditControlPoint)
        .join(AuditStep, AuditStep.id == AuditControlPoint.step_id)
        .join(Audit, Audit.id == AuditStep.audit_id)
        .join(Fiche, Fiche.fiche_id == Audit.fiche_id)
        .where(
            Audit.id == audit_id,
            AuditStep.position == position,
            AuditControlPoint.index == index,
            fiche_scope_clause(grant),
        )
        .options(selectinload(AuditControlPoint.citations))
    )
    point = (await session.scalars(statement)).first()
    if point is None:
        raise NotFound("Control point not found")
    return ControlPointStatusOut(
        audit_id=audit_id,
        step_position=position,
        control_point_index=index,
        point=point.point,
        statut=point.statut,
        commentaire=point.commentaire,
        minutages=point.minutages,
        citations=[CitationOut.model_validate(c, from_attributes=True) for c in point.citations],
    )


async def summary(session: AsyncSession, audit_id: int) -> AuditSummary:
    (audit,) = _summaries([(await session.execute(_summary_rows().where(Audit.id == audit_id))).one()])
    return audit


# --- writes -------------------------------------------------------------------------------------


async def _writable(session: AsyncSession, grant: Grant, audit_id: int) -> Audit:
    """The audit, in scope, locked with the rest of its (fiche, scorecard) pair (`lock_pair`'s order)."""
    statement = (
        select(Audit)
        .join(Fiche, Fiche.fiche_id == Audit.fiche_id)
        .where(Audit.id == audit_id, fiche_scope_clause(grant))
    )
    audit = (await session.scalars(statement)).first()
    if audit is None:
        raise NotFound("Audit not found")
    fiche_id, scorecard_id = audit.fiche_id, audit.scorecard_id
    await session.run_sync(lambda sync: lock_pair(sync, fiche_id, scorecard_id))
    await session.refresh(audit)
    return audit


async def update_audit(
    session: AsyncSession, grant: Grant, audit_id: int, patch: AuditPatch, now: dt.datetime
) -> AuditSummary:
    """Metadata edit, soft delete (`deleted=true`) or restore (`deleted=false`), in one transaction."""
    audit = await _writable(session, grant, audit_id)
    before = _metadata(audit)
    if "notes" in patch.model_fields_set:
        audit.notes = patch.notes
    if patch.trigger_source is not None:
        audit.trigger_source = patch.trigger_source
    toggles = patch.deleted is not None and patch.deleted != (audit.deleted_at is not None)
    if toggles and patch.deleted and audit.status in IN_FLIGHT:
        last_sign = audit.heartbeat_at or audit.started_at or audit.created_at
        if last_sign is not None and last_sign >= now - STALE_HEARTBEAT:
            raise Conflict("Audit still running: it can be deleted once it has completed or failed", field="deleted")
        # Its worker died (no heartbeat): it will never complete, so it is failed, then deleted.
        stale_id = audit.id
        await session.run_sync(
            lambda sync: fail_audit(sync, stale_id, "no progress from its worker; deleted", phase="takeover", now=now)
        )  # the same identity map: `audit` is failed in place
    if toggles:
        audit.deleted_at = now if patch.deleted else None
    await session.flush()
    after = _metadata(audit)
    if toggles:
        try:
            fiche_id, scorecard_id = audit.fiche_id, audit.scorecard_id
            await session.run_sync(lambda sync: refresh_latest(sync, fiche_id, scorecard_id))
        except IntegrityError:
            # Another writer (an audit completing) moved the flag between our lock and our update.
            raise Conflict("The audits of this fiche changed meanwhile; retry") from None
    if after != before:
        kind = ChangeKind.METADATA if not toggles else ChangeKind.SOFT_DELETE if patch.deleted else ChangeKind.RESTORE
        actor = actor_of(grant)
        await session.run_sync(
            lambda sync: record_change(sync, audit_id, kind, actor=actor, previous=before, new=after)
        )
    return await summary(session, audit_id)


def _metadata(audit: Audit) -> dict[str, Any]:
    """What a metadata change trails (JSON-ready)."""
    deleted = audit.deleted_at.isoformat() if audit.deleted_at else None
    return {"notes": audit.notes, "trigger_source": audit.trigger_source, "deleted_at": deleted}


async def run_ids(session: AsyncSession, audit: Audit) -> set[str]:
    """The Dagster runs that made the audit: its own, its step revisions' and its reruns'."""
    steps = await session.scalars(select(AuditStep.run_id).where(AuditStep.audit_id == audit.id))
    reruns = await session.scalars(select(AuditRerun.run_id).where(AuditRerun.audit_id == audit.id))
    return {run_id for run_id in (audit.run_id, *steps, *reruns) if run_id}
