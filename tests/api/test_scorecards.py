"""`/api/audit-configs` on the test harness: versioned edits, field-level errors, import/export, stats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.scorecards.schemas import EXAMPLE_DOCUMENT
from domain.models import ScorecardVersion
from tests.fixtures.factories.audits import add_audit
from tests.fixtures.factories.scorecards import sample_document, step_json
from tests.fixtures.world import World

# The original system's scorecards, shared beside the checkout (`../shared/fixtures/scorecards`).
ORIGINAL_SCORECARDS = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "scorecards"

BASE = "/api/audit-configs"


async def _create(client: httpx.AsyncClient, world: World, steps: int = 3) -> dict[str, Any]:
    body = {
        "name": world.unique("Grille"),
        "systemPrompt": "Tu es un auditeur.",
        "runAutomatically": True,
        "steps": [step_json(n) for n in range(1, steps + 1)],
    }
    response = await client.post(BASE, json=body, headers=world.headers("admin"))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def _audit(world: World, scorecard_id: str, version: int, **values: Any) -> None:
    def write(session: Session) -> None:
        stored = session.scalars(
            select(ScorecardVersion).where(
                ScorecardVersion.scorecard_id == int(scorecard_id), ScorecardVersion.version == version
            )
        ).one()
        add_audit(session, None, stored, **values)

    await world.session.run_sync(write)
    await world.commit()


async def test_create_answers_camel_case_with_the_current_version(client: httpx.AsyncClient, world: World) -> None:
    created = await _create(client, world)
    assert created["version"] == 1
    assert created["runAutomatically"] is True
    assert created["isActive"] is True
    assert created["totalWeight"] == 9
    assert [s["position"] for s in created["steps"]] == [1, 2, 3]
    assert created["steps"][0]["controlPoints"] == ["Point 1.1", "Point 1.2"]
    assert created["steps"][0]["severityLevel"] == "HIGH"
    listed = (await client.get(BASE, params={"include_steps": "true"}, headers=world.headers("viewer"))).json()
    mine = next(s for s in listed["data"] if s["id"] == created["id"])
    assert len(mine["steps"]) == 3
    assert mine["stats"] is None
    bare = (await client.get(BASE, headers=world.headers("viewer"))).json()["data"]
    assert next(s for s in bare if s["id"] == created["id"])["steps"] is None


async def test_content_rules_answer_400_naming_the_field(client: httpx.AsyncClient, world: World) -> None:
    headers = world.headers("admin")
    steps = [step_json(1), step_json(2, controlPoints=[" "]), step_json(3, position=1)]
    response = await client.post(BASE, json={"name": "X", "steps": steps}, headers=headers)
    body = response.json()
    assert response.status_code == 400
    assert body["code"] == "VALIDATION_ERROR"
    assert body["field"] == "body.steps[1].controlPoints"
    assert {d["field"] for d in body["details"]} == {"body.steps[1].controlPoints", "body.steps[2].position"}

    document = sample_document(steps=4)
    document["auditSteps"][3]["weight"] = 12
    response = await client.post(f"{BASE}/import", json=document, headers=headers)
    assert response.status_code == 400
    assert response.json()["field"] == "body.auditSteps[3].weight"

    typed = await client.post(BASE, json={"name": "X", "steps": [step_json(1, weight=0)]}, headers=headers)
    assert typed.status_code == 400
    assert typed.json()["field"].startswith("body.steps")

    nameless = await client.post(BASE, json={"steps": [step_json(1)]}, headers=headers)
    assert nameless.json()["field"] == "body.name"


async def test_step_edits_make_versions_and_stale_ids_are_409(client: httpx.AsyncClient, world: World) -> None:
    headers = world.headers("admin")
    created = await _create(client, world)
    old_steps = created["steps"]
    await _audit(world, created["id"], 1, score="70.00", compliant=True, duration_ms=1500)

    edited = await client.put(f"{BASE}/steps/{old_steps[2]['id']}", json={"position": 1, "weight": 10}, headers=headers)
    assert edited.status_code == 200, edited.text
    data = edited.json()["data"]
    assert data["version"] == 2
    assert [(s["name"], s["position"], s["weight"]) for s in data["steps"]] == [
        ("Étape 3", 1, 10), ("Étape 1", 2, 2), ("Étape 2", 3, 3),
    ]  # fmt: skip

    stale = await client.delete(f"{BASE}/steps/{old_steps[0]['id']}", headers=headers)
    assert stale.status_code == 409
    assert "belongs to version 1" in stale.json()["error"]
    stale_reorder = await client.put(
        f"{BASE}/{created['id']}/steps/reorder", json={"stepIds": [s["id"] for s in old_steps]}, headers=headers
    )
    assert stale_reorder.status_code == 409

    frozen = (await client.get(f"{BASE}/{created['id']}/versions/1", headers=headers)).json()["data"]
    assert frozen["isCurrent"] is False
    assert [(s["name"], s["weight"]) for s in frozen["steps"]] == [("Étape 1", 2), ("Étape 2", 3), ("Étape 3", 4)]
    versions = (await client.get(f"{BASE}/{created['id']}/versions", headers=headers)).json()["data"]
    assert [(v["version"], v["isCurrent"], v["stepsCount"]) for v in versions] == [(1, False, 3), (2, True, 3)]

    reordered = await client.put(
        f"{BASE}/{created['id']}/steps/reorder",
        json={"stepIds": [s["id"] for s in reversed(data["steps"])]},
        headers=headers,
    )
    current_steps = reordered.json()["data"]["steps"]
    assert [s["name"] for s in current_steps] == ["Étape 2", "Étape 1", "Étape 3"]
    incomplete = await client.put(
        f"{BASE}/{created['id']}/steps/reorder", json={"stepIds": [current_steps[0]["id"]]}, headers=headers
    )
    assert incomplete.status_code == 400
    assert incomplete.json()["field"] == "body.stepIds"

    added = await client.post(f"{BASE}/{created['id']}/steps", json=step_json(9, position=None), headers=headers)
    assert added.status_code == 201
    assert added.json()["data"]["steps"][-1]["position"] == 4
    bad_move = await client.put(
        f"{BASE}/steps/{added.json()['data']['steps'][0]['id']}", json={"position": 9}, headers=headers
    )
    assert bad_move.status_code == 400
    assert bad_move.json()["field"] == "body.position"


async def test_flags_do_not_version_and_content_does(client: httpx.AsyncClient, world: World) -> None:
    headers = world.headers("admin")
    created = await _create(client, world)
    flags = await client.put(f"{BASE}/{created['id']}", json={"isActive": False}, headers=headers)
    assert (flags.json()["data"]["version"], flags.json()["data"]["isActive"]) == (1, False)
    validation = (await client.get(f"{BASE}/{created['id']}/validate", headers=headers)).json()["data"]
    assert validation == {
        "valid": False,
        "errors": [{"field": "isActive", "message": "the scorecard is inactive: audits do not use it"}],
    }
    content = await client.put(
        f"{BASE}/{created['id']}", json={"systemPrompt": "Nouveau", "changeNote": "persona"}, headers=headers
    )
    assert content.json()["data"]["version"] == 2
    assert content.json()["data"]["systemPrompt"] == "Nouveau"
    versions = (await client.get(f"{BASE}/{created['id']}/versions", headers=headers)).json()["data"]
    assert versions[1]["changeNote"] == "persona"
    listed = (await client.get(BASE, headers=headers)).json()["data"]
    assert created["id"] not in {s["id"] for s in listed}
    everything = (await client.get(BASE, params={"include_inactive": "true"}, headers=headers)).json()["data"]
    assert created["id"] in {s["id"] for s in everything}


async def test_delete_is_409_while_audits_use_it(client: httpx.AsyncClient, world: World) -> None:
    headers = world.headers("admin")
    used = await _create(client, world)
    await _audit(world, used["id"], 1, status="failed", score=None, compliant=None, duration_ms=None)
    refused = await client.delete(f"{BASE}/{used['id']}", headers=headers)
    assert refused.status_code == 409
    assert "deactivate it instead" in refused.json()["error"]
    unused = await _create(client, world)
    deleted = await client.delete(f"{BASE}/{unused['id']}", headers=headers)
    assert deleted.json() == {"success": True, "data": {"id": unused["id"], "deleted": True}}
    assert (await client.get(f"{BASE}/{unused['id']}", headers=headers)).status_code == 404


async def test_import_export_round_trip_keeps_unknown_blocks(client: httpx.AsyncClient, world: World) -> None:
    headers = world.headers("admin")
    document = sample_document(metadata={"base": "Loi Chatel"})
    for index, step in enumerate(document["auditSteps"]):
        step["position"] = index  # a 0-based export of the original
    document["auditSteps"][0]["verificationNote"] = "voir la fiche produit"
    imported = await client.post(f"{BASE}/import", json=document, headers=headers)
    assert imported.status_code == 201, imported.text
    data = imported.json()["data"]
    assert data["versionCreated"] is True
    assert data["ignoredFields"] == ["auditSteps[0].verificationNote"]
    assert [s["position"] for s in data["scorecard"]["steps"]] == [1, 2, 3]  # what audits use
    scorecard_id = data["scorecard"]["id"]

    exported = (await client.get(f"{BASE}/{scorecard_id}/export", headers=headers)).json()
    assert "success" not in exported  # bare
    assert exported == document  # verbatim: 0-based positions, the step's note, its speaker rules

    exported["systemPrompt"] = "Persona v2"
    second = await client.post(f"{BASE}/import", params={"scorecard_id": scorecard_id}, json=exported, headers=headers)
    assert second.status_code == 201
    assert second.json()["data"]["scorecard"]["version"] == 2
    again = (await client.get(f"{BASE}/{scorecard_id}/export", headers=headers)).json()
    assert again == exported
    first = (await client.get(f"{BASE}/{scorecard_id}/export", params={"version": 1}, headers=headers)).json()
    assert first["systemPrompt"] == "Tu es un auditeur."
    missing = await client.get(f"{BASE}/{scorecard_id}/export", params={"version": 3}, headers=headers)
    assert missing.status_code == 404

    # A version written by an edit is exported from its content, with our version number.
    await client.put(f"{BASE}/{scorecard_id}", json={"description": "edited"}, headers=headers)
    edited = (await client.get(f"{BASE}/{scorecard_id}/export", headers=headers)).json()
    assert (edited["version"], edited["description"]) == (3, "edited")
    assert [s["position"] for s in edited["auditSteps"]] == [1, 2, 3]
    unchanged = await client.post(f"{BASE}/import", params={"scorecard_id": scorecard_id}, json=edited, headers=headers)
    assert (unchanged.status_code, unchanged.json()["data"]["versionCreated"]) == (200, False)


def _original_scorecards() -> list[Path]:
    if not ORIGINAL_SCORECARDS.is_dir():
        pytest.skip(f"{ORIGINAL_SCORECARDS} is not present (the shared fixtures sit beside the checkout)")
    return sorted(ORIGINAL_SCORECARDS.glob("*.json"))


async def test_original_scorecards_round_trip_losslessly(client: httpx.AsyncClient, world: World) -> None:
    headers = world.headers("admin")
    files = _original_scorecards()
    assert len(files) == 2
    for path in files:
        document = json.loads(path.read_text(encoding="utf-8"))
        imported = await client.post(f"{BASE}/import", json=document, headers=headers)
        assert imported.status_code == 201, imported.text
        scorecard = imported.json()["data"]["scorecard"]
        assert scorecard["sourceVersion"] == document["version"]  # "2025-10-05", not 1
        assert scorecard["version"] == 1
        exported = await client.get(f"{BASE}/{scorecard['id']}/export", headers=headers)
        # Verbatim, each step completed with the speaker rule of each point (inferred on import).
        completed = json.loads(json.dumps(exported.json()))
        for step, original in zip(completed["auditSteps"], document["auditSteps"], strict=True):
            assert len(step.pop("controlPointSpeakers")) == len(original["controlPoints"])
        assert completed == document, path.name
        versions = (await client.get(f"{BASE}/{scorecard['id']}/versions", headers=headers)).json()["data"]
        assert [v["sourceVersion"] for v in versions] == [document["version"]]

        # The export taken back as is, bare or in the envelope other routes use, or the original file
        # again: nothing to write.
        for body in (exported.json(), {"success": True, "data": exported.json()}, document):
            again = await client.post(f"{BASE}/import", json=body, headers=headers)
            assert again.status_code == 200, again.text
            assert again.json()["data"]["versionCreated"] is False
            assert again.json()["data"]["scorecard"]["id"] == scorecard["id"]
            assert again.json()["data"]["scorecard"]["version"] == 1


async def test_the_documented_example_document_round_trips(client: httpx.AsyncClient, world: World) -> None:
    headers = world.headers("admin")
    imported = await client.post(f"{BASE}/import", json=EXAMPLE_DOCUMENT, headers=headers)
    assert imported.status_code == 201, imported.text
    scorecard_id = imported.json()["data"]["scorecard"]["id"]
    exported = (await client.get(f"{BASE}/{scorecard_id}/export", headers=headers)).json()
    for step in exported["auditSteps"]:
        assert step.pop("controlPointSpeakers")
    assert exported == EXAMPLE_DOCUMENT


async def test_same_name_import_is_a_conflict_unless_as_new(client: httpx.AsyncClient, world: World) -> None:
    headers = world.headers("admin")
    document = sample_document()
    first = (await client.post(f"{BASE}/import", json=document, headers=headers)).json()["data"]["scorecard"]
    changed = {**document, "systemPrompt": "Persona v2"}
    refused = await client.post(f"{BASE}/import", json=changed, headers=headers)
    assert refused.status_code == 409
    assert refused.json()["code"] == "CONFLICT"
    assert refused.json()["scorecardId"] == first["id"]
    assert f"scorecard_id={first['id']}" in refused.json()["error"]
    second = await client.post(f"{BASE}/import", params={"as_new": "true"}, json=changed, headers=headers)
    assert second.status_code == 201
    assert second.json()["data"]["scorecard"]["id"] != first["id"]
    listed = (await client.get(BASE, headers=headers)).json()["data"]
    assert sum(item["name"] == document["name"] for item in listed) == 2


async def test_stats_come_from_the_audits(client: httpx.AsyncClient, world: World) -> None:
    headers = world.headers("viewer")
    created = await _create(client, world)
    await _audit(world, created["id"], 1, score="80.00", compliant=True, duration_ms=1000, group="G-OWN")
    await _audit(world, created["id"], 1, score="40.00", compliant=False, duration_ms=2000, group="G-OWN")
    await _audit(world, created["id"], 1, status="failed", group="G-OWN")
    await _audit(world, created["id"], 1, score="10.00", compliant=False, deleted=True, group="G-OWN")
    stats = (await client.get(f"{BASE}/{created['id']}/stats", headers=headers)).json()["data"]
    assert {k: stats[k] for k in ("id", "totalAudits", "completedAudits", "failedAudits")} == {
        "id": created["id"], "totalAudits": 3, "completedAudits": 2, "failedAudits": 1,
    }  # fmt: skip
    assert (stats["averageScore"], stats["averageDurationMs"], stats["complianceRate"]) == (60.0, 1500, 50.0)
    assert stats["lastUsedAt"] is not None
    assert [(v["version"], v["totalAudits"]) for v in stats["byVersion"]] == [(1, 3)]
    detail = (await client.get(f"{BASE}/{created['id']}", params={"include_stats": "true"}, headers=headers)).json()
    assert detail["data"]["stats"]["totalAudits"] == 3


async def test_control_point_speakers_are_shown_edited_and_checked(client: httpx.AsyncClient, world: World) -> None:
    headers = world.headers("admin")
    created = await _create(client, world, steps=1)
    step = created["steps"][0]
    assert step["controlPointSpeakers"] == ["agent", "agent"]

    edited = await client.put(
        f"{BASE}/steps/{step['id']}", json={"controlPointSpeakers": ["client", "any"]}, headers=headers
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["data"]["steps"][0]["controlPointSpeakers"] == ["client", "any"]

    step_id = edited.json()["data"]["steps"][0]["id"]
    wrong = await client.put(f"{BASE}/steps/{step_id}", json={"controlPointSpeakers": ["client"]}, headers=headers)
    assert wrong.status_code == 400
    assert wrong.json()["field"] == "body.controlPointSpeakers"
    unknown = await client.put(
        f"{BASE}/steps/{step_id}", json={"controlPointSpeakers": ["boss", "agent"]}, headers=headers
    )
    assert unknown.status_code == 400
    assert unknown.json()["field"].startswith("body.controlPointSpeakers")


async def test_stats_are_scoped_like_the_audit_lists(client: httpx.AsyncClient, world: World) -> None:
    """Drill 8: a GROUP reader got organisation-wide figures."""
    created = await _create(client, world)
    await _audit(world, created["id"], 1, score="80.00", compliant=True, group="G-OWN")
    await _audit(world, created["id"], 1, score="20.00", compliant=False, group="G-OTHER")
    await _audit(world, created["id"], 1, score="30.00", compliant=False, group="G-OTHER")
    url = f"{BASE}/{created['id']}"

    async def totals(principal: str) -> list[int]:
        headers = world.headers(principal)
        stats = (await client.get(f"{url}/stats", headers=headers)).json()["data"]
        detail = (await client.get(url, params={"include_stats": "true"}, headers=headers)).json()["data"]
        listed = (await client.get(BASE, params={"include_stats": "true"}, headers=headers)).json()["data"]
        mine = next(s for s in listed if s["id"] == created["id"])
        return [stats["totalAudits"], detail["stats"]["totalAudits"], mine["stats"]["totalAudits"]]

    assert await totals("viewer") == [1, 1, 1]  # GROUP: G-OWN only
    assert await totals("operator") == [1, 1, 1]
    assert await totals("admin") == [3, 3, 3]
    viewer_stats = (await client.get(f"{url}/stats", headers=world.headers("viewer"))).json()["data"]
    assert viewer_stats["averageScore"] == 80.0
    assert [(v["version"], v["totalAudits"]) for v in viewer_stats["byVersion"]] == [(1, 1)]
