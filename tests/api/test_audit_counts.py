"""The grouped view and the list's total read `audit_counts` (migration `i21a_audit_counts`) and answer
exactly what the audits say, per scope, after every way an audit or its fiche changes.

The reference is the same request with `tokens_min=0`: a filter every audit passes that the counts do
not keep, so the route reads the audits themselves (the path the other audit tests cover).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.models import Audit, Fiche
from tests.fixtures.factories.aio import add_audit, add_fiche, add_scorecard
from tests.fixtures.queries import counting
from tests.fixtures.world import World

WHO = ("admin", "viewer", "self_user")
GROUPINGS = ("groupe", "scorecard", "status", "niveau", "created_day")
FILTERS: tuple[dict[str, str], ...] = (
    {},
    {"is_compliant": "false", "status": "completed"},
    {"date_from": "2025-03-02", "date_to": "2025-03-04", "niveau": "BON,REJET"},
    {"groupes": "groupe G-OWN", "scorecard_ids": "0"},  # scorecard 0: replaced by the first card's id
)
SCANNED = {"tokens_min": "0"}


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, minute, tzinfo=dt.UTC)


@pytest.fixture
async def audits(world: World) -> dict[str, Any]:
    """Audits over four days and several hours on the world's fiches (G-OWN own and a colleague's,
    G-OTHER) and a fiche without a group: two scorecards, scores with and without a value, failed and
    deleted attempts, superseded versions."""
    s = world.session
    one, two = await add_scorecard(s, "Vente"), await add_scorecard(s, "Qualité")
    await add_fiche(s, "F-COLLEAGUE", "G-OWN", "crm-operator")
    await add_fiche(s, "F-NOWHERE", None, None)
    await add_fiche(s, "F-GONE", "G-OWN", "crm-self")
    ids = {
        "own-1": await add_audit(s, "F-OWN", one, score=92, niveau="EXCELLENT", created_at=at(1, 9, 15)),
        "own-2": await add_audit(
            s, "F-OWN", two, score=55, niveau="INSUFFISANT", compliant=False, created_at=at(2, 23, 59)
        ),
        "colleague": await add_audit(s, "F-COLLEAGUE", one, score=70, created_at=at(3, 0, 0)),
        "colleague-2": await add_audit(
            s,
            "F-COLLEAGUE",
            two,
            score=None,
            niveau="PENDING",
            compliant=None,
            status="failed",
            created_at=at(3, 0, 30),
        ),
        "other": await add_audit(s, "F-OTHER", one, score=10, niveau="REJET", compliant=False, created_at=at(3, 14, 5)),
        "other-old": await add_audit(s, "F-OTHER", two, score=80, created_at=at(2, 8)),
        "nowhere": await add_audit(s, "F-NOWHERE", one, score=75, created_at=at(4, 11, 11)),
        "gone": await add_audit(s, "F-GONE", one, score=64, niveau="ACCEPTABLE", created_at=at(4, 11, 40)),
        "deleted": await add_audit(s, "F-GONE", two, latest=False, deleted=True, created_at=at(4, 12)),
    }
    ids["other-new"] = await add_audit(
        s, "F-OTHER", two, score=35, niveau="REJET", compliant=False, created_at=at(4, 8)
    )
    await world.commit()
    return {"ids": ids, "card": one}


async def _get(client: httpx.AsyncClient, world: World, who: str, path: str, params: dict[str, str]) -> Any:
    response = await client.get(path, params=params, headers=world.headers(who))
    assert response.status_code == 200, response.text
    return response.json()


async def assert_counts_exact(client: httpx.AsyncClient, world: World, card: int) -> None:
    """Every principal's totals and groupings from the counts equal those read from the audits, and a
    total equals the rows the same caller is listed."""
    for who in WHO:
        for template in FILTERS:
            params = {k: str(card) if k == "scorecard_ids" else v for k, v in template.items()}
            listed = await _get(client, world, who, "/api/audits", {**params, "limit": "200"})
            assert listed["pagination"]["total"] == len(listed["data"]), (who, params)
            scanned = await _get(client, world, who, "/api/audits", {**params, **SCANNED, "limit": "200"})
            assert [a["id"] for a in scanned["data"]] == [a["id"] for a in listed["data"]], (who, params)
            for group_by in GROUPINGS:
                query = {**params, "group_by": group_by, "limit": "200"}
                counted = await _get(client, world, who, "/api/audits/grouped", query)
                assert counted == await _get(client, world, who, "/api/audits/grouped", {**query, **SCANNED}), (
                    who,
                    query,
                )


async def test_counts_answer_per_scope_and_follow_every_change(
    client: httpx.AsyncClient, world: World, audits: dict[str, Any]
) -> None:
    ids, one = audits["ids"], audits["card"]
    card = one.id
    await assert_counts_exact(client, world, card)
    totals = {who: (await _get(client, world, who, "/api/audits", {}))["pagination"]["total"] for who in WHO}
    assert totals == {"admin": 8, "viewer": 5, "self_user": 3}

    # a re-run supersedes the latest audit of a pair (the old one leaves, the new one arrives)
    await add_audit(world.session, "F-OWN", one, score=40, niveau="REJET", compliant=False, created_at=at(4, 16))
    # a review lowers the score that was its key's maximum
    await world.session.execute(update(Audit).where(Audit.id == ids["gone"]).values(score_percentage=20))
    await world.commit()
    await assert_counts_exact(client, world, card)

    # soft delete, then restore, through the API
    headers = world.headers("operator")
    assert (await client.delete(f"/api/audits/{ids['colleague']}", headers=headers)).status_code == 200
    await assert_counts_exact(client, world, card)
    restored = await client.patch(f"/api/audits/{ids['colleague']}", json={"deleted": False}, headers=headers)
    assert restored.status_code == 200, restored.text
    await assert_counts_exact(client, world, card)

    # a CRM refresh moves a fiche to the other group; another is renamed; another deleted
    moved = {"crm_group_id": "G-OTHER", "groupe": "groupe G-OTHER"}
    await world.session.execute(update(Fiche).where(Fiche.fiche_id == "F-COLLEAGUE").values(**moved))
    await world.session.execute(update(Fiche).where(Fiche.fiche_id == "F-NOWHERE").values(fiche_id="F-RENAMED"))
    await world.session.execute(delete(Fiche).where(Fiche.fiche_id == "F-GONE"))
    await world.commit()
    await assert_counts_exact(client, world, card)
    totals = {who: (await _get(client, world, who, "/api/audits", {}))["pagination"]["total"] for who in WHO}
    assert totals == {"admin": 7, "viewer": 2, "self_user": 2}


async def test_the_grouped_view_and_totals_read_the_counts_not_the_audits(
    client: httpx.AsyncClient, world: World, audits: dict[str, Any], api_engine: AsyncEngine
) -> None:
    def reads(statements: list[str]) -> set[str]:
        """The tables the grouping (the statement with a GROUP BY) reads from."""
        (grouping,) = [s for s in statements if "GROUP BY" in s]
        return {table for table in ("audit_counts", "audits") if re.search(rf"\bFROM {table}\b", grouping)}

    for who, expected in (("admin", {"audit_counts"}), ("viewer", {"audit_counts"}), ("self_user", {"audits"})):
        with counting(api_engine) as statements:
            await _get(client, world, who, "/api/audits/grouped", {"group_by": "groupe"})
        assert reads(statements) == expected, who
    with counting(api_engine) as statements:
        await _get(
            client, world, "admin", "/api/audits/grouped", {"group_by": "score_bucket"}
        )  # a score they do not keep
    assert reads(statements) == {"audits"}
