"""Overrides, reruns, trails and disputes through the API: the authenticated reviewer, recomputed
scores, the latest view with its trails, one Dagster launch per rerun, and disputes per scope."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import httpx
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.models import Audit
from domain.models.reviews import AuditRerunResult
from orchestration.reruns import rerun_audit_step_job
from runs.contract import RERUN_AUDIT_STEP_JOB
from tests.fixtures.factories.aio import add_audit, add_scorecard
from tests.fixtures.fakes import RecordingLauncher
from tests.fixtures.queries import counting
from tests.fixtures.world import World


async def _audit(world: World, ownership: str = "own") -> int:
    audit_id = await add_audit(world.session, world.fiche_ids[ownership], await add_scorecard(world.session))
    await world.commit()
    return audit_id


async def _detail(client: httpx.AsyncClient, world: World, audit_id: int) -> dict:  # type: ignore[type-arg]
    response = await client.get(f"/api/audits/{audit_id}", headers=world.headers("operator"))
    assert response.status_code == 200, response.text
    return response.json()["data"]  # type: ignore[no-any-return]


async def test_a_step_override_names_the_caller_recomputes_the_audit_and_keeps_the_ai_verdict(
    client: httpx.AsyncClient, world: World
) -> None:
    audit_id = await _audit(world)
    body = {"conforme": "NON_CONFORME", "score": 0, "reviewer": "Le directeur", "reason": "Pas de présentation"}
    response = await client.patch(
        f"/api/audits/{audit_id}/steps/1/review", json=body, headers=world.headers("operator")
    )
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    # Présentation is critical: NON_CONFORME rejects the audit; 0/5 + 2/3 of 8 points = 25 %.
    assert data["compliance"] == {"score": 25.0, "niveau": "REJET", "points_critiques": "0/1", "poids_obtenu": "2/8"}
    step = data["step"]
    assert (step["conforme"], step["score"]) == ("NON_CONFORME", 0)
    assert (step["ai_verdict"]["conforme"], step["ai_verdict"]["score"]) == ("CONFORME", 5)
    [review] = step["human_review"]
    assert review["by"] == f"user:{world.users['operator']}"  # the caller, not the typed name
    assert (review["reviewer"], review["reason"], review["in_force"]) == ("Le directeur", "Pas de présentation", True)
    assert review["previous"]["conforme"] == "CONFORME"
    detail = await _detail(client, world, audit_id)
    assert (detail["niveau"], detail["score_percentage"]) == ("REJET", 25.0)
    assert detail["steps"][0]["human_review"][0]["override"] == {"conforme": "NON_CONFORME", "score": 0}
    by_fiche = await client.get("/api/audits/by-fiche/F-OWN", headers=world.headers("operator"))
    [listed] = [a for a in by_fiche.json()["data"] if a["id"] == str(audit_id)]
    assert (listed["steps"][0]["conforme"], listed["steps"][0]["score"]) == ("NON_CONFORME", 0)


async def test_a_control_point_override_re_derives_the_step_and_the_audit(
    client: httpx.AsyncClient, world: World
) -> None:
    """The original stored the point's new status and left the step and the audit as they were."""
    audit_id = await _audit(world)
    for index in (1, 2):
        response = await client.patch(
            f"/api/audits/{audit_id}/steps/1/control-points/{index}/review",
            json={"statut": "ABSENT", "reason": "Rien entendu"},
            headers=world.headers("operator"),
        )
        assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["step"]["score"], data["step"]["conforme"]) == (0, "NON_CONFORME")
    assert data["compliance"]["niveau"] == "REJET"
    point = data["step"]["control_points"][1]
    assert (point["statut"], point["ai_statut"]) == ("ABSENT", "ABSENT")
    first = data["step"]["control_points"][0]
    assert (first["statut"], first["ai_statut"]) == ("ABSENT", "PRESENT")
    assert [r["kind"] for r in first["human_review"]] == ["control_point"]


async def test_bad_overrides_name_their_field(client: httpx.AsyncClient, world: World) -> None:
    audit_id = await _audit(world)
    headers = world.headers("operator")
    cases = [
        ("steps/1/review", {"conforme": "CONFORME", "score": 6, "reason": "x"}, "body.score"),  # weight is 5
        ("steps/1/review", {"conforme": "OUI", "reason": "x"}, "body.conforme"),
        ("steps/1/review", {"conforme": "CONFORME", "reason": ""}, "body.reason"),
        ("steps/1/control-points/1/review", {"reason": "x"}, "body.statut"),
    ]
    for path, body, field in cases:
        response = await client.patch(f"/api/audits/{audit_id}/{path}", json=body, headers=headers)
        assert response.status_code == 400, (path, body, response.text)
        assert response.json()["field"] == field
    missing = await client.patch(
        f"/api/audits/{audit_id}/steps/1/control-points/9/review",
        json={"statut": "ABSENT", "reason": "x"},
        headers=headers,
    )
    assert missing.status_code == 404


async def test_a_rerun_is_one_dagster_run_trailed_with_the_caller(
    client: httpx.AsyncClient, world: World, launcher: RecordingLauncher
) -> None:
    audit_id = await _audit(world)
    response = await client.post(
        f"/api/audits/{audit_id}/steps/1/control-points/2/rerun",
        json={"customPrompt": "Le nom de la société est dit à 00:42"},
        headers=world.headers("operator"),
    )
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    [(run_id, launch)] = launcher.jobs
    assert (data["run_id"], data["control_point_index"], data["status"]) == (run_id, 2, "queued")
    assert launch.job_name == RERUN_AUDIT_STEP_JOB
    config = launch.run_config
    assert config == {
        "rerun_id": data["rerun_id"],
        "audit_id": audit_id,
        "step_position": 1,
        "control_point_index": 2,
        "custom_instructions": "Le nom de la société est dit à 00:42",
    }
    assert dg.validate_run_config(rerun_audit_step_job, dict(launch.run_config))
    assert launch.tags["app/audit_id"] == str(audit_id)
    detail = await _detail(client, world, audit_id)
    [entry] = detail["steps"][0]["control_points"][1]["rerun_history"]
    assert (entry["rerun_id"], entry["status"], entry["run_id"]) == (data["rerun_id"], "queued", run_id)
    assert entry["by"] == f"user:{world.users['operator']}"


async def test_the_detail_reads_the_trail_only_of_an_audit_that_has_one(
    client: httpx.AsyncClient, world: World, api_engine: AsyncEngine
) -> None:
    """An audit never overridden nor rerun spares the detail the three trail statements; a rerun's
    result alone (its request written by another process than the API) is trail enough to read them."""
    audit_id = await _audit(world)
    trail_reads = ("SELECT audit_reviews.", "SELECT audit_reruns.", "SELECT audit_rerun_results.")
    with counting(api_engine) as untouched:
        detail = await _detail(client, world, audit_id)
    assert not [s for s in untouched if s.startswith(trail_reads)]
    assert detail["steps"][0]["rerun_history"] == []
    world.session.add(
        AuditRerunResult(
            rerun_id="r-elsewhere", audit_id=audit_id, step_position=1, status="failed", previous_revision=1,
            error="LLM unavailable", run_id="run-elsewhere",
        )
    )  # fmt: skip
    await world.commit()
    with counting(api_engine) as trailed:
        detail = await _detail(client, world, audit_id)
    assert len([s for s in trailed if s.startswith(trail_reads)]) == 3
    assert len(trailed) == len(untouched) + 3
    [entry] = detail["steps"][0]["rerun_history"]
    assert (entry["rerun_id"], entry["status"], entry["error"]) == ("r-elsewhere", "failed", "LLM unavailable")


async def test_a_rerun_the_run_would_refuse_launches_nothing(
    client: httpx.AsyncClient, world: World, launcher: RecordingLauncher
) -> None:
    audit_id = await _audit(world)
    headers = world.headers("admin")
    assert (await client.post(f"/api/audits/{audit_id}/steps/3/rerun", headers=headers)).status_code == 404
    point = await client.post(f"/api/audits/{audit_id}/steps/2/control-points/2/rerun", headers=headers)
    assert point.status_code == 404
    await world.session.execute(text("UPDATE audits SET deleted_at = now() WHERE id = :id"), {"id": audit_id})
    await world.commit()
    deleted = await client.post(f"/api/audits/{audit_id}/steps/1/rerun", headers=headers)
    assert deleted.status_code == 409
    assert launcher.jobs == []


async def test_metadata_edits_and_soft_deletes_are_trailed_and_trails_survive_them(
    client: httpx.AsyncClient, world: World
) -> None:
    audit_id = await _audit(world)
    headers = world.headers("operator")
    review = {"conforme": "PARTIEL", "reason": "Incomplet"}
    assert (await client.patch(f"/api/audits/{audit_id}/steps/1/review", json=review, headers=headers)).is_success
    assert (await client.patch(f"/api/audits/{audit_id}", json={"notes": "Relu"}, headers=headers)).is_success
    assert (await client.delete(f"/api/audits/{audit_id}", headers=headers)).is_success
    assert (await client.patch(f"/api/audits/{audit_id}", json={"deleted": False}, headers=headers)).is_success
    trail = (await client.get(f"/api/audits/{audit_id}/trail", headers=world.headers("viewer"))).json()["data"]
    assert [c["kind"] for c in trail["changes"]] == ["metadata", "soft_delete", "restore"]
    assert trail["changes"][0]["previous"]["notes"] is None
    assert trail["changes"][0]["new"]["notes"] == "Relu"
    assert {c["by"] for c in trail["changes"]} == {f"user:{world.users['operator']}"}
    [kept] = trail["human_reviews"]
    assert (kept["reason"], kept["in_force"]) == ("Incomplet", True)
    revisions = (await client.get(f"/api/audits/{audit_id}/steps/1/revisions", headers=headers)).json()["data"]
    assert [(r["revision"], r["current"], r["verdict"]["conforme"]) for r in revisions] == [(1, True, "CONFORME")]


async def test_a_dispute_is_opened_by_the_agent_listed_per_scope_and_accepted_as_an_override(
    client: httpx.AsyncClient, world: World
) -> None:
    own, other = await _audit(world, "own"), await _audit(world, "other")
    opened = await client.post(
        f"/api/audits/{own}/steps/1/control-points/2/disputes",
        json={"comment": "La société est nommée à 00:42"},
        headers=world.headers("self_user"),
    )
    assert opened.status_code == 201, opened.text
    dispute = opened.json()["data"]
    assert (dispute["status"], dispute["statut_at_opening"]) == ("open", "ABSENT")
    admin_dispute = await client.post(
        f"/api/audits/{other}/steps/1/control-points/1/disputes", json={"comment": "?"}, headers=world.headers("admin")
    )
    assert admin_dispute.status_code == 201
    listed = await client.get("/api/audits/disputes", headers=world.headers("viewer"))
    assert [d["id"] for d in listed.json()["data"]] == [dispute["id"]]  # the other group's is out of scope

    accept = {"decision": "accepted", "statut": "PRESENT", "comment": "Entendu à 00:42"}
    resolved = await client.post(
        f"/api/audits/disputes/{dispute['id']}/resolve", json=accept, headers=world.headers("operator")
    )
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["data"]["status"] == "accepted"
    again = await client.post(
        f"/api/audits/disputes/{dispute['id']}/resolve", json=accept, headers=world.headers("operator")
    )
    assert again.status_code == 409
    point = (await _detail(client, world, own))["steps"][0]["control_points"][1]
    assert point["statut"] == "PRESENT"
    assert point["human_review"][0]["dispute_id"] == dispute["id"]
    still_open = await client.get("/api/audits/disputes", headers=world.headers("admin"))
    assert [d["audit_id"] for d in still_open.json()["data"]] == [str(other)]


async def test_calibration_compares_ai_and_reviewed_statuses_of_visible_reviewed_audits(
    client: httpx.AsyncClient, world: World
) -> None:
    reviewed, untouched, other = await _audit(world), await _audit(world), await _audit(world, "other")
    override = {"statut": "PRESENT", "reason": "Entendu"}
    for audit_id in (reviewed, other):
        response = await client.patch(
            f"/api/audits/{audit_id}/steps/1/control-points/2/review", json=override, headers=world.headers("admin")
        )
        assert response.status_code == 200
    response = await client.get("/api/audits/calibration", headers=world.headers("operator"))
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    # Only `reviewed` counts for the operator: `untouched` has no review, `other` is out of scope.
    assert data["audits"] == 1
    overall = data["overall"]
    assert (overall["n"], overall["agreement"]) == (3, round(2 / 3, 4))
    assert overall["confusion"]["ABSENT"]["PRESENT"] == 1
    [ranked] = data["most_overridden"]
    assert (ranked["step_position"], ranked["control_point_index"], ranked["count"]) == (1, 2, 1)
    assert untouched != reviewed
    admin = (await client.get("/api/audits/calibration", headers=world.headers("admin"))).json()["data"]
    assert admin["audits"] == 2
    filtered = await client.get("/api/audits/calibration", params={"auditor": "openai"}, headers=world.headers("admin"))
    assert filtered.json()["data"]["audits"] == 0


async def test_trails_and_the_audits_verdict_survive_a_new_scorecard_version(
    client: httpx.AsyncClient, world: World
) -> None:
    audit_id = await _audit(world)
    headers = world.headers("admin")
    review = {"conforme": "NON_CONFORME", "score": 0, "reason": "Pas de présentation"}
    assert (await client.patch(f"/api/audits/{audit_id}/steps/1/review", json=review, headers=headers)).is_success
    audit = (await _detail(client, world, audit_id))["scorecard"]
    changed = await client.post(
        f"/api/audit-configs/{audit['id']}/steps",
        json={
            "name": "Clôture",
            "prompt": "Le conseiller conclut.",
            "controlPoints": ["Récapitulatif"],
            "weight": 4,
            "severityLevel": "LOW",
        },
        headers=headers,
    )
    assert changed.status_code == 201, changed.text
    detail = await _detail(client, world, audit_id)
    assert detail["scorecard"]["version"] == audit["version"]  # the audit keeps the version it was made with
    assert (detail["niveau"], detail["score_percentage"]) == ("REJET", 25.0)
    trail = (await client.get(f"/api/audits/{audit_id}/trail", headers=headers)).json()["data"]
    assert [r["reason"] for r in trail["human_reviews"]] == ["Pas de présentation"]
    point = await client.patch(
        f"/api/audits/{audit_id}/steps/2/control-points/1/review",
        json={"statut": "PRESENT", "reason": "Entendu"},
        headers=headers,
    )
    # Still scored against its own version (8 points), not the new one (12).
    assert point.json()["data"]["compliance"]["poids_obtenu"] == "3/8"


async def test_calibration_dates_are_the_teams_days_not_utc_days(client: httpx.AsyncClient, world: World) -> None:
    """An audit completed at 23:30 UTC on 2 June was completed on 3 June in Paris (SALES_TIMEZONE)."""
    audit_id = await _audit(world)
    late = dt.datetime(2026, 6, 2, 23, 30, tzinfo=dt.UTC)
    await world.session.execute(update(Audit).where(Audit.id == audit_id).values(completed_at=late))
    await world.commit()
    override = {"statut": "PRESENT", "reason": "Entendu"}
    response = await client.patch(
        f"/api/audits/{audit_id}/steps/1/control-points/2/review", json=override, headers=world.headers("admin")
    )
    assert response.status_code == 200, response.text

    async def audits_on(day: str) -> int:
        params = {"date_from": day, "date_to": day}
        answer = await client.get("/api/audits/calibration", params=params, headers=world.headers("admin"))
        assert answer.status_code == 200, answer.text
        return int(answer.json()["data"]["audits"])

    assert world.settings.sales_timezone == "Europe/Paris"
    assert await audits_on("2026-06-03") == 1
    assert await audits_on("2026-06-02") == 0
