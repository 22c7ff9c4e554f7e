"""`/api/audits` reads and metadata edits on the test harness (real Postgres, rolled back per test)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, get_args

import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from api.audits.filters import Niveau, split_csv
from api.audits.schemas import AuditListResponse
from api.audits.service import bucket_label
from domain.audits.schema import Level
from domain.audits.store import LatestCandidate, choose_latest
from domain.models import Audit, AuditProductLink
from domain.models.audits import PENDING_LEVEL
from services.auditing import STALE_HEARTBEAT
from tests.fixtures.factories.aio import add_audit, add_fiche, add_scorecard
from tests.fixtures.queries import counting
from tests.fixtures.wire import same_json
from tests.fixtures.world import World

Ids = dict[str, int]


def at(day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, 0, tzinfo=dt.UTC)


@pytest.fixture
async def dataset(world: World) -> Ids:
    """Three latest audits `a`, `b`, `c` differing on every filter, an older version `old` of `a`'s pair
    and a deleted audit `del`; all in the viewer's group. Scorecard ids as `S1`, `S2`."""
    s = world.session
    s1 = await add_scorecard(s, "Vente santé")
    s2 = await add_scorecard(s, "Qualité appel")
    await add_fiche(s, "FA", groupe="Equipe Nord", agence_nom="Agence Lyon", prospect_nom="Dupont",
                    prospect_prenom="Marie", prospect_email="marie@example.fr", prospect_tel="0612345678",
                    sales_date=dt.date(2025, 3, 3), recordings_count=2)  # fmt: skip
    await add_fiche(s, "FB", groupe="Equipe Sud", agence_nom="Agence Paris", prospect_nom="Martin",
                    prospect_prenom="Paul", sales_date=dt.date(2025, 3, 4), recordings_count=0)  # fmt: skip
    await add_fiche(s, "FC", groupe="Equipe Nord", prospect_nom="Leroy", sales_date=dt.date(2025, 3, 5),
                    recordings_count=5)  # fmt: skip
    ids = {"S1": s1.id, "S2": s2.id}
    ids["old"] = await add_audit(s, "FA", s1, score=60, niveau="ACCEPTABLE", created_at=at(1))
    ids["a"] = await add_audit(s, "FA", s1, score=95, niveau="EXCELLENT", created_at=at(3), duration_ms=1000,
                               input_tokens=100, output_tokens=50)  # fmt: skip
    ids["b"] = await add_audit(s, "FB", s2, score=40, niveau="REJET", compliant=False, created_at=at(5),
                               duration_ms=5000, input_tokens=1000, output_tokens=500, failed_steps=1,
                               trigger_source="batch", auditor="openai", error="timeout LLM")  # fmt: skip
    ids["c"] = await add_audit(s, "FC", s1, score=None, niveau=PENDING_LEVEL, compliant=None, status="failed",
                               created_at=at(7), duration_ms=200, input_tokens=0, output_tokens=0,
                               trigger_source="automation")  # fmt: skip
    ids["del"] = await add_audit(s, "FB", s1, latest=False, created_at=at(6), deleted_at=at(6, 12))
    await world.commit()
    return ids


async def listed(client: httpx.AsyncClient, world: World, ids: Ids, who: str = "viewer", **params: Any) -> list[str]:
    response = await client.get("/api/audits", params=params, headers=world.headers(who))
    assert response.status_code == 200, response.text
    names = {str(v): k for k, v in ids.items()}
    return [names.get(item["id"], item["id"]) for item in response.json()["data"]]


FILTER_CASES: list[tuple[dict[str, str], set[str]]] = [
    ({"fiche_ids": "FA"}, {"a"}),
    ({"fiche_ids": "FA,FB"}, {"a", "b"}),
    ({"groupes": "Equipe Sud"}, {"b"}),
    ({"groupe_query": "nORd"}, {"a", "c"}),
    ({"agence_query": "paris"}, {"b"}),
    ({"prospect_query": "dupont"}, {"a"}),
    ({"prospect_query": "marie@"}, {"a"}),
    ({"prospect_query": "%"}, set()),  # a literal percent sign, not a wildcard
    ({"sales_dates": "2025-03-04,2025-03-05"}, {"b", "c"}),
    ({"sales_date_from": "2025-03-04"}, {"b", "c"}),
    ({"sales_date_to": "2025-03-04"}, {"a", "b"}),
    ({"has_recordings": "false"}, {"b"}),
    ({"has_recordings": "true"}, {"a", "c"}),
    ({"recordings_count_min": "2", "recordings_count_max": "4"}, {"a"}),
    ({"status": "failed"}, {"c"}),
    ({"status": "completed,failed"}, {"a", "b", "c"}),
    ({"is_compliant": "true"}, {"a"}),
    ({"is_compliant": "false"}, {"b"}),
    ({"date_from": "2025-03-05"}, {"b", "c"}),
    ({"date_to": "2025-03-04"}, {"a"}),
    ({"date_to": "2025-03-05T09:00:00Z"}, {"a"}),
    ({"scorecard_ids": "{S2}"}, {"b"}),
    ({"audit_config_ids": "{S2}"}, {"b"}),
    ({"niveau": "PENDING"}, {"c"}),
    ({"niveau": "EXCELLENT,REJET"}, {"a", "b"}),
    ({"score_min": "50"}, {"a"}),
    ({"score_max": "50"}, {"b"}),
    ({"duration_min_ms": "500", "duration_max_ms": "2000"}, {"a"}),
    ({"tokens_min": "1000"}, {"b"}),
    ({"tokens_max": "150"}, {"a", "c"}),
    ({"has_failed_steps": "true"}, {"b"}),
    ({"has_failed_steps": "false"}, {"a", "c"}),
    ({"trigger_source": "batch,automation"}, {"b", "c"}),
    ({"auditor": "openai"}, {"b"}),
    ({"q": "timeout"}, {"b"}),  # error message
    ({"q": "qualité"}, {"b"}),  # scorecard name
    ({"q": "leroy"}, {"c"}),  # prospect name
    ({"q": "FA"}, {"a"}),  # fiche id
    ({"q": "{c}"}, {"c"}),  # exact audit id
    ({"latest_only": "false"}, {"a", "b", "c", "old"}),
    ({"latest_only": "false", "include_deleted": "true"}, {"a", "b", "c", "old", "del"}),
    ({"include_deleted": "true"}, {"a", "b", "c"}),  # a deleted audit is never the latest
    ({"status": ""}, {"a", "b", "c"}),  # an empty list filters nothing
]


@pytest.mark.parametrize(("params", "expected"), FILTER_CASES, ids=lambda v: str(v) if isinstance(v, dict) else "")
async def test_each_filter_selects_and_excludes(
    client: httpx.AsyncClient, world: World, dataset: Ids, params: dict[str, str], expected: set[str]
) -> None:
    formatted = {k: v.format(**dataset) for k, v in params.items()}
    assert set(await listed(client, world, dataset, **formatted)) == expected


async def test_one_shape_of_filters_answers_each_request_with_its_own_values(
    client: httpx.AsyncClient, world: World, dataset: Ids
) -> None:
    """The list's statements are built once a shape of filters and run with each request's values
    (decision 124): requests of one shape, one after the other, select what their own values say."""
    runs: list[tuple[dict[str, str], list[str]]] = [
        ({"fiche_ids": "FA"}, ["a"]),
        ({"fiche_ids": "FB"}, ["b"]),
        ({"fiche_ids": "FB,FC"}, ["c", "b"]),
        ({"groupes": "Equipe Sud"}, ["b"]),
        ({"groupes": "Equipe Nord"}, ["c", "a"]),
        ({"q": "timeout"}, ["b"]),
        ({"q": "leroy"}, ["c"]),
        ({"score_min": "50"}, ["a"]),
        ({"score_min": "30"}, ["b", "a"]),
        ({"status": "failed"}, ["c"]),
        ({"status": "completed"}, ["b", "a"]),
        ({"limit": "1"}, ["c"]),
        ({"limit": "1", "offset": "1"}, ["b"]),
        ({"limit": "2", "offset": "1"}, ["b", "a"]),
    ]
    for params, expected in runs:
        assert await listed(client, world, dataset, **params) == expected, params


async def test_list_item_shape(client: httpx.AsyncClient, world: World, dataset: Ids) -> None:
    body = (await client.get("/api/audits", params={"fiche_ids": "FA"}, headers=world.headers("viewer"))).json()
    item = body["data"][0]
    assert item["scorecard"] == {"id": str(dataset["S1"]), "name": "Vente santé", "version": 1,
                                 "version_id": item["scorecard"]["version_id"]}  # fmt: skip
    assert item["fiche"]["fiche_id"] == "FA"
    assert item["fiche"]["prospect_nom"] == "Dupont"
    assert (item["version"], item["is_latest"], item["score_percentage"]) == (2, True, 95.0)
    assert item["total_tokens"] == 150
    assert "steps" not in item


async def test_list_json_written_by_postgres_is_the_models(
    client: httpx.AsyncClient, world: World, dataset: Ids
) -> None:
    """The page's summaries are `AuditSummary`'s JSON (Postgres writes them, decision 125): read
    through the response model and written again by pydantic, the body is the same (ids as strings,
    instants with pydantic's fraction and `Z`, numbers, nulls, lists; no field missing, added or moved)."""
    await world.session.execute(
        update(Audit).where(Audit.id == dataset["b"]).values(
            needs_review=True, review_reasons=["Point critique incertain", "Verdict \"inconnu\""],
            notes="À revoir", started_at=dt.datetime(2025, 3, 5, 10, 0, 0, 120000, tzinfo=dt.UTC),
            cost_usd=0.00042, trigger_user_id=world.users["admin"],
        )
    )  # fmt: skip
    await world.commit()
    params = {"latest_only": "false", "include_deleted": "true", "limit": "3", "offset": "1"}
    response = await client.get("/api/audits", params=params, headers=world.headers("viewer"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    same_json(body, json.loads(AuditListResponse.model_validate_json(response.content).model_dump_json()))
    assert body["pagination"] == {"total": 5, "limit": 3, "offset": 1, "current_page": 1, "total_pages": 2,
                                  "has_next_page": True, "has_prev_page": True}  # fmt: skip
    items = {item["id"]: item for item in body["data"]}
    assert set(items) == {str(dataset[name]) for name in ("b", "del", "a")}
    b = items[str(dataset["b"])]
    assert b["review_reasons"] == ["Point critique incertain", 'Verdict "inconnu"']
    assert (b["started_at"], b["cost_usd"], b["trigger_user_id"]) == (
        "2025-03-05T10:00:00.120000Z", 0.00042, str(world.users["admin"])
    )  # fmt: skip
    assert (b["score_percentage"], b["total_tokens"], b["fiche"]["sales_date"]) == (40.0, 1500, "2025-03-04")
    assert items[str(dataset["del"])]["deleted_at"] == "2025-03-06T12:00:00Z"


@pytest.mark.parametrize(
    ("sort_by", "ascending", "descending"),
    [
        ("score_percentage", ["b", "a", "c"], ["a", "b", "c"]),  # no score sorts last in both orders
        ("created_at", ["a", "b", "c"], ["c", "b", "a"]),
        ("completed_at", ["a", "b", "c"], ["c", "b", "a"]),
        ("duration_ms", ["c", "a", "b"], ["b", "a", "c"]),
    ],
)
async def test_sorting_both_orders(
    client: httpx.AsyncClient, world: World, dataset: Ids, sort_by: str, ascending: list[str], descending: list[str]
) -> None:
    assert await listed(client, world, dataset, sort_by=sort_by, sort_order="asc") == ascending
    assert await listed(client, world, dataset, sort_by=sort_by, sort_order="desc") == descending


async def test_default_sort_is_newest_first(client: httpx.AsyncClient, world: World, dataset: Ids) -> None:
    assert await listed(client, world, dataset) == ["c", "b", "a"]


@pytest.mark.parametrize(
    ("limit", "offset", "names", "pagination"),
    [
        (2, 0, ["c", "b"], {"current_page": 1, "total_pages": 2, "has_next_page": True, "has_prev_page": False}),
        (2, 2, ["a"], {"current_page": 2, "total_pages": 2, "has_next_page": False, "has_prev_page": True}),
        (2, 3, [], {"current_page": 2, "total_pages": 2, "has_next_page": False, "has_prev_page": True}),
        (3, 0, ["c", "b", "a"], {"current_page": 1, "total_pages": 1, "has_next_page": False, "has_prev_page": False}),
        (1, 1, ["b"], {"current_page": 2, "total_pages": 3, "has_next_page": True, "has_prev_page": True}),
    ],
)
async def test_pagination_boundaries(
    client: httpx.AsyncClient,
    world: World,
    dataset: Ids,
    limit: int,
    offset: int,
    names: list[str],
    pagination: dict[str, Any],
) -> None:
    response = await client.get(
        "/api/audits", params={"limit": limit, "offset": offset}, headers=world.headers("viewer")
    )
    body = response.json()
    assert [dataset_name(dataset, item["id"]) for item in body["data"]] == names
    assert body["pagination"] == {"total": 3, "limit": limit, "offset": offset, **pagination}


def dataset_name(ids: Ids, audit_id: str) -> str:
    return next(k for k, v in ids.items() if str(v) == audit_id)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/audits", {"limit": "0"}, "query.limit"),
        ("/api/audits", {"limit": "501"}, "query.limit"),
        ("/api/audits", {"offset": "-1"}, "query.offset"),
        ("/api/audits", {"status": "completed,done"}, "query.status.1"),
        ("/api/audits", {"niveau": "MOYEN"}, "query.niveau.0"),
        ("/api/audits", {"sort_by": "name"}, "query.sort_by"),
        ("/api/audits", {"sort_order": "up"}, "query.sort_order"),
        ("/api/audits", {"score_min": "101"}, "query.score_min"),
        ("/api/audits", {"date_from": "yesterday"}, "query.date_from"),
        ("/api/audits", {"sales_date_from": "0001-01-01"}, "query.sales_date_from"),
        ("/api/audits", {"scorecard_ids": "1,abc"}, "query.scorecard_ids.1"),
        ("/api/audits", {"has_recordings": "maybe"}, "query.has_recordings"),
        ("/api/audits", {"latest_only": "perhaps"}, "query.latest_only"),
        ("/api/audits/grouped", {}, "query.group_by"),
        ("/api/audits/grouped", {"group_by": "agent"}, "query.group_by"),
        ("/api/audits/grouped", {"group_by": "score_bucket", "bucket_size": "0"}, "query.bucket_size"),
        ("/api/audits/grouped-by-fiches", {"limit": "1000"}, "query.limit"),
    ],
)
async def test_invalid_values_name_the_field(
    client: httpx.AsyncClient, world: World, path: str, params: dict[str, str], field: str
) -> None:
    response = await client.get(path, params=params, headers=world.headers("viewer"))
    assert response.status_code == 400, response.text
    body = response.json()
    assert (body["code"], body["field"]) == ("VALIDATION_ERROR", field)


async def test_repeated_list_parameters_work_like_csv(client: httpx.AsyncClient, world: World, dataset: Ids) -> None:
    params = httpx.QueryParams([("status", "completed"), ("status", "failed"), ("niveau", "REJET,PENDING")])
    response = await client.get("/api/audits", params=params, headers=world.headers("viewer"))
    assert {dataset_name(dataset, i["id"]) for i in response.json()["data"]} == {"b", "c"}


# --- scoping --------------------------------------------------------------------------------------


@pytest.fixture
async def scoped(world: World) -> Ids:
    """Audits on the world's own fiche (G-OWN, crm-self), on a G-OWN fiche of someone else, and on the
    other group's fiche."""
    s = world.session
    card = await add_scorecard(s)
    await add_fiche(s, "F-COLLEAGUE", "G-OWN", "crm-operator")
    ids = {
        "own": await add_audit(s, "F-OWN", card, score=80),
        "colleague": await add_audit(s, "F-COLLEAGUE", card, score=70, compliant=False),
        "other": await add_audit(s, "F-OTHER", card, score=10, niveau="REJET", compliant=False),
    }
    await world.commit()
    return ids


@pytest.mark.parametrize(
    ("who", "expected"),
    [("viewer", {"own", "colleague"}), ("self_user", {"own"}), ("admin", {"own", "colleague", "other"})],
)
async def test_lists_are_scoped_in_sql(
    client: httpx.AsyncClient, world: World, scoped: Ids, who: str, expected: set[str]
) -> None:
    response = await client.get("/api/audits", headers=world.headers(who))
    body = response.json()
    assert {dataset_name(scoped, i["id"]) for i in body["data"]} == expected
    assert body["pagination"]["total"] == len(expected)

    fiches = (await client.get("/api/audits/grouped-by-fiches", headers=world.headers(who))).json()
    assert fiches["pagination"]["total"] == len(expected)
    assert sum(g["summary"]["totalAudits"] for g in fiches["data"]) == len(expected)

    groups = (await client.get("/api/audits/grouped", params={"group_by": "fiche"}, headers=world.headers(who))).json()
    assert sum(g["count"] for g in groups["data"]) == len(expected)


async def test_group_scope_intersects_requested_groupes(client: httpx.AsyncClient, world: World, scoped: Ids) -> None:
    params = {"groupes": "groupe G-OTHER,groupe G-OWN"}
    assert {dataset_name(scoped, i) for i in await listed(client, world, {}, **params)} == {"own", "colleague"}
    assert await listed(client, world, {}, groupes="groupe G-OTHER") == []


@pytest.mark.parametrize(("who", "status"), [("viewer", 404), ("self_user", 404), ("admin", 200)])
async def test_out_of_scope_detail_is_404(
    client: httpx.AsyncClient, world: World, scoped: Ids, who: str, status: int
) -> None:
    audit = scoped["other"]
    paths = [f"/api/audits/{audit}", f"/api/audits/{audit}/steps/1/control-points/1", "/api/audits/by-fiche/F-OTHER"]
    for path in paths:
        assert (await client.get(path, headers=world.headers(who))).status_code == status, path
    colleague = await client.get(f"/api/audits/{scoped['colleague']}", headers=world.headers("self_user"))
    assert colleague.status_code == 404  # same group, not attributed to them


async def test_write_is_scoped_by_the_write_grant(client: httpx.AsyncClient, world: World, scoped: Ids) -> None:
    other = await client.patch(f"/api/audits/{scoped['other']}", json={"notes": "x"}, headers=world.headers("operator"))
    assert other.status_code == 404
    viewer = await client.patch(f"/api/audits/{scoped['own']}", json={"notes": "x"}, headers=world.headers("viewer"))
    assert viewer.status_code == 403
    unchanged = await world.session.scalar(select(Audit.notes).where(Audit.id == scoped["other"]))
    assert unchanged is None


# --- detail, control point, by fiche ---------------------------------------------------------------


async def test_detail_has_steps_points_citations_and_compliance(client: httpx.AsyncClient, world: World) -> None:
    card = await add_scorecard(world.session, versions=2)
    audit_id = await add_audit(world.session, "F-OWN", card, model="gpt-test", transcript_mode="tools")
    await world.commit()

    body = (await client.get(f"/api/audits/{audit_id}", headers=world.headers("viewer"))).json()
    data = body["data"]
    assert data["scorecard"]["version"] == 2
    assert (data["auditor"], data["model"], data["transcript_mode"]) == ("heuristic", "gpt-test", "tools")
    assert (data["prompt_version"], data["transcript_version"]) == ("test-1", "t-1")
    assert (data["input_tokens"], data["cached_input_tokens"], data["output_tokens"]) == (1200, 800, 300)
    assert data["cost_usd_per_audited_minute"] == pytest.approx(0.0042 / 3)
    assert data["gating"] == {"citations_rejected": 1}
    assert data["compliance"] == {"score": 87.5, "niveau": "BON", "points_critiques": "1/1", "poids_obtenu": "7/8"}
    assert [s["position"] for s in data["steps"]] == [1, 2]
    first = data["steps"][0]
    assert [p["statut"] for p in first["control_points"]] == ["PRESENT", "ABSENT"]
    assert first["control_points"][1]["downgraded"] is True
    citation = first["control_points"][0]["citations"][0]
    assert citation == {
        "index": 1,
        "texte": "je suis Paul de Mutuelle Plus",
        "chunk_id": "call-1:0",
        "call_id": "call-1",
        "recording_index": 0,
        "chunk_index": 0,
        "speaker": "speaker_0",
        "role": "agent",
        "start_seconds": 12.5,
        "end_seconds": 15.0,
        "minutage": "00:12",
        "recording_date": "2025-03-03",
        "recording_time": "10:15",
        "recording_url": "https://crm.test/rec/call-1.mp3",
        "match": "tolerant",
        "similarity": 0.93,
    }


async def test_detail_shows_the_product_match_and_per_product_step_the_facts_used_and_checks(
    client: httpx.AsyncClient, world: World
) -> None:
    card = await add_scorecard(world.session)
    linked = await add_audit(world.session, "F-OWN", card)
    plain = await add_audit(world.session, "F-OWN", card)
    facts = {"plan": {"formule": "E2"}, "coverage": {"dentaire": "125 %"}, "tables": [{"title": "T"}]}
    check = {
        "checks": [{"topic": "dentaire", "said": "200 pct", "expected": "125 %", "verdict": "contradicted"}],
        "legal_notices": {"rétractation": True},
        "not_verifiable_offline": ["Optique : non annoncé dans l'appel"],
    }
    world.session.add(
        AuditProductLink(
            audit_id=linked,
            strategy="fuzzy",
            sold={"formule_nom": "e 2"},
            scores={"strategy": "fuzzy", "scores": {"formule": 0.92}},
            facts={"facts": {**facts, "sold": {}, "documents": {}}, "steps": {"2": check}},
        )
    )
    await world.commit()

    data = (await client.get(f"/api/audits/{linked}", headers=world.headers("viewer"))).json()["data"]
    assert data["product"] == {
        "strategy": "fuzzy",
        "match": {"strategy": "fuzzy", "scores": {"formule": 0.92}},
        "sold": {"formule_nom": "e 2"},
        "steps": [{"position": 2, "facts_used": facts, **check}],
    }
    other = (await client.get(f"/api/audits/{plain}", headers=world.headers("viewer"))).json()["data"]
    assert other["product"] is None


async def test_control_point_route(client: httpx.AsyncClient, world: World) -> None:
    audit_id = await add_audit(world.session, "F-OWN", await add_scorecard(world.session))
    await world.commit()
    point = await client.get(f"/api/audits/{audit_id}/steps/2/control-points/1", headers=world.headers("viewer"))
    assert point.json()["data"] | {"citations": []} == {
        "audit_id": str(audit_id),
        "step_position": 2,
        "control_point_index": 1,
        "point": "Besoins",
        "statut": "PARTIEL",
        "commentaire": "",
        "minutages": [],
        "citations": [],
    }
    assert len(point.json()["data"]["citations"]) == 1
    missing = await client.get(f"/api/audits/{audit_id}/steps/2/control-points/2", headers=world.headers("viewer"))
    assert missing.status_code == 404


async def test_by_fiche_lists_latest_not_deleted_newest_first(client: httpx.AsyncClient, world: World) -> None:
    s = world.session
    first, second, third = [await add_scorecard(s, name) for name in ("A", "B", "C")]
    await add_audit(s, "F-OWN", first, created_at=at(1))
    newest = await add_audit(s, "F-OWN", first, created_at=at(4))
    b = await add_audit(s, "F-OWN", second, created_at=at(2))
    await add_audit(s, "F-OWN", third, created_at=at(3), latest=False, deleted_at=at(3))
    await world.commit()

    body = (await client.get("/api/audits/by-fiche/F-OWN", headers=world.headers("viewer"))).json()
    assert [a["id"] for a in body["data"]] == [str(newest), str(b)]
    assert body["count"] == 2
    assert [(st["position"], st["score"], st["weight"]) for st in body["data"][0]["steps"]] == [(1, 5, 5), (2, 2, 3)]
    unknown = await client.get("/api/audits/by-fiche/NOPE", headers=world.headers("viewer"))
    assert unknown.status_code == 404


async def test_statuses_need_only_authentication(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get("/api/audits/control-points/statuses", headers=world.headers("token"))
    assert response.json()["data"] == {"statuses": ["PRESENT", "ABSENT", "PARTIEL", "NON_APPLICABLE"]}


# --- soft delete, restore, is_latest --------------------------------------------------------------


async def _latest_flags(world: World, *ids: int) -> list[bool]:
    rows = dict((await world.session.execute(select(Audit.id, Audit.is_latest).where(Audit.id.in_(ids)))).all())
    return [rows[i] for i in ids]


async def test_soft_delete_and_restore_move_is_latest(client: httpx.AsyncClient, world: World) -> None:
    card = await add_scorecard(world.session)
    v1 = await add_audit(world.session, "F-OWN", card, score=50, created_at=at(1))
    v2 = await add_audit(world.session, "F-OWN", card, score=90, created_at=at(2))
    await world.commit()
    headers = world.headers("operator")

    deleted = await client.delete(f"/api/audits/{v2}", headers=headers)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["data"]["deleted_at"] is not None
    assert deleted.json()["data"]["is_latest"] is False
    assert await _latest_flags(world, v1, v2) == [True, False]
    assert await listed(client, world, {"v1": v1}, fiche_ids="F-OWN") == ["v1"]

    restored = await client.patch(f"/api/audits/{v2}", json={"deleted": False}, headers=headers)
    assert restored.json()["data"]["deleted_at"] is None
    assert await _latest_flags(world, v1, v2) == [False, True]

    # deleting an older version leaves the latest where it is; deleting everything leaves none latest
    await client.delete(f"/api/audits/{v1}", headers=headers)
    assert await _latest_flags(world, v1, v2) == [False, True]
    await client.delete(f"/api/audits/{v2}", headers=headers)
    assert await _latest_flags(world, v1, v2) == [False, False]
    await client.patch(f"/api/audits/{v1}", json={"deleted": False}, headers=headers)
    assert await _latest_flags(world, v1, v2) == [True, False]


async def test_restore_prefers_the_newest_completed_over_a_failed_retry(
    client: httpx.AsyncClient, world: World
) -> None:
    card = await add_scorecard(world.session)
    done = await add_audit(world.session, "F-OWN", card, created_at=at(1))
    failed = await add_audit(world.session, "F-OWN", card, status="failed", latest=False, created_at=at(2))
    await world.commit()
    headers = world.headers("admin")
    await client.delete(f"/api/audits/{done}", headers=headers)
    assert await _latest_flags(world, done, failed) == [False, True]  # the only one left
    await client.patch(f"/api/audits/{done}", json={"deleted": False}, headers=headers)
    assert await _latest_flags(world, done, failed) == [True, False]


async def test_running_audits_cannot_be_deleted(client: httpx.AsyncClient, world: World) -> None:
    card = await add_scorecard(world.session)
    running = await add_audit(world.session, "F-OWN", card, status="running", score=None, niveau=PENDING_LEVEL)
    now = dt.datetime.now(dt.UTC)
    await world.session.execute(update(Audit).where(Audit.id == running).values(heartbeat_at=now))  # alive
    await world.commit()
    response = await client.delete(f"/api/audits/{running}", headers=world.headers("operator"))
    assert response.status_code == 409
    assert response.json()["field"] == "deleted"


async def test_an_audit_whose_worker_died_can_be_deleted(client: httpx.AsyncClient, world: World) -> None:
    """Drill 3: DELETE answered 409 for 30 minutes after the worker was killed."""
    card = await add_scorecard(world.session)
    dead = await add_audit(world.session, "F-OWN", card, status="running", score=None, niveau=PENDING_LEVEL)
    silent_since = dt.datetime.now(dt.UTC) - STALE_HEARTBEAT * 2
    await world.session.execute(update(Audit).where(Audit.id == dead).values(heartbeat_at=silent_since))
    await world.commit()
    response = await client.delete(f"/api/audits/{dead}", headers=world.headers("operator"))
    assert response.status_code == 200, response.text
    audit = await world.session.get_one(Audit, dead, populate_existing=True)
    assert (audit.status, audit.failed_phase, audit.deleted_at is not None) == ("failed", "takeover", True)


async def test_patch_edits_metadata_only(client: httpx.AsyncClient, world: World) -> None:
    audit_id = await add_audit(world.session, "F-OWN", await add_scorecard(world.session))
    await world.commit()
    headers = world.headers("operator")
    response = await client.patch(
        f"/api/audits/{audit_id}", json={"notes": "Relu par la qualité", "trigger_source": "manual"}, headers=headers
    )
    data = response.json()["data"]
    assert (data["notes"], data["trigger_source"], data["score_percentage"]) == ("Relu par la qualité", "manual", 87.5)
    assert data["updated_at"]
    cleared = await client.patch(f"/api/audits/{audit_id}", json={"notes": None}, headers=headers)
    assert cleared.json()["data"]["notes"] is None
    assert cleared.json()["data"]["trigger_source"] == "manual"  # absent fields are left alone
    bad = await client.patch(f"/api/audits/{audit_id}", json={"trigger_source": "Not Valid!"}, headers=headers)
    assert (bad.status_code, bad.json()["field"]) == (400, "body.trigger_source")


# --- groupings ------------------------------------------------------------------------------------


@pytest.fixture
async def scores(world: World) -> Ids:
    """Hand-made scores on distinct fiches: 0, 9.99, 10, 55.5, 99.99, 100 and one failed audit without a score."""
    card = await add_scorecard(world.session)
    ids: Ids = {}
    for n, score in enumerate((0, 9.99, 10, 55.5, 99.99, 100, None)):
        fiche = await add_fiche(world.session, f"FS{n}", groupe="Equipe Nord" if n % 2 else "Equipe Sud")
        ids[fiche] = await add_audit(
            world.session,
            fiche,
            card,
            score=score,
            compliant=None if score is None else score >= 50,
            status="failed" if score is None else "completed",
            niveau=PENDING_LEVEL if score is None else "BON",
            created_at=at(10 + n % 2, 23),  # 23:00 UTC is the next day in Paris
        )
    await world.commit()
    return ids


async def grouped(client: httpx.AsyncClient, world: World, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/audits/grouped", params=params, headers=world.headers("admin"))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_score_buckets_on_hand_made_scores(client: httpx.AsyncClient, world: World, scores: Ids) -> None:
    body = await grouped(client, world, group_by="score_bucket", fiche_ids=",".join(scores))
    rows = {g["key"]: g for g in body["data"]}
    assert [g["key"] for g in body["data"]] == ["0-10", "10-20", "50-60", "90-100", None]
    assert {k: g["count"] for k, g in rows.items()} == {"0-10": 2, "10-20": 1, "50-60": 1, "90-100": 2, None: 1}
    assert (rows["0-10"]["minScore"], rows["0-10"]["maxScore"], rows["0-10"]["avgScore"]) == (0.0, 9.99, 5.0)
    assert (rows["90-100"]["compliantCount"], rows["0-10"]["nonCompliantCount"]) == (2, 2)
    assert rows[None]["avgScore"] is None
    assert body["meta"] == {"group_by": "score_bucket", "bucket_size": 10}

    quarters = await grouped(client, world, group_by="score_bucket", bucket_size=25, fiche_ids=",".join(scores))
    assert {g["key"]: g["count"] for g in quarters["data"]} == {"0-25": 3, "50-75": 1, "75-100": 2, None: 1}
    sevens = await grouped(client, world, group_by="score_bucket", bucket_size=7, fiche_ids=",".join(scores))
    assert {g["key"]: g["count"] for g in sevens["data"]}["98-100"] == 2


async def test_groupings_and_their_pagination(client: httpx.AsyncClient, world: World, scores: Ids) -> None:
    only = {"fiche_ids": ",".join(scores)}
    status = await grouped(client, world, group_by="status", **only)
    assert [(g["key"], g["count"]) for g in status["data"]] == [("completed", 6), ("failed", 1)]
    days = await grouped(client, world, group_by="created_day", **only)
    assert [(g["key"], g["count"]) for g in days["data"]] == [("2025-03-11", 4), ("2025-03-12", 3)]
    groupes = await grouped(client, world, group_by="groupe", limit=1, offset=1, **only)
    assert [(g["key"], g["count"]) for g in groupes["data"]] == [("Equipe Nord", 3)]
    assert groupes["pagination"] | {"limit": 1} == {
        "total": 2, "limit": 1, "offset": 1, "current_page": 2, "total_pages": 2,
        "has_next_page": False, "has_prev_page": True,
    }  # fmt: skip
    niveau = await grouped(client, world, group_by="niveau", **only)
    assert [(g["key"], g["count"]) for g in niveau["data"]] == [("BON", 6), ("PENDING", 1)]
    by_card = await grouped(client, world, group_by="scorecard", **only)
    assert by_card["pagination"]["total"] == 1
    by_fiche = await grouped(client, world, group_by="fiche", limit=500, **only)
    assert sorted(g["key"] for g in by_fiche["data"]) == sorted(scores)


async def test_grouped_total_past_the_last_group_and_without_any(
    client: httpx.AsyncClient, world: World, scores: Ids
) -> None:
    """The number of groups comes with the page; a page past the last group still tells it."""
    only = {"fiche_ids": ",".join(scores)}
    past = await grouped(client, world, group_by="groupe", limit=1, offset=5, **only)
    assert (past["data"], past["pagination"]["total"], past["pagination"]["has_prev_page"]) == ([], 2, True)
    page = await grouped(client, world, group_by="niveau", limit=1, **only)
    assert (len(page["data"]), page["pagination"]["total"]) == (1, 2)
    none = await grouped(client, world, group_by="groupe", fiche_ids="NO-SUCH-FICHE")
    assert (none["data"], none["pagination"]["total"]) == ([], 0)


async def test_grouped_by_fiches(client: httpx.AsyncClient, world: World) -> None:
    s = world.session
    one, two = await add_scorecard(s, "A"), await add_scorecard(s, "B")
    for fiche in ("FG1", "FG2", "FG3"):
        await add_fiche(s, fiche)
    await add_audit(s, "FG1", one, score=80, created_at=at(1))
    await add_audit(s, "FG1", two, score=60, compliant=False, created_at=at(5))
    await add_audit(s, "FG2", one, score=90, created_at=at(3))
    await add_audit(s, "FG3", one, score=70, created_at=at(2))
    await world.commit()

    response = await client.get(
        "/api/audits/grouped-by-fiches",
        params={"fiche_ids": "FG1,FG2,FG3", "limit": 2},
        headers=world.headers("viewer"),
    )
    body = response.json()
    assert [g["fiche"]["fiche_id"] for g in body["data"]] == ["FG1", "FG2"]
    assert body["pagination"]["total"] == 3
    first = body["data"][0]
    assert [a["scorecard"]["name"] for a in first["audits"]] == ["B", "A"]
    assert first["summary"] == {
        "totalAudits": 2,
        "compliantCount": 1,
        "averageScore": 70.0,
        "latestAuditDate": at(5).isoformat().replace("+00:00", "Z"),
    }
    rest = await client.get(
        "/api/audits/grouped-by-fiches",
        params={"fiche_ids": "FG1,FG2,FG3", "limit": 2, "offset": 2},
        headers=world.headers("viewer"),
    )
    assert [g["fiche"]["fiche_id"] for g in rest.json()["data"]] == ["FG3"]


# --- query counts ---------------------------------------------------------------------------------


async def test_no_query_per_row(client: httpx.AsyncClient, world: World, api_engine: AsyncEngine) -> None:
    card = await add_scorecard(world.session)
    await add_audit(world.session, "F-OWN", card)
    await world.commit()

    async def queries(path: str) -> int:
        with counting(api_engine) as statements:
            assert (await client.get(path, headers=world.headers("admin"))).status_code == 200
        return len(statements)

    paths = ["/api/audits", "/api/audits/grouped-by-fiches", "/api/audits/by-fiche/F-OWN"]
    before = [await queries(p) for p in paths]
    assert all(before)
    for n in range(12):
        fiche = await add_fiche(world.session, f"FN{n}")
        await add_audit(world.session, fiche, card)
        await add_audit(world.session, "F-OWN", await add_scorecard(world.session, f"S{n}"))
    await world.commit()
    assert [await queries(p) for p in paths] == before


# --- pure helpers ---------------------------------------------------------------------------------


def test_niveau_filter_matches_the_levels() -> None:
    assert set(get_args(Niveau)) == {PENDING_LEVEL, *Level}


def test_split_csv() -> None:
    assert split_csv("a, b,,c") == ["a", "b", "c"]
    assert split_csv(["a,b", " c "]) == ["a", "b", "c"]
    assert split_csv(None) is None


def test_bucket_labels() -> None:
    assert [bucket_label(low, 10) for low in (0, 90)] == ["0-10", "90-100"]
    assert bucket_label(98, 7) == "98-100"


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([(1, "completed", False, False), (2, "completed", False, True)], 2),
        ([(1, "completed", False, False), (2, "completed", True, True)], 1),
        ([(1, "completed", False, True), (2, "failed", False, False)], 1),  # a failed retry never wins
        ([(1, "failed", False, True), (2, "running", False, False)], 1),  # none completed: the holder keeps it
        ([(1, "failed", True, True), (2, "failed", False, False), (3, "failed", False, False)], 3),
        ([(1, "completed", True, True)], None),
        ([], None),
    ],
)
def test_choose_latest(rows: list[tuple[int, str, bool, bool]], expected: int | None) -> None:
    candidates = [LatestCandidate(id=v * 10, version=v, status=s, deleted=d, is_latest=h) for v, s, d, h in rows]
    assert choose_latest(candidates) == (expected * 10 if expected else None)
