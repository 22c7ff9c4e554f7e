"""The audit list's count reads only the tables its conditions need (`api.audits.service.list_statements`).

Every audit has its fiche and scorecard, so leaving their joins out changes no total; what must hold
is that a condition on a fiche or scorecard column still gets its join, whether it is written with a
table column or an ORM attribute; the GROUP / SELF scope and the groupe and sales-date filters read
the audit's copies of its fiche's columns (decision 117) and need none. A count whose filters and
scope `audit_counts` holds sums that table instead (`tests/api/test_audit_counts.py`: the same totals).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine
from sqlalchemy.sql.annotation import Annotated

from api.audits.schemas import AuditListQuery
from api.audits.service import list_statements
from api.auth.principal import Grant, Principal, PrincipalKind, TeamRef
from domain.rbac import Action, Scope

TZ = ZoneInfo("Europe/Paris")
DIALECT = create_engine("postgresql+psycopg://").dialect  # compiles only, never connects


def _grant(scope: Scope) -> Grant:
    principal = Principal(
        PrincipalKind.USER, grants={}, user_id=1, crm_user_id="crm-1", teams=(TeamRef(1, "Own", "G-OWN"),)
    )
    return Grant("audits", Action.READ, scope, principal)


def _count_sql(scope: Scope, **filters: object) -> str:
    count, _ = list_statements(_grant(scope), AuditListQuery.model_validate(filters), TZ)
    return str(count.compile(dialect=DIALECT))


def test_a_count_the_counts_hold_sums_them() -> None:
    for scope in (Scope.ALL, Scope.GROUP):
        sql = _count_sql(scope, status="completed", niveau="REJET", date_from="2026-01-01", groupes="Groupe Nord")
        assert "FROM audit_counts" in sql
        assert "audits." not in sql


def test_an_unfiltered_count_of_every_audit_reads_audits_alone() -> None:
    sql = _count_sql(Scope.ALL, status="completed", score_min="10")  # a score: not in the counts
    assert "JOIN" not in sql
    assert "FROM audits" in sql


@pytest.mark.parametrize(
    ("scope", "filters", "joined"),
    [
        # the scope, groupe and sales dates are read from the audit's copies (decision 117)
        (Scope.GROUP, {"score_min": "10"}, []),
        (Scope.SELF, {}, []),
        (Scope.ALL, {"groupes": "Groupe Nord", "score_min": "10"}, []),
        (Scope.GROUP, {"sales_date_from": "2026-01-01", "scorecard_ids": "2"}, []),
        (Scope.ALL, {"prospect_query": "martin"}, ["fiches"]),
        (Scope.SELF, {"agence_query": "lyon"}, ["fiches"]),
        (Scope.ALL, {"q": "santé"}, ["fiches", "scorecards"]),
    ],
)
def test_a_count_joins_the_fiche_or_scorecard_only_for_their_own_columns(
    scope: Scope, filters: dict[str, str], joined: list[str]
) -> None:
    sql = _count_sql(scope, **filters)
    assert [table for table in ("fiches", "scorecards") if f"JOIN {table} ON" in sql] == joined
    assert "FROM audits" in sql


def test_the_page_always_joins_what_a_summary_shows() -> None:
    _, page = list_statements(_grant(Scope.ALL), AuditListQuery(), TZ)
    sql = str(page.compile(dialect=DIALECT))
    assert all(f"JOIN {table} ON" in sql for table in ("fiches", "scorecards", "scorecard_versions"))


def test_the_page_selects_table_columns_not_orm_copies() -> None:
    """A page's Core result maps the new statement's columns onto its cached statement's by hash;
    an ORM attribute's annotated copy hashes like its table column without being it, and each
    such pair was compared with `==`, which builds a SQL expression (decision 120)."""
    _, page = list_statements(_grant(Scope.ALL), AuditListQuery.model_validate({}), TZ)
    selected = list(page.selected_columns)
    assert len(selected) > 30
    annotated = [column for column in selected if isinstance(column, Annotated)]
    assert annotated == []


def test_range_bounds_reach_postgres_as_values_not_parameters() -> None:
    """A prepared statement's generic plan is made without its parameters' values: for a range it
    guessed 13 rows instead of 14,800 (decision 120). The statement Postgres receives carries the
    bounds, for the page and for either count."""
    filters = {
        "sales_date_from": "2026-10-01",
        "sales_date_to": "2026-10-30",
        "date_from": "2026-10-17",
        "date_to": "2026-10-20",
        "score_min": "12.5",
    }
    counted = {"date_from": "2026-10-17", "date_to": "2026-10-20"}  # what `audit_counts` answers
    for scope in (Scope.ALL, Scope.GROUP):
        for query in (filters, counted):
            count, page = list_statements(_grant(scope), AuditListQuery.model_validate(query), TZ)
            for statement in (count, page):
                compiled = statement.compile(dialect=DIALECT, compile_kwargs={"render_postcompile": True})
                sql = str(compiled)
                assert "'2026-10-17 00:00:00+02:00'" in sql
                assert "'2026-10-21 00:00:00+02:00'" in sql  # the whole last day: before the next one
                if query is filters:
                    assert "'2026-10-01'" in sql
                    assert "'2026-10-30'" in sql
                    assert ">= 12.5" in sql
                bound = {name for name, value in compiled.params.items() if value is not None}
                assert not any("date" in name or "created" in name or "score" in name for name in bound), bound
