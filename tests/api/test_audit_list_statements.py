"""The audit list's count reads only the tables its conditions need (`api.audits.service.list_statements`).

Every audit has its fiche and scorecard, so leaving their joins out changes no total; what must hold
is that a condition on a fiche or scorecard column still gets its join, whether it is written with a
table column or an ORM attribute; the GROUP / SELF scope and the groupe and sales-date filters read
the audit's copies of its fiche's columns (decision 117) and need none. A count whose filters and
scope `audit_counts` holds sums that table instead (`tests/api/test_audit_counts.py`: the same totals).
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import BindParameter, create_engine
from sqlalchemy.sql import visitors
from sqlalchemy.sql.annotation import Annotated

from api.audits.filters import AuditFilters, conditions, like_pattern, selection
from api.audits.schemas import AuditListQuery
from api.audits.service import _detail_row, list_statements
from api.auth.principal import Grant, Principal, PrincipalKind, TeamRef
from domain.models import Fiche
from domain.rbac import Action, Scope

TZ = ZoneInfo("Europe/Paris")
DIALECT = create_engine("postgresql+psycopg://").dialect  # compiles only, never connects


def _grant(scope: Scope, *groups: str) -> Grant:
    teams = tuple(TeamRef(i, f"Team {i}", group) for i, group in enumerate(groups or ("G-OWN",), start=1))
    principal = Principal(PrincipalKind.USER, grants={}, user_id=1, crm_user_id="crm-1", teams=teams)
    return Grant("audits", Action.READ, scope, principal)


def _count_sql(scope: Scope, **filters: object) -> str:
    count, _, _ = list_statements(_grant(scope), AuditListQuery.model_validate(filters), TZ)
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
    _, page, _ = list_statements(_grant(Scope.ALL), AuditListQuery(), TZ)
    sql = str(page.compile(dialect=DIALECT))
    assert all(f"JOIN {table} ON" in sql for table in ("fiches", "scorecards", "scorecard_versions"))


def test_the_detail_selects_table_columns_not_orm_copies() -> None:
    """The detail's Core result maps the new statement's columns onto its cached statement's by hash;
    an ORM attribute's annotated copy hashes like its table column without being it, and each such
    pair was compared with `==`, which builds a SQL expression (decision 120). (The list's page
    selects one column, its summaries' JSON, decision 125.)"""
    selected = list(_detail_row(Scope.ALL).selected_columns)
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
            count, page, parameters = list_statements(_grant(scope), AuditListQuery.model_validate(query), TZ)
            for statement in (count, page):
                bound = statement.params(parameters)
                sql = str(bound.compile(dialect=DIALECT, compile_kwargs={"render_postcompile": True}))
                assert "'2026-10-17 00:00:00+02:00'" in sql
                assert "'2026-10-21 00:00:00+02:00'" in sql  # the whole last day: before the next one
                if query is filters:
                    assert "'2026-10-01'" in sql
                    assert "'2026-10-30'" in sql
                    assert ">= 12.5" in sql
                placeholders = re.findall(r"%\((\w+)\)s", sql)
                assert statement is count or "limit" in placeholders  # what is a parameter is seen
                assert not any(word in name for name in placeholders for word in ("date", "created", "score"))


def test_requests_of_one_shape_share_statements_and_bind_their_own_values() -> None:
    """Built once a shape (filters given, scope, count source, order), then run with each request's
    values (decision 124): nothing of one request stays in a statement another runs."""
    north = AuditListQuery.model_validate({"groupes": "Nord", "score_min": "10", "q": "dupont", "limit": "20"})
    south = AuditListQuery.model_validate({"groupes": "Sud,Est", "score_min": "70", "q": "12", "offset": "40"})
    count_a, page_a, values_a = list_statements(_grant(Scope.GROUP, "G-1"), north, TZ)
    count_b, page_b, values_b = list_statements(_grant(Scope.GROUP, "G-2", "G-3"), north, TZ)
    assert (count_a, page_a) == (count_b, page_b)
    assert (values_a["scope_group_ids"], values_b["scope_group_ids"]) == (["G-1"], ["G-2", "G-3"])
    _, other_page, other_values = list_statements(_grant(Scope.GROUP, "G-1"), south, TZ)
    assert other_page is not page_a  # a numeric `q` also matches the audit's id: another clause
    assert {k: other_values[k] for k in ("groupes", "score_min", "q", "q_id", "limit", "offset")} == {
        "groupes": ["Sud", "Est"], "score_min": 70, "q": "12", "q_id": 12, "limit": 100, "offset": 40,
    }  # fmt: skip
    for statement, values in ((page_a, values_a), (page_b, values_b), (other_page, other_values)):
        sql = str(statement.params(values).compile(dialect=DIALECT, compile_kwargs={"render_postcompile": True}))
        assert f"audits.score_percentage >= {values['score_min']} " in sql  # a range's bound: written in
        assert "dupont" not in sql  # the others: parameters
        assert "Nord" not in sql
    assert list_statements(_grant(Scope.ALL), north, TZ)[1] is not page_a
    ascending = north.model_copy(update={"sort_order": "asc"})
    assert list_statements(_grant(Scope.GROUP, "G-9"), ascending, TZ)[1] is not page_a


def test_every_filter_binds_every_value_it_selects_with() -> None:
    """`selection` and `conditions` agree: with every filter given, each value is a parameter of the
    statement and each parameter has its value (a missing one would fail at execution)."""
    every = AuditListQuery.model_validate(
        {
            "fiche_ids": "F1", "groupes": "Nord", "groupe_query": "no", "agence_query": "lyon",
            "prospect_query": "du", "sales_dates": "2026-01-02", "sales_date_from": "2026-01-01",
            "sales_date_to": "2026-01-31", "has_recordings": "true", "recordings_count_min": "1",
            "recordings_count_max": "3", "status": "completed", "is_compliant": "false", "date_from": "2026-01-01",
            "date_to": "2026-01-31T10:00:00", "scorecard_ids": "1", "audit_config_ids": "2", "niveau": "REJET",
            "score_min": "1", "score_max": "99", "duration_min_ms": "1", "duration_max_ms": "9", "tokens_min": "1",
            "tokens_max": "9", "has_failed_steps": "false", "trigger_source": "manual", "auditor": "openai",
            "q": "7", "include_deleted": "true", "latest_only": "false",
        }
    )  # fmt: skip
    shape, values = selection(every, TZ)
    # one name a filter: the alias shares `scorecard_ids`; latest_only and include_deleted, off, add none
    assert len(shape) == len(set(shape)) == len(AuditFilters.model_fields) - 3
    elements = [element for clause in conditions(shape) for element in visitors.iterate(clause)]
    binds = [bind for bind in elements if isinstance(bind, BindParameter)]
    named = {bind.key for bind in binds if not bind.key.startswith("%(")}  # anonymous: a shape's constants
    assert named == set(values)
    assert [bind.value for bind in binds if bind.key.startswith("%(")] == [0, 0]  # `> 0`, `== 0`


@pytest.mark.parametrize("text", ["50%", "a_b", "x/y", "//%_", "plain"])
def test_like_pattern_escapes_as_sqlalchemy_autoescape_does(text: str) -> None:
    escaped = Fiche.agence_nom.icontains(text, autoescape=True).compile(dialect=DIALECT).params
    assert list(escaped.values()) == [like_pattern(text)]
