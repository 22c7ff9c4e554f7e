"""`/api/automation`: schedule shapes and validation, GROUP scoping, manual triggers, run records."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from callaudit.secrets import sealer_for
from domain.models import AutomationLog, AutomationRun, AutomationSchedule
from domain.models.automation import EXTERNAL_API_KEY_PURPOSE
from runs.contract import AUTOMATION_RUN_JOB
from tests.fixtures.factories.automation import add_run, add_schedule
from tests.fixtures.fakes import RecordingLauncher
from tests.fixtures.world import World


def schedule_body(**fields: Any) -> dict[str, Any]:
    return {
        "name": "Ventes de la veille",
        "scheduleType": "DAILY",
        "timeOfDay": "07:00",
        "timezone": "Europe/Paris",
        "ficheSelection": {"mode": "date_range", "dateRange": "yesterday", "groupes": ["G-OWN"], "maxFiches": 50},
        "notifyEmails": "qualite@example.test",
        **fields,
    }


async def test_create_answers_the_original_camel_case_shape_with_the_generated_cron_and_next_runs(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.post("/api/automation/schedules", json=schedule_body(), headers=world.headers("operator"))
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["cronExpression"] == "0 7 * * *"
    assert data["ficheSelection"]["groupes"] == ["G-OWN"]
    assert data["ficheSelection"]["maxFiches"] == 50
    assert data["notifyEmails"] == ["qualite@example.test"]
    assert data["createdBy"] == str(world.users["operator"])
    assert len(data["nextRuns"]) == 5
    assert all(run.endswith(("05:00:00Z", "06:00:00Z")) for run in data["nextRuns"])  # 07:00 Paris, CEST or CET
    assert {"runTranscription", "skipIfTranscribed", "continueOnError", "maxRetries", "lastRunStatus"} <= set(data)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"scheduleType": "DAILY", "timeOfDay": None}, "timeOfDay"),
        ({"scheduleType": "WEEKLY"}, "dayOfWeek"),
        ({"scheduleType": "MONTHLY"}, "dayOfMonth"),
        ({"scheduleType": "CRON"}, "cronExpression"),
        ({"scheduleType": "CRON", "cronExpression": "0 25 * * *"}, "cronExpression"),
        ({"timezone": "Europe/Lutece"}, "timezone"),
        ({"timeOfDay": "7h00"}, "body.timeOfDay"),
        ({"dayOfMonth": 32, "scheduleType": "MONTHLY"}, "body.dayOfMonth"),
        ({"maxRetries": 6}, "body.maxRetries"),
        ({"maxConcurrentRuns": 0}, "body.maxConcurrentRuns"),
        ({"maxConcurrentRuns": 6}, "body.maxConcurrentRuns"),
        ({"webhookUrl": "ftp://example.test/hook"}, "webhookUrl"),
        ({"webhookUrl": "http://10.0.0.1/hook"}, "webhookUrl"),
        ({"webhookUrl": "http://169.254.169.254/latest/meta-data/"}, "webhookUrl"),
        ({"webhookUrl": "http://localhost:8080/hook"}, "webhookUrl"),
        ({"notifyEmails": ["not-an-address"]}, "body.notifyEmails.0"),
        ({"specificAuditConfigs": ["999999"]}, "specificAuditConfigs"),
        ({"ficheSelection": {"mode": "manual"}}, "ficheSelection.ficheIds"),
        ({"ficheSelection": {"mode": "date_range", "groupes": ["G-OWN"]}}, "ficheSelection.dateRange"),
        (
            {
                "ficheSelection": {
                    "dateRange": "custom",
                    "customStartDate": "10/06/2026",
                    "customEndDate": "01/06/2026",
                    "groupes": ["G-OWN"],
                }
            },
            "ficheSelection.customEndDate",
        ),
        ({"ficheSelection": {"dateRange": "yesterday", "groupes": ["G-OTHER"]}}, "ficheSelection.groupes"),
        ({"ficheSelection": {"dateRange": "yesterday"}}, "ficheSelection.groupes"),
    ],
)
async def test_invalid_configurations_answer_400_naming_the_field(
    client: httpx.AsyncClient, world: World, fields: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in schedule_body(**fields).items() if v is not None}
    response = await client.post("/api/automation/schedules", json=body, headers=world.headers("operator"))
    assert response.status_code == 400, response.text
    error = response.json()
    fields_named = [error.get("field")] + [d["field"] for d in error.get("details") or []]
    assert field in fields_named, error


async def test_patch_is_validated_on_the_merged_configuration_and_regenerates_the_cron(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = world.headers("operator")
    created = (await client.post("/api/automation/schedules", json=schedule_body(), headers=headers)).json()["data"]
    url = f"/api/automation/schedules/{created['id']}"
    refused = await client.patch(url, json={"scheduleType": "WEEKLY"}, headers=headers)
    assert refused.status_code == 400
    assert refused.json()["field"] == "dayOfWeek"
    patched = await client.patch(url, json={"scheduleType": "WEEKLY", "dayOfWeek": 1}, headers=headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["cronExpression"] == "0 7 * * 1"
    assert patched.json()["data"]["ficheSelection"]["dateRange"] == "yesterday"  # untouched fields kept
    monthly = await client.patch(url, json={"scheduleType": "MONTHLY", "dayOfMonth": 31}, headers=headers)
    days = [run[8:10] for run in monthly.json()["data"]["nextRuns"]]
    assert "30" in days or "28" in days or "29" in days  # shorter months run on their last day


async def test_a_webhook_url_gets_a_signing_subscription_whose_secret_is_shown_once(
    client: httpx.AsyncClient, world: World
) -> None:
    """Reference §9.12 #9: the original posted unsigned notices; a schedule's URL is now signed through the outbox."""
    headers = world.headers("operator")
    hook = "http://127.0.0.1:9/automation"  # WEBHOOK_ALLOWED_ORIGINS of the API tests
    created = await client.post("/api/automation/schedules", json=schedule_body(webhookUrl=hook), headers=headers)
    assert created.status_code == 201, created.text
    data = created.json()["data"]
    assert data["webhookUrl"] == hook
    secret = data["webhookSecret"]
    assert secret.startswith("whsec_")
    url = f"/api/automation/schedules/{data['id']}"
    read = (await client.get(url, headers=headers)).json()["data"]
    assert "webhookSecret" not in read
    assert secret not in (await client.get("/api/automation/schedules", headers=headers)).text

    subscriptions = (await client.get("/api/webhooks/subscriptions", headers=headers)).json()["data"]
    [subscription] = [s for s in subscriptions if s["url"] == hook]
    assert subscription["event_types"] == ["automation.run.completed", "automation.run.failed"]
    moved = await client.patch(url, json={"webhookUrl": hook + "/v2"}, headers=headers)
    assert moved.status_code == 200, moved.text
    assert moved.json()["data"]["webhookSecret"] is None  # the same subscription and secret, moved
    subscriptions = (await client.get("/api/webhooks/subscriptions", headers=headers)).json()["data"]
    assert [s["url"] for s in subscriptions if s["id"] == subscription["id"]] == [hook + "/v2"]
    refused = await client.patch(url, json={"webhookUrl": "http://192.168.1.10/hook"}, headers=headers)
    assert (refused.status_code, refused.json()["field"]) == (400, "webhookUrl")
    removed = await client.patch(url, json={"webhookUrl": ""}, headers=headers)
    assert removed.json()["data"]["webhookUrl"] is None
    subscriptions = (await client.get("/api/webhooks/subscriptions", headers=headers)).json()["data"]
    assert [s for s in subscriptions if s["id"] == subscription["id"]] == []


async def test_9_12_08_a_group_operator_sees_and_triggers_only_schedules_of_their_groups(
    client: httpx.AsyncClient, world: World, launcher: RecordingLauncher
) -> None:
    """Reference §9.12 #8: the original let a GROUP operator see and trigger every schedule."""
    own = await add_schedule(world.session, "G-OWN")
    other = await add_schedule(world.session, "G-OTHER")
    everyone = await add_schedule(world.session, None)
    await world.commit()
    headers = world.headers("operator")
    listed = (await client.get("/api/automation/schedules", headers=headers)).json()
    assert [s["id"] for s in listed["data"]] == [str(own)]
    assert listed["count"] == 1
    for schedule_id in (other, everyone):
        assert (await client.get(f"/api/automation/schedules/{schedule_id}", headers=headers)).status_code == 404
        trigger = await client.post("/api/automation/trigger", json={"scheduleId": schedule_id}, headers=headers)
        assert trigger.status_code == 404
    assert launcher.jobs == []
    admin = (await client.get("/api/automation/schedules", headers=world.headers("admin"))).json()
    assert {str(own), str(other), str(everyone)} <= {s["id"] for s in admin["data"]}


async def test_9_12_07_trigger_answers_at_once_with_the_automation_run_id_and_its_dagster_run_id(
    client: httpx.AsyncClient, world: World, launcher: RecordingLauncher
) -> None:
    """Reference §9.12 #7: the original answered with event ids the UI could not follow."""
    schedule_id = await add_schedule(world.session, "G-OWN", transcription_priority="high", max_concurrent_runs=2)
    await world.commit()
    body = {"scheduleId": str(schedule_id), "overrideFicheSelection": {"mode": "manual", "ficheIds": ["F-OWN, F-9"]}}
    response = await client.post("/api/automation/trigger", json=body, headers=world.headers("operator"))
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    [(dagster_run_id, launch)] = launcher.jobs
    assert data["dagsterRunId"] == dagster_run_id
    run = await world.session.get(AutomationRun, int(data["runId"]))
    assert run is not None
    assert (run.status, run.trigger, run.dagster_run_id) == ("pending", "manual", dagster_run_id)
    assert run.config_snapshot["ficheSelection"]["ficheIds"] == ["F-OWN", "F-9"]
    assert run.config_snapshot["overrideFicheSelection"] is True
    assert launch.job_name == AUTOMATION_RUN_JOB
    assert launch.run_config == {"automation_run_id": run.id}
    assert launch.tags["app/automation_schedule_id"] == str(schedule_id)
    assert launch.tags["app/automation_run_id"] == str(run.id)
    assert launch.tags["dagster/priority"] == "5"
    assert launch.tags["app/automation_schedule_limit_2"] == str(schedule_id)  # queued behind its 2 running runs


async def test_9_12_11_triggering_an_inactive_schedule_is_409_with_the_reason(
    client: httpx.AsyncClient, world: World, launcher: RecordingLauncher
) -> None:
    """Reference §9.12 #11: the original failed silently, without a run row."""
    schedule_id = await add_schedule(world.session, "G-OWN", is_active=False)
    await world.commit()
    response = await client.post(
        "/api/automation/trigger", json={"scheduleId": schedule_id}, headers=world.headers("operator")
    )
    assert response.status_code == 409
    assert "inactive" in response.json()["error"]
    assert launcher.jobs == []
    runs = (await world.session.scalars(select(AutomationRun).where(AutomationRun.schedule_id == schedule_id))).all()
    assert runs == []


async def test_a_launch_dagster_refuses_is_503_and_the_run_is_recorded_failed(
    client: httpx.AsyncClient, world: World, launcher: RecordingLauncher
) -> None:
    schedule_id = await add_schedule(world.session, "G-OWN")
    await world.commit()
    launcher.fail = True
    response = await client.post(
        "/api/automation/trigger", json={"scheduleId": schedule_id}, headers=world.headers("operator")
    )
    assert response.status_code == 503
    run = (await world.session.scalars(select(AutomationRun).where(AutomationRun.schedule_id == schedule_id))).one()
    assert run.status == "failed"
    assert "could not be started" in (run.error_message or "").lower()


async def test_run_detail_rebuilds_the_legacy_summary_from_per_fiche_rows(
    client: httpx.AsyncClient, world: World
) -> None:
    schedule_id = await add_schedule(world.session, "G-OWN")
    run_id = await add_run(world.session, schedule_id)
    await world.commit()
    headers = world.headers("viewer")
    detail = (await client.get(f"/api/automation/runs/{run_id}", headers=headers)).json()["data"]
    assert detail["resultSummary"] == {
        "successful": ["F-1"],
        "failed": [],
        "ignored": [{"ficheId": "F-2", "reason": "no recordings", "recordingsCount": 0}],
        "transcriptions": 3,
        "audits": 2,
    }
    assert [log["message"] for log in detail["logs"]] == ["Run started", "F-2 ignored"]
    warnings = (await client.get(f"/api/automation/runs/{run_id}/logs?level=warning", headers=headers)).json()
    assert [log["message"] for log in warnings["data"]] == ["F-2 ignored"]
    runs = (await client.get(f"/api/automation/schedules/{schedule_id}/runs", headers=headers)).json()
    assert [r["id"] for r in runs["data"]] == [str(run_id)]
    assert runs["count"] == 1
    schedule = (await client.get(f"/api/automation/schedules/{schedule_id}", headers=headers)).json()["data"]
    assert [r["id"] for r in schedule["runs"]] == [str(run_id)]


async def test_runs_of_schedules_outside_the_scope_are_not_listed(client: httpx.AsyncClient, world: World) -> None:
    own = await add_run(world.session, await add_schedule(world.session, "G-OWN"))
    other = await add_run(world.session, await add_schedule(world.session, "G-OTHER"))
    await world.commit()
    listed = (await client.get("/api/automation/runs?limit=200", headers=world.headers("viewer"))).json()
    ids = {r["id"] for r in listed["data"]}
    assert str(own) in ids
    assert str(other) not in ids
    assert (await client.get(f"/api/automation/runs/{other}", headers=world.headers("viewer"))).status_code == 404


async def test_delete_removes_the_schedule_with_its_runs_and_logs(client: httpx.AsyncClient, world: World) -> None:
    schedule_id = await add_schedule(world.session, "G-OWN")
    run_id = await add_run(world.session, schedule_id)
    await world.commit()
    response = await client.delete(f"/api/automation/schedules/{schedule_id}", headers=world.headers("operator"))
    assert response.status_code == 200
    assert await world.session.get(AutomationRun, run_id) is None
    logs = (await world.session.scalars(select(AutomationLog).where(AutomationLog.run_id == run_id))).all()
    assert logs == []


async def test_an_override_never_widens_the_schedule_to_other_groups(
    client: httpx.AsyncClient, world: World, launcher: RecordingLauncher
) -> None:
    schedule_id = await add_schedule(world.session, "G-OWN")
    await world.commit()
    headers = world.headers("operator")
    wider = {"scheduleId": schedule_id, "overrideFicheSelection": {"dateRange": "last_week", "groupes": ["G-OTHER"]}}
    refused = await client.post("/api/automation/trigger", json=wider, headers=headers)
    assert refused.status_code == 400
    assert refused.json()["field"] == "overrideFicheSelection.groupes"
    assert launcher.jobs == []
    kept = {"scheduleId": schedule_id, "overrideFicheSelection": {"dateRange": "last_week"}}
    response = await client.post("/api/automation/trigger", json=kept, headers=headers)
    assert response.status_code == 202, response.text
    run = await world.session.get(AutomationRun, int(response.json()["data"]["runId"]))
    assert run is not None
    assert run.config_snapshot["ficheSelection"]["groupes"] == ["G-OWN"]
    assert run.config_snapshot["scopeGroupIds"] == ["G-OWN"]


async def test_the_diagnostic_warns_about_runs_left_pending_and_missed_due_times(
    client: httpx.AsyncClient, world: World
) -> None:
    schedule_id = await add_schedule(world.session, "G-OWN")
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    world.session.add_all(
        [
            AutomationRun(schedule_id=schedule_id, status="pending", trigger="schedule", created_at=long_ago),
            AutomationRun(schedule_id=schedule_id, status="missed", trigger="schedule", due_at=long_ago),
        ]
    )
    await add_schedule(world.session, "G-OTHER")  # outside the viewer's scope: not counted
    await world.commit()
    data = (await client.get("/api/automation/diagnostic", headers=world.headers("viewer"))).json()["data"]
    assert data["scheduler"]["window_minutes"] == 20
    assert data["scheduler"]["tick_seconds"] == 60
    assert (data["active_schedules"], data["pending_runs"], data["missed_runs_24h"]) == (1, 1, 1)
    assert len(data["warnings"]) == 2
    assert "daemon" in data["warnings"][0]


async def test_the_schedule_crm_key_is_stored_sealed_and_never_returned(
    client: httpx.AsyncClient, world: World
) -> None:
    headers = world.headers("operator")
    body = schedule_body(externalApiKey="crm-secret-token-42")
    created = await client.post("/api/automation/schedules", json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert "crm-secret-token-42" not in created.text
    data = created.json()["data"]
    assert data["hasExternalApiKey"] is True
    assert "externalApiKey" not in data
    schedule = await world.session.get(AutomationSchedule, int(data["id"]))
    assert schedule is not None
    assert schedule.external_api_key_sealed is not None
    assert "crm-secret-token-42" not in schedule.external_api_key_sealed
    sealer = sealer_for(world.settings, EXTERNAL_API_KEY_PURPOSE)
    assert sealer.unseal(schedule.external_api_key_sealed) == "crm-secret-token-42"
    read = await client.get(f"/api/automation/schedules/{data['id']}", headers=headers)
    assert "crm-secret-token-42" not in read.text
    removed = await client.patch(
        f"/api/automation/schedules/{data['id']}", json={"externalApiKey": ""}, headers=headers
    )
    assert removed.json()["data"]["hasExternalApiKey"] is False
