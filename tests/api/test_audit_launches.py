"""`POST /api/audits/run|run-latest|batch`: one recorded Dagster launch per request, valid for the real job."""

from __future__ import annotations

import dagster as dg
import httpx
import pytest
from sqlalchemy import update

from domain.models import Scorecard
from orchestration.jobs import audit_fiches_job
from runs.contract import AUDIT_FICHES_JOB
from tests.fixtures.factories.aio import add_scorecard
from tests.fixtures.fakes import RecordingLauncher
from tests.fixtures.world import World


async def test_run_launches_the_audit_job_with_the_scorecard_and_options(
    client: httpx.AsyncClient, world: World, launcher: RecordingLauncher
) -> None:
    scorecard = await add_scorecard(world.session, "Grille A", versions=2)
    await world.commit()
    body = {"fiche_id": "F-OWN", "audit_config_id": scorecard.id, "useRlm": True, "priority": "high"}
    response = await client.post("/api/audits/run", json=body, headers=world.headers("operator"))
    assert response.status_code == 202, response.text
    [(run_id, launch)] = launcher.jobs
    data = response.json()["data"]
    assert (data["run_id"], data["scorecard_id"], data["scorecard_version"], data["use_rlm"]) == (
        run_id,
        str(scorecard.id),  # ids are strings in every response
        2,
        True,
    )
    config = launch.run_config
    assert launch.job_name == AUDIT_FICHES_JOB
    assert config == {
        "fiche_ids": ["F-OWN"],
        "scorecard_id": scorecard.id,
        "use_rlm": True,
        "force": True,
        "trigger_source": "api",
        "user_id": world.users["operator"],
    }
    assert (launch.tags["dagster/priority"], launch.tags["app/source"]) == ("5", "api")
    assert dg.validate_run_config(audit_fiches_job, dict(launch.run_config))


async def test_an_inactive_or_unknown_scorecard_is_404_and_nothing_launches(
    client: httpx.AsyncClient, world: World, launcher: RecordingLauncher
) -> None:
    scorecard = await add_scorecard(world.session)
    await world.session.execute(update(Scorecard).where(Scorecard.id == scorecard.id).values(is_active=False))
    await world.commit()
    for scorecard_id in (scorecard.id, 999_999):
        body = {"fiche_id": "F-OWN", "scorecard_id": scorecard_id}
        response = await client.post("/api/audits/run", json=body, headers=world.headers("operator"))
        assert response.status_code == 404, response.text
    assert launcher.jobs == []


async def test_run_latest_picks_the_newest_active_scorecard(
    client: httpx.AsyncClient, world: World, launcher: RecordingLauncher
) -> None:
    response = await client.post("/api/audits/run-latest", json={"fiche_id": "F-OWN"}, headers=world.headers("admin"))
    assert response.status_code == 404  # none yet
    await add_scorecard(world.session, "Ancienne")
    newest = await add_scorecard(world.session, "Récente")
    await world.commit()
    response = await client.post("/api/audits/run-latest", json={"fiche_id": "F-OWN"}, headers=world.headers("admin"))
    assert response.status_code == 202, response.text
    assert response.json()["data"]["scorecard_name"] == "Récente"
    [(_, launch)] = launcher.jobs
    assert launch.run_config["scorecard_id"] == newest.id


async def test_a_batch_is_one_run_and_refused_whole_when_a_fiche_is_out_of_scope(
    client: httpx.AsyncClient, world: World, launcher: RecordingLauncher
) -> None:
    scorecard = await add_scorecard(world.session)
    await world.commit()
    body = {"fiche_ids": ["F-OWN", "F-OTHER"], "scorecard_id": scorecard.id}
    refused = await client.post("/api/audits/batch", json=body, headers=world.headers("operator"))
    assert refused.status_code == 404
    assert "F-OTHER" in refused.json()["error"]
    assert launcher.jobs == []
    body["fiche_ids"] = ["F-OWN", "F-OWN"]
    accepted = await client.post("/api/audits/batch", json=body, headers=world.headers("operator"))
    assert accepted.status_code == 202, accepted.text
    [(_, launch)] = launcher.jobs
    config = launch.run_config
    assert (config["fiche_ids"], config["trigger_source"], launch.tags["app/source"]) == (["F-OWN"], "batch", "batch")


async def test_a_refused_launch_is_503_with_a_safe_message(
    client: httpx.AsyncClient, world: World, launcher: RecordingLauncher
) -> None:
    scorecard = await add_scorecard(world.session)
    await world.commit()
    launcher.fail = True
    body = {"fiche_id": "F-OWN", "scorecard_id": scorecard.id}
    response = await client.post("/api/audits/run", json=body, headers=world.headers("operator"))
    assert response.status_code == 503
    assert "could not be started" in response.json()["error"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/audits/run", {"fiche_id": "F-OWN", "scorecard_id": 2**63}),
        ("/api/audits/run", {"fiche_id": "F-OWN", "audit_config_id": 0}),
        ("/api/audits/batch", {"fiche_ids": ["F-OWN"], "scorecard_id": 10**30}),
        # drill 12: lax coercion read these as scorecard 1
        ("/api/audits/run", {"fiche_id": "F-OWN", "scorecard_id": True}),
        ("/api/audits/run", {"fiche_id": "F-OWN", "scorecard_id": 1.0}),
        ("/api/audits/run", {"fiche_id": "F-OWN", "scorecard_id": "01"}),
        ("/api/audits/run", {"fiche_id": "F-OWN", "scorecard_id": " 1"}),
        ("/api/audits/batch", {"fiche_ids": ["F-OWN"], "scorecard_id": True}),
    ],
)
async def test_an_out_of_range_scorecard_id_is_a_400_naming_it(
    client: httpx.AsyncClient, world: World, path: str, body: dict[str, object], launcher: RecordingLauncher
) -> None:
    response = await client.post(path, json=body, headers=world.headers("operator"))
    assert response.status_code == 400, response.text
    assert response.json()["field"] in {"body.scorecard_id", "body.audit_config_id"}
    assert launcher.jobs == []


async def test_a_queued_audit_is_listed_with_its_run_id_from_the_202_on(
    client: httpx.AsyncClient, world: World
) -> None:
    scorecard = await add_scorecard(world.session, "Grille A")
    await world.commit()
    body = {"fiche_id": "F-OWN", "scorecard_id": scorecard.id}
    response = await client.post("/api/audits/run", json=body, headers=world.headers("operator"))
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    [audit_id] = data["audit_ids"]
    listed = (await client.get("/api/audits", headers=world.headers("operator"))).json()["data"]
    [queued] = [a for a in listed if a["id"] == audit_id]
    assert (queued["status"], queued["run_id"], queued["fiche_id"]) == ("pending", data["run_id"], "F-OWN")
    assert queued["scorecard"]["id"] == str(scorecard.id)
    # Launched again while the first is queued: one audit in flight per (fiche, scorecard), none added.
    again = await client.post("/api/audits/run", json=body, headers=world.headers("operator"))
    assert again.json()["data"]["audit_ids"] == []
