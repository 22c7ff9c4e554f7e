"""The audits' copies of their fiche's sales date, groupe, CRM group and owner (migration
`i21c_audit_fiche_copies`) stay equal to the fiche's columns after every writer, and the list and
grouped view, which filter and scope on the copies, select exactly the audits the fiche's own columns
select, per scope.

The reference is read by the test itself: the audits joined to their fiche, filtered by the fiche's
columns and the scope rule of `domain.scoping` written out again.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.models import Audit, Fiche
from tests.fixtures.factories.aio import add_audit, add_fiche, add_scorecard
from tests.fixtures.queries import counting
from tests.fixtures.world import World

COPIES = ("sales_date", "groupe", "crm_group_id", "attribution_user_id")
#: What each principal of the world may see of a fiche (`domain.scoping`), by (CRM group, owner).
SCOPES: dict[str, Callable[[str | None, str | None], bool]] = {
    "admin": lambda group, owner: True,
    "viewer": lambda group, owner: group == "G-OWN",
    "self_user": lambda group, owner: owner == "crm-self",
}
MARCH = dt.date(2025, 3, 1)
DIFFERENT = (
    f"({', '.join(f'audits.fiche_{c}' for c in COPIES)}) IS DISTINCT FROM ({', '.join(f'fiches.{c}' for c in COPIES)})"
)


@pytest.fixture
async def audits(world: World) -> dict[str, Any]:
    s = world.session
    one, two = await add_scorecard(s, "Vente"), await add_scorecard(s, "Qualité")
    await add_fiche(s, "F-COLLEAGUE", "G-OWN", "crm-operator", sales_date=MARCH)
    await add_fiche(s, "F-NOWHERE", None, None)
    await add_fiche(s, "F-LATE", "G-OTHER", "crm-self", sales_date=MARCH + dt.timedelta(days=20))
    await s.execute(update(Fiche).where(Fiche.fiche_id == "F-OWN").values(sales_date=MARCH + dt.timedelta(days=2)))
    await add_audit(s, "F-OWN", one, score=92, niveau="EXCELLENT")
    await add_audit(s, "F-OWN", two, score=55, niveau="INSUFFISANT", compliant=False)
    # a writer sending its own values for the copies: the fiche's win
    await add_audit(s, "F-COLLEAGUE", one, score=70, fiche_groupe="forged", fiche_crm_group_id="G-OTHER")
    await add_audit(s, "F-OTHER", one, score=10, niveau="REJET", compliant=False)
    await add_audit(s, "F-NOWHERE", one, score=75)
    await add_audit(s, "F-LATE", two, score=100, niveau="EXCELLENT")
    await world.commit()
    return {"one": one, "two": two}


async def _differing(world: World) -> list[tuple[Any, ...]]:
    """Audits whose copies differ from their fiche's columns."""
    copies = [getattr(Audit, f"fiche_{name}") for name in COPIES]
    columns = [getattr(Fiche, name) for name in COPIES]
    statement = select(Audit.id, *copies, *columns).join(Fiche, Fiche.fiche_id == Audit.fiche_id).where(text(DIFFERENT))
    return [tuple(row) for row in (await world.session.execute(statement)).all()]


async def _get(client: httpx.AsyncClient, world: World, who: str, path: str, params: dict[str, str]) -> Any:
    response = await client.get(path, params=params, headers=world.headers(who))
    assert response.status_code == 200, response.text
    return response.json()


async def assert_reads_follow_the_fiches(client: httpx.AsyncClient, world: World) -> None:
    """The copies equal the fiches' columns, and every principal's list (ids, total) and grouping by
    groupe, filtered by groupe and sales dates, are those the fiches' own columns give."""
    assert await _differing(world) == []
    world.session.expire_all()
    rows = (
        await world.session.execute(
            select(Audit.id, Fiche.groupe, Fiche.sales_date, Fiche.crm_group_id, Fiche.attribution_user_id)
            .join(Fiche, Fiche.fiche_id == Audit.fiche_id)
            .where(Audit.is_latest, Audit.deleted_at.is_(None))
        )
    ).all()
    filters: tuple[tuple[dict[str, str], Callable[[str | None, dt.date | None], bool]], ...] = (
        ({}, lambda groupe, day: True),
        ({"groupes": "groupe G-OWN"}, lambda groupe, day: groupe == "groupe G-OWN"),
        (
            {"sales_date_from": "2025-03-02", "sales_date_to": "2025-03-31"},
            lambda groupe, day: day is not None and dt.date(2025, 3, 2) <= day <= dt.date(2025, 3, 31),
        ),
    )
    for who, visible in SCOPES.items():
        for params, selected in filters:
            expected = [
                r for r in rows if visible(r.crm_group_id, r.attribution_user_id) and selected(r.groupe, r.sales_date)
            ]
            listed = await _get(client, world, who, "/api/audits", {**params, "limit": "200"})
            assert sorted(int(a["id"]) for a in listed["data"]) == sorted(r.id for r in expected), (who, params)
            assert listed["pagination"]["total"] == len(expected), (who, params)
            query = {**params, "group_by": "groupe", "tokens_min": "0"}  # a filter the counts lack: read audits
            grouped = await _get(client, world, who, "/api/audits/grouped", query)
            assert {g["key"]: g["count"] for g in grouped["data"]} == Counter(r.groupe for r in expected), (who, params)


async def test_copies_follow_every_writer(client: httpx.AsyncClient, world: World, audits: dict[str, Any]) -> None:
    await assert_reads_follow_the_fiches(client, world)
    s = world.session

    # a CRM refresh changing each copied column of a fiche (one at a time, then all at once)
    for values in (
        {"groupe": "groupe renamed"},
        {"crm_group_id": "G-OTHER"},
        {"sales_date": MARCH + dt.timedelta(days=9)},
        {"attribution_user_id": "crm-self"},
        {"groupe": "groupe G-OWN", "crm_group_id": "G-OWN", "attribution_user_id": None, "sales_date": None},
    ):
        await s.execute(update(Fiche).where(Fiche.fiche_id == "F-COLLEAGUE").values(**values))
        await world.commit()
        await assert_reads_follow_the_fiches(client, world)

    # a fiche renamed (`ON UPDATE CASCADE`), alone and with its group changed by the same statement
    await s.execute(update(Fiche).where(Fiche.fiche_id == "F-NOWHERE").values(fiche_id="F-RENAMED"))
    await s.execute(
        update(Fiche)
        .where(Fiche.fiche_id == "F-LATE")
        .values(fiche_id="F-LATE-2", crm_group_id="G-OWN", groupe="groupe G-OWN")
    )
    await world.commit()
    await assert_reads_follow_the_fiches(client, world)

    # a re-run superseding an audit, a status change, and a writer setting a copy directly
    await add_audit(s, "F-RENAMED", audits["one"], score=40, niveau="REJET", compliant=False)
    await s.execute(update(Audit).where(Audit.fiche_id == "F-OWN").values(status="failed"))
    await s.execute(update(Audit).where(Audit.fiche_id == "F-OTHER").values(fiche_crm_group_id="G-OWN"))
    await world.commit()
    await assert_reads_follow_the_fiches(client, world)


async def test_the_list_and_grouped_view_stay_on_audits(
    client: httpx.AsyncClient, world: World, audits: dict[str, Any], api_engine: AsyncEngine
) -> None:
    """Filtered by groupe and sales dates under a GROUP or SELF scope, neither the count nor the
    grouping joins the fiches."""
    params = {"groupes": "groupe G-OWN", "sales_date_from": "2025-03-01", "tokens_min": "0"}
    for who in ("viewer", "self_user"):
        with counting(api_engine) as statements:
            await _get(client, world, who, "/api/audits", params)
            await _get(client, world, who, "/api/audits/grouped", {**params, "group_by": "score_bucket"})
        aggregates = [s for s in statements if "count(" in s and "audit_counts" not in s]
        assert len(aggregates) == 2, statements
        assert all("fiches" not in s for s in aggregates), aggregates
