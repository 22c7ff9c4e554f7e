"""`/api/products`: the catalogue routes (reference §4.11), field limits, import/export, fiche linking."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from callaudit.demo_crm.catalogue import demo_catalogue
from tests.fixtures.world import World

BASE = "/api/products"


async def _groupe(client: httpx.AsyncClient, world: World, code: str = "ZZ", libelle: str = "ZÉNITH") -> dict[str, Any]:
    body = {"code": code, "libelle": libelle}
    response = await client.post(f"{BASE}/groupes", json=body, headers=world.headers("admin"))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def _gamme(client: httpx.AsyncClient, world: World, groupe_id: str, code: str = "ZEN") -> dict[str, Any]:
    body = {
        "groupeId": groupe_id,
        "code": code,
        "libelle": "Zénith Santé",
        "documents": {"cg": "https://x.test/cg.pdf"},
    }
    response = await client.post(f"{BASE}/gammes", json=body, headers=world.headers("admin"))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _formule_body(gamme_id: str, **overrides: Any) -> dict[str, Any]:
    return {
        "gammeId": gamme_id,
        "code": "Z1",
        "libelle": "Zénith 1",
        "libelleAlternatif": "Z un",
        "hospitalisation": "150 %",
        "delaiAttente": "3 mois",
        "garantiesHtml": "https://x.test/z1.html",
        **overrides,
    }


async def _import_demo(client: httpx.AsyncClient, world: World) -> dict[str, Any]:
    response = await client.post(f"{BASE}/import", json=demo_catalogue(), headers=world.headers("admin"))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


def _by_code(document: dict[str, Any]) -> dict[str, Any]:
    """Insurers, ranges and plans keyed by code, so two documents compare whatever their order."""
    return {
        groupe["code"]: {
            **groupe,
            "gammes": {
                gamme["code"]: {**gamme, "formules": {f["code"]: f for f in gamme["formules"]}}
                for gamme in groupe["gammes"]
            },
        }
        for groupe in document["groupes"]
    }


async def test_crud_answers_the_original_shapes(client: httpx.AsyncClient, world: World) -> None:
    groupe = await _groupe(client, world)
    assert (groupe["code"], groupe["libelle"]) == ("ZZ", "ZÉNITH")
    assert isinstance(groupe["id"], str)
    gamme = await _gamme(client, world, groupe["id"])
    assert gamme["groupeId"] == groupe["id"]
    created = await client.post(f"{BASE}/formules", json=_formule_body(gamme["id"]), headers=world.headers("admin"))
    assert created.status_code == 201, created.text
    formule = created.json()["data"]
    assert formule["libelleAlternatif"] == "Z un"
    assert formule["delaiAttente"] == "3 mois"
    assert formule["dentaire"] is None

    detail = (await client.get(f"{BASE}/formules/{formule['id']}", headers=world.headers("viewer"))).json()["data"]
    assert detail["gamme"]["code"] == "ZEN"
    assert detail["groupe"]["code"] == "ZZ"
    assert [d["documentType"] for d in detail["documents"]] == ["cg"]  # the range's documents follow the plan's

    gamme_detail = (await client.get(f"{BASE}/gammes/{gamme['id']}", headers=world.headers("viewer"))).json()["data"]
    assert [f["code"] for f in gamme_detail["formules"]] == ["Z1"]
    groupe_detail = (await client.get(f"{BASE}/groupes/{groupe['id']}", headers=world.headers("viewer"))).json()["data"]
    assert [g["code"] for g in groupe_detail["gammes"]] == ["ZEN"]

    changes = {"dentaire": "200 %", "delaiAttente": None}
    updated = await client.put(f"{BASE}/formules/{formule['id']}", json=changes, headers=world.headers("admin"))
    assert updated.status_code == 200, updated.text
    assert (updated.json()["data"]["dentaire"], updated.json()["data"]["delaiAttente"]) == ("200 %", None)

    deleted = await client.delete(f"{BASE}/groupes/{groupe['id']}", headers=world.headers("admin"))
    assert deleted.status_code == 200
    gone = await client.get(f"{BASE}/formules/{formule['id']}", headers=world.headers("admin"))
    assert gone.status_code == 404  # the plan went with its insurer


async def test_field_limits_are_the_original_column_sizes(client: httpx.AsyncClient, world: World) -> None:
    admin = world.headers("admin")
    too_long = await client.post(f"{BASE}/groupes", json={"code": "ABC", "libelle": "X"}, headers=admin)
    assert too_long.status_code == 400
    assert too_long.json()["field"] == "body.code"
    label = await client.post(f"{BASE}/groupes", json={"code": "AB", "libelle": "X" * 18}, headers=admin)
    assert label.json()["field"] == "body.libelle"
    groupe = await _groupe(client, world)
    gamme_label = await client.post(
        f"{BASE}/gammes", json={"groupeId": groupe["id"], "code": "ABC", "libelle": "X" * 30}, headers=admin
    )
    assert gamme_label.json()["field"] == "body.libelle"
    gamme = await _gamme(client, world, groupe["id"])
    for overrides, field in (
        ({"code": "ABCDE"}, "body.code"),
        ({"libelle": "X" * 15}, "body.libelle"),
        ({"libelleAlternatif": "X" * 14}, "body.libelleAlternatif"),
        ({"hospitalisation": "X" * 256}, "body.hospitalisation"),
        ({"garantiesHtml": "not a url"}, "body.garantiesHtml"),
    ):
        response = await client.post(f"{BASE}/formules", json=_formule_body(gamme["id"], **overrides), headers=admin)
        assert response.status_code == 400, overrides
        assert response.json()["field"] == field
    missing = _formule_body(gamme["id"])
    del missing["garantiesHtml"]
    response = await client.post(f"{BASE}/formules", json=missing, headers=admin)
    assert response.json()["field"] == "body.garantiesHtml"


async def test_codes_are_unique_per_parent_and_parents_must_exist(client: httpx.AsyncClient, world: World) -> None:
    admin = world.headers("admin")
    groupe = await _groupe(client, world)
    again = await client.post(f"{BASE}/groupes", json={"code": "ZZ", "libelle": "Other"}, headers=admin)
    assert again.status_code == 409
    assert again.json()["field"] == "code"
    other = await _groupe(client, world, "YY", "YONNE")
    await _gamme(client, world, groupe["id"])
    await _gamme(client, world, other["id"])  # the same range code under another insurer is fine
    unknown = await client.post(
        f"{BASE}/gammes", json={"groupeId": "999999", "code": "NEW", "libelle": "New"}, headers=admin
    )
    assert unknown.status_code == 400
    assert unknown.json()["field"] == "body.groupeId"


async def test_lists_page_filter_and_cap_the_limit(client: httpx.AsyncClient, world: World) -> None:
    await _import_demo(client, world)
    viewer = world.headers("viewer")
    page = (await client.get(f"{BASE}/formules", params={"limit": 5, "page": 2}, headers=viewer)).json()
    assert page["pagination"] == {"page": 2, "limit": 5, "total": 20, "total_pages": 4}
    assert len(page["data"]) == 5
    over = await client.get(f"{BASE}/gammes", params={"limit": 101}, headers=viewer)
    assert over.status_code == 400
    assert over.json()["field"] == "query.limit"
    groupes = (await client.get(f"{BASE}/groupes", headers=viewer)).json()["data"]
    mutalys = next(g for g in groupes if g["code"] == "MU")
    ranges = (await client.get(f"{BASE}/gammes", params={"groupeId": mutalys["id"]}, headers=viewer)).json()
    assert sorted(g["code"] for g in ranges["data"]) == ["ESS", "SEN"]
    searched = (await client.get(f"{BASE}/formules", params={"search": "prem"}, headers=viewer)).json()
    assert [f["libelle"] for f in searched["data"]] == ["Premium"]
    literal = (await client.get(f"{BASE}/formules", params={"search": "%"}, headers=viewer)).json()
    assert literal["pagination"]["total"] == 0  # wildcards are taken literally


async def test_stats_and_search(client: httpx.AsyncClient, world: World) -> None:
    await _import_demo(client, world)
    stats = (await client.get(f"{BASE}/stats", headers=world.headers("viewer"))).json()["data"]
    assert stats == {"groupes": 4, "gammes": 5, "formules": 20, "garantiesParsed": 20}
    found = (await client.get(f"{BASE}/search", params={"q": "sénior"}, headers=world.headers("viewer"))).json()
    assert [g["libelle"] for g in found["data"]["gammes"]] == ["Sénior Plus"]
    assert found["data"]["groupes"] == []
    plans = [
        {"code": f"P{n:02d}", "libelle": f"Plan {n}", "garanties_html": "https://x.test/p.html"} for n in range(12)
    ]
    document = {
        "groupes": [{"code": "PP", "libelle": "PLANS", "gammes": [{"code": "P", "libelle": "P", "formules": plans}]}]
    }
    assert (await client.post(f"{BASE}/import", json=document, headers=world.headers("admin"))).status_code == 200
    many = (await client.get(f"{BASE}/search", params={"q": "plan"}, headers=world.headers("viewer"))).json()["data"]
    assert len(many["formules"]) == 10  # at most ten of each
    assert [g["code"] for g in many["groupes"]] == ["PP"]
    empty = await client.get(f"{BASE}/search", params={"q": ""}, headers=world.headers("viewer"))
    assert empty.status_code == 400


async def test_import_is_idempotent_and_export_round_trips(client: httpx.AsyncClient, world: World) -> None:
    first = await _import_demo(client, world)
    assert first["created"] == {"groupes": 4, "gammes": 5, "formules": 20}
    second = await _import_demo(client, world)
    assert second["created"] == {"groupes": 0, "gammes": 0, "formules": 0}
    assert second["updated"] == {"groupes": 0, "gammes": 0, "formules": 0}
    assert second["unchanged"] == {"groupes": 4, "gammes": 5, "formules": 20}
    exported = (await client.get(f"{BASE}/export", headers=world.headers("viewer"))).json()
    assert "success" not in exported
    assert _by_code(exported) == _by_code(demo_catalogue())  # export orders by code

    changed = copy.deepcopy(demo_catalogue())
    plan = changed["groupes"][0]["gammes"][0]["formules"][0]
    plan["dentaire"] = "175 %"
    plan["guarantee_tables"][0]["categories"][0]["items"][0]["value"] = "175 %"
    third = (await client.post(f"{BASE}/import", json=changed, headers=world.headers("admin"))).json()["data"]
    assert third["updated"] == {"groupes": 0, "gammes": 0, "formules": 1}
    detail_id = await client.get(f"{BASE}/formules", params={"search": "HOSPI"}, headers=world.headers("viewer"))
    formule_id = detail_id.json()["data"][0]["id"]
    detail = (await client.get(f"{BASE}/formules/{formule_id}", headers=world.headers("viewer"))).json()["data"]
    assert detail["dentaire"] == "175 %"
    assert len(detail["garanties"]) == 1  # replaced, not appended
    assert detail["garanties"][0]["categories"][0]["items"][0]["guaranteeValue"] == "175 %"


async def test_import_reports_every_bad_field_and_writes_nothing(client: httpx.AsyncClient, world: World) -> None:
    document = copy.deepcopy(demo_catalogue())
    document["groupes"][0]["gammes"][0]["formules"][1]["libelle"] = "X" * 15
    document["groupes"][1]["code"] = "AXE"
    document["groupes"][2]["gammes"][0]["formules"][0]["code"] = "MEDI"  # duplicates the second plan's code
    response = await client.post(f"{BASE}/import", json=document, headers=world.headers("admin"))
    assert response.status_code == 400
    fields = [d["field"] for d in response.json()["details"]]
    assert "body.groupes[0].gammes[0].formules[1].libelle" in fields
    assert "body.groupes[1].code" in fields
    stats = (await client.get(f"{BASE}/stats", headers=world.headers("admin"))).json()["data"]
    assert stats["formules"] == 0
    empty = await client.post(f"{BASE}/import", json={**document, "groupes": []}, headers=world.headers("admin"))
    assert empty.status_code == 200
    del document["groupes"][1]
    del document["groupes"][0]["gammes"][0]["formules"][1]
    dup = await client.post(f"{BASE}/import", json=document, headers=world.headers("admin"))
    assert dup.status_code == 400
    assert dup.json()["field"] == "body.groupes[1].gammes[0].formules[0].code"


async def test_link_fiche_matches_the_sold_plan_within_the_fiche_scope(client: httpx.AsyncClient, world: World) -> None:
    await _import_demo(client, world)
    await world.store_details("own")
    await world.store_details("other")
    await world.commit()
    response = await client.get(f"{BASE}/link-fiche/F-OWN", headers=world.headers("viewer"))
    assert response.status_code == 200, response.text
    link = response.json()["data"]
    assert link["found"] is True
    assert link["match"]["strategy"] == "exact"
    assert link["formule"]["libelle"] == link["sold"]["formuleNom"]
    assert link["formule"]["garanties"][0]["notesAndLegal"]
    assert link["sale"]["cotisation"]
    assert isinstance(link["clientNeeds"], dict)
    # the original answered any fiche; here a fiche outside the caller's fiches scope is a 404
    hidden = await client.get(f"{BASE}/link-fiche/F-OTHER", headers=world.headers("viewer"))
    assert hidden.status_code == 404
    assert (await client.get(f"{BASE}/link-fiche/F-OTHER", headers=world.headers("admin"))).status_code == 200


async def test_link_fiche_without_a_match_is_an_answer(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(f"{BASE}/link-fiche/F-OWN", headers=world.headers("viewer"))
    assert response.status_code == 200
    link = response.json()["data"]
    assert link["found"] is False
    assert link["formule"] is None
    assert link["match"]["strategy"] == "none"
    assert "no complete product" in link["match"]["reason"]
