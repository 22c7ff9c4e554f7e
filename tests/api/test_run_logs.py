"""Run logs of audits and transcriptions: the event logs of real Dagster runs, by the run ids on the rows."""

import datetime as dt
from collections.abc import Iterator

import dagster as dg
import httpx
import pytest

from api.runlogs import EventLogReader, LogLine, select_lines
from domain.models import AuditRerun, FicheTranscription
from tests.fixtures.factories.aio import add_audit, add_scorecard
from tests.fixtures.fakes import RunLogs
from tests.fixtures.world import World


@dg.op
def chatty(context: dg.OpExecutionContext) -> None:
    context.log.info("audit de la fiche commencé")
    context.log.warning("citation introuvable, retirée")


@dg.job
def chatty_job() -> None:
    chatty()


@pytest.fixture
def dagster_runs(run_logs: RunLogs) -> Iterator[list[str]]:
    """Two finished runs in a Dagster test instance whose event log the API reads."""
    with dg.instance_for_test() as instance:
        runs = [chatty_job.execute_in_process(instance=instance).run_id for _ in range(2)]
        run_logs.reader = EventLogReader(instance.event_log_storage)
        try:
            yield runs
        finally:
            run_logs.reader = None


async def test_an_audits_logs_are_its_runs_and_its_reruns_runs_filtered_and_paginated(
    client: httpx.AsyncClient, world: World, dagster_runs: list[str]
) -> None:
    audit_run, rerun_run = dagster_runs
    audit_id = await add_audit(world.session, "F-OWN", await add_scorecard(world.session), run_id=audit_run)
    world.session.add(AuditRerun(rerun_id="r1", audit_id=audit_id, step_position=1, actor="user:1", run_id=rerun_run))
    await world.commit()
    headers = world.headers("viewer")
    everything = await client.get(f"/api/audits/{audit_id}/logs", params={"limit": 200}, headers=headers)
    assert everything.status_code == 200, everything.text
    lines = everything.json()["data"]
    assert {line["run_id"] for line in lines} == {audit_run, rerun_run}
    assert [line["at"] for line in lines] == sorted(line["at"] for line in lines)
    assert {"RUN_SUCCESS", "STEP_START", "log"} <= {line["event_type"] for line in lines}

    warnings = await client.get(f"/api/audits/{audit_id}/logs", params={"level": "warning"}, headers=headers)
    assert [(w["message"], w["step_key"]) for w in warnings.json()["data"]] == [
        ("citation introuvable, retirée", "chatty")
    ] * 2
    second = await client.get(
        f"/api/audits/{audit_id}/logs", params={"level": "warning", "limit": 1, "page": 2}, headers=headers
    )
    body = second.json()
    assert (len(body["data"]), body["pagination"]["total"]) == (1, 2)
    assert body["data"][0]["run_id"] == warnings.json()["data"][1]["run_id"]
    bad = await client.get(f"/api/audits/{audit_id}/logs", params={"since": "yesterday"}, headers=headers)
    assert bad.status_code == 400
    assert bad.json()["field"] == "query.since"


async def test_a_fiches_transcription_logs_are_its_last_runs(
    client: httpx.AsyncClient, world: World, dagster_runs: list[str]
) -> None:
    world.session.add(FicheTranscription(fiche_id="F-OWN", status="complete", run_id=dagster_runs[0]))
    await world.commit()
    response = await client.get("/api/transcriptions/F-OWN/logs", headers=world.headers("operator"))
    assert response.status_code == 200, response.text
    assert {line["run_id"] for line in response.json()["data"]} == {dagster_runs[0]}
    never = await client.get("/api/transcriptions/F-OTHER/logs", headers=world.headers("admin"))
    assert never.json()["data"] == []


def test_lines_are_selected_by_level_and_time() -> None:
    at = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
    lines = [
        LogLine("r", at + dt.timedelta(minutes=m), level, "log", None, f"{level} {m}")
        for m, level in [(2, "error"), (0, "info"), (1, "warning"), (3, "debug")]
    ]
    chosen = select_lines(lines, level="warning", since=at + dt.timedelta(minutes=1), until=None)
    assert [line.message for line in chosen] == ["warning 1", "error 2"]
    assert [line.message for line in select_lines(lines, level=None, since=None, until=at)] == ["info 0"]
