"""`/api/transcriptions` on the test harness: launches (recorded), coverage and transcripts from Postgres."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import httpx
import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from domain.models import FicheInformation, Recording, Transcript, TranscriptChunk
from domain.models.transcripts import FicheTranscriptionStatus
from domain.transcripts.store import coverage, load_recordings, set_fiche_status, store_failure
from orchestration.jobs import transcribe_fiches_job
from runs.contract import TRANSCRIBE_FICHES_JOB
from tests.fixtures.fakes import RecordingLauncher
from tests.fixtures.world import World


@pytest.mark.parametrize(("priority", "tag"), [("high", "5"), ("normal", "0"), ("low", "-5"), (None, "0")])
async def test_a_fiche_launch_queues_one_run_with_its_priority(
    client: httpx.AsyncClient, world: World, priority: str | None, tag: str, launcher: RecordingLauncher
) -> None:
    params = {"priority": priority} if priority else {}
    response = await client.post("/api/transcriptions/F-OWN", params=params, headers=world.headers("operator"))
    assert response.status_code == 202, response.text
    data = response.json()["data"]
    [(run_id, launch)] = launcher.jobs
    assert data == {
        "message": "Transcription queued",
        "fiche_id": "F-OWN",
        "run_id": run_id,
        "priority": priority or "normal",
    }
    assert launch.job_name == TRANSCRIBE_FICHES_JOB
    assert launch.run_config == {"fiche_ids": ["F-OWN"], "priority": priority or "normal", "force": False}
    assert launch.tags["dagster/priority"] == tag
    assert launch.tags["app/source"] == "api"
    assert launch.tags["app/user"] == str(world.users["operator"])
    assert launch.tags["app/request_id"] == response.headers["X-Request-Id"]


def test_the_launched_run_config_is_valid_for_the_real_job() -> None:
    config = {"fiche_ids": ["F-1", "F-2"], "priority": "low"}
    assert dg.validate_run_config(transcribe_fiches_job, config)
    assert transcribe_fiches_job.name == TRANSCRIBE_FICHES_JOB


async def test_bad_priority_is_a_validation_error(
    client: httpx.AsyncClient, world: World, launcher: RecordingLauncher
) -> None:
    response = await client.post(
        "/api/transcriptions/F-OWN", params={"priority": "urgent"}, headers=world.headers("operator")
    )
    assert response.status_code == 400
    assert response.json()["field"] == "query.priority"
    assert launcher.jobs == []


async def test_a_batch_is_one_run_and_a_repeat_launches_again(
    client: httpx.AsyncClient, world: World, launcher: RecordingLauncher
) -> None:
    await world.add_fiche("F-OWN-2", "G-OWN", "crm-someone")
    await world.commit()
    body = {"fiche_ids": ["F-OWN", "F-OWN-2", "F-OWN"], "priority": "low"}
    first = await client.post("/api/transcriptions/batch", json=body, headers=world.headers("operator"))
    second = await client.post("/api/transcriptions/batch", json=body, headers=world.headers("operator"))
    assert (first.status_code, second.status_code) == (202, 202), first.text
    runs = [run_id for run_id, _ in launcher.jobs]
    assert [first.json()["data"]["run_id"], second.json()["data"]["run_id"]] == runs
    assert len(set(runs)) == 2  # no same-day deduplication (reference §13.4 #28)
    data = first.json()["data"]
    assert (data["fiche_ids"], data["priority"]) == (["F-OWN", "F-OWN-2"], "low")
    launch = launcher.jobs[0][1]
    assert launch.run_config["fiche_ids"] == ["F-OWN", "F-OWN-2"]
    assert launch.tags["dagster/priority"] == "-5"


async def test_a_batch_with_any_fiche_out_of_scope_launches_nothing(
    client: httpx.AsyncClient, world: World, launcher: RecordingLauncher
) -> None:
    body = {"fiche_ids": ["F-OWN", "F-OTHER", "F-NOPE"]}
    response = await client.post("/api/transcriptions/batch", json=body, headers=world.headers("operator"))
    assert response.status_code == 404
    assert response.json()["error"] == "2 fiche(s) not found: F-OTHER, F-NOPE"
    assert launcher.jobs == []


@pytest.mark.parametrize("ids", [[], [f"F{i}" for i in range(501)], ["bad id"]])
async def test_batch_bounds(client: httpx.AsyncClient, world: World, ids: list[str]) -> None:
    response = await client.post(
        "/api/transcriptions/batch", json={"fiche_ids": ids}, headers=world.headers("operator")
    )
    assert response.status_code == 400
    assert response.json()["field"].startswith("body.fiche_ids")


async def test_dagster_down_is_a_503_and_nothing_is_pretended(
    client: httpx.AsyncClient, world: World, launcher: RecordingLauncher
) -> None:
    launcher.fail = True
    response = await client.post("/api/transcriptions/F-OWN", headers=world.headers("admin"))
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "SERVICE_UNAVAILABLE"
    assert "unreachable" in body["error"]


def _prepare_coverage(session: Session) -> list[str]:
    """After `add_transcript` (first recording transcribed): a later recording whose transcription
    failed and another never attempted; the fiche's last run ended `partial`."""
    now = dt.datetime.now(dt.UTC)
    later = now + dt.timedelta(days=3650)
    session.add_all(
        Recording(fiche_id="F-OWN", call_id=f"late-{i}", recording_url=f"https://r.test/{i}.wav", start_time=later)
        for i in (1, 2)
    )
    session.flush()
    recordings = load_recordings(session, "F-OWN") or []
    failing = next(r for r in recordings if r.call_id == "late-1")
    store_failure(session, "F-OWN", failing, provider="elevenlabs", error="elevenlabs answered HTTP 500", attempts=6)
    session.flush()
    set_fiche_status(
        session,
        "F-OWN",
        FicheTranscriptionStatus.PARTIAL,
        reason="1 of 3 recording(s) failed",
        counts=coverage(session, "F-OWN"),
        priority="high",
        run_id="run-1",
        now=now,
        finished=True,
    )
    return [r.call_id for r in recordings]


async def test_status_counts_transcribed_failed_and_pending(client: httpx.AsyncClient, world: World) -> None:
    transcribed = await world.add_transcript("own")
    calls = await world.session.run_sync(_prepare_coverage)
    await world.commit()

    response = await client.get("/api/transcriptions/F-OWN/status", headers=world.headers("viewer"))
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    total = len(calls)
    assert (data["total"], data["transcribed"], data["failed"], data["pending"]) == (total, 1, 1, total - 2)
    assert data["percentage"] == round(100 / total, 1)
    assert (data["status"], data["reason"], data["priority"], data["run_id"]) == (
        "partial",
        "1 of 3 recording(s) failed",
        "high",
        "run-1",
    )
    by_call = {r["call_id"]: r for r in data["recordings"]}
    assert list(by_call) == calls  # oldest first
    assert by_call[transcribed]["has_transcription"] is True
    assert (by_call[transcribed]["provider"], by_call[transcribed]["status"]) == ("reference", "completed")
    failed = by_call["late-1"]
    assert (failed["has_transcription"], failed["status"], failed["error"]) == (
        False,
        "failed",
        "elevenlabs answered HTTP 500",
    )
    assert by_call["late-2"]["status"] is None
    assert {"recording_date", "recording_time", "duration_seconds", "transcribed_at", "model"} <= set(failed)


async def test_status_of_a_fiche_never_transcribed(client: httpx.AsyncClient, world: World) -> None:
    data = (await client.get("/api/transcriptions/F-OWN/status", headers=world.headers("admin"))).json()["data"]
    assert data == {
        "fiche_id": "F-OWN",
        "total": 0,
        "transcribed": 0,
        "pending": 0,
        "failed": 0,
        "percentage": 0.0,
        "status": None,
        "reason": None,
        "run_status": None,
        "priority": None,
        "run_id": None,
        "recordings": [],
    }


async def test_a_recording_transcript_with_words_and_chunks(client: httpx.AsyncClient, world: World) -> None:
    call_id = await world.add_transcript("own")
    await world.commit()
    response = await client.get(f"/api/transcriptions/F-OWN/recordings/{call_id}", headers=world.headers("viewer"))
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["fiche_id"], data["call_id"], data["status"], data["provider"]) == (
        "F-OWN",
        call_id,
        "completed",
        "reference",
    )
    assert (data["text"], data["language"], data["duration_seconds"]) == ("Bonjour madame Oui", "fr", 1.4)
    assert data["words"][2] == {"text": "Oui", "start": 1.2, "end": 1.4, "speaker": "speaker_1", "confidence": 0.9}
    assert [(c["chunk_id"], c["speaker"], c["start"], c["end"]) for c in data["chunks"]] == [
        (f"{call_id}:0", "speaker_0", 0.0, 1.0),
        (f"{call_id}:1", "speaker_1", 1.2, 1.4),
    ]
    assert data["chunks"][0]["text"] == "Bonjour madame"


async def test_a_recording_transcript_shows_who_is_the_agent(client: httpx.AsyncClient, world: World) -> None:
    await world.store_details("own")
    advisor = await world.session.scalar(
        select(FicheInformation.attribution_user_nom).where(FicheInformation.fiche_id == "F-OWN")
    )
    assert advisor
    call_id = await world.add_transcript(
        "own",
        [
            ("speaker_0", "Allô ?"),
            ("speaker_1", f"Bonjour madame, je suis {advisor}, votre conseiller, cet appel est enregistré."),
            ("speaker_0", "Oui d'accord."),
        ],
    )
    await world.commit()
    url = f"/api/transcriptions/F-OWN/recordings/{call_id}"

    data = (await client.get(url, headers=world.headers("viewer"))).json()["data"]
    assert [c["role"] for c in data["chunks"]] == ["client", "agent", "client"]
    assert data["speaker_roles"]["roles"] == {"speaker_0": "client", "speaker_1": "agent"}
    assert data["speaker_roles"]["confidence"] >= 0.9
    assert "speaker_1: gives the advisor's name" in data["speaker_roles"]["cues"]

    # A transcript stored before roles existed gets them inferred when shown.
    await world.session.execute(update(Transcript).where(Transcript.fiche_id == "F-OWN").values(speaker_roles=None))
    await world.session.execute(update(TranscriptChunk).where(TranscriptChunk.fiche_id == "F-OWN").values(role=None))
    await world.commit()
    again = (await client.get(url, headers=world.headers("viewer"))).json()["data"]
    assert [c["role"] for c in again["chunks"]] == ["client", "agent", "client"]
    assert again["speaker_roles"]["roles"] == data["speaker_roles"]["roles"]


async def test_a_recording_without_transcript_is_a_404(client: httpx.AsyncClient, world: World) -> None:
    await world.store_details("own")
    [untranscribed] = await world.session.run_sync(lambda s: load_recordings(s, "F-OWN")) or []
    await world.commit()
    for call_id in ("unknown-call", untranscribed.call_id):
        response = await client.get(f"/api/transcriptions/F-OWN/recordings/{call_id}", headers=world.headers("admin"))
        assert response.status_code == 404
        assert response.json()["error"] == "No transcript for this recording"


async def test_a_launch_is_recorded_at_once_and_a_dead_run_does_not_stay_queued(
    client: httpx.AsyncClient, world: World, launcher: RecordingLauncher
) -> None:
    response = await client.post("/api/transcriptions/F-OWN", headers=world.headers("operator"))
    assert response.status_code == 202, response.text
    run_id = response.json()["data"]["run_id"]
    status = (await client.get("/api/transcriptions/F-OWN/status", headers=world.headers("operator"))).json()["data"]
    assert (status["status"], status["run_id"], status["run_status"]) == ("queued", run_id, "QUEUED")
    fiche = (await client.get("/api/fiches/F-OWN/status", headers=world.headers("operator"))).json()["data"]
    assert (fiche["transcription"]["status"], fiche["transcription"]["run_id"]) == ("queued", run_id)

    launcher.runs[run_id] = "CANCELED"  # canceled in the Dagster UI before it started
    status = (await client.get("/api/transcriptions/F-OWN/status", headers=world.headers("operator"))).json()["data"]
    assert status["status"] == "failed"
    assert "CANCELED" in status["reason"]
