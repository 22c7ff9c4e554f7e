"""The audit list's default page can be read in `ix_audits_latest_created`'s order, without a sort.

With sequential scans and sorts priced out, Postgres picks the index only if the page's `WHERE` and
`ORDER BY` are the ones it was built for (latest, not deleted; newest first with NULLS LAST, ties
by id): a change to either side that would turn the page back into a scan and sort of every
matching audit (`benchmarks/api_load.py`) fails here, on an empty table, whatever the statistics say.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from api.audits.schemas import AuditListQuery
from api.audits.service import list_statements
from api.auth.principal import Grant, Principal, PrincipalKind, TeamRef
from domain.models.audits import LIST_INDEX
from domain.rbac import Action, Scope


def _plan(engine: Engine, scope: Scope, **filters: object) -> str:
    principal = Principal(PrincipalKind.USER, grants={}, user_id=1, teams=(TeamRef(1, "Own", "G-OWN"),))
    grant = Grant("audits", Action.READ, scope, principal)
    _, page, parameters = list_statements(grant, AuditListQuery.model_validate(filters), ZoneInfo("Europe/Paris"))
    # Every value a literal: the plan Postgres makes knowing them, as for a statement's first runs.
    compiled = page.params(parameters).compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
    with engine.connect() as connection, connection.begin():
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        connection.execute(text("SET LOCAL enable_sort = off"))
        rows = connection.exec_driver_sql(f"EXPLAIN {compiled.string}").all()
        connection.rollback()
    return "\n".join(row[0] for row in rows)


@pytest.mark.parametrize(
    ("scope", "filters"),
    [(Scope.ALL, {}), (Scope.GROUP, {}), (Scope.ALL, {"status": "completed", "offset": 200})],
)
def test_the_default_page_walks_the_list_index(sync_engine: Engine, scope: Scope, filters: dict[str, object]) -> None:
    plan = _plan(sync_engine, scope, **filters)
    assert LIST_INDEX in plan, plan
    assert "Sort Key" not in plan, plan


def test_another_order_is_not_served_by_it(sync_engine: Engine) -> None:
    """The check above can fail: sorted by score, the page needs its sort."""
    assert "Sort Key" in _plan(sync_engine, Scope.ALL, sort_by="score_percentage")
