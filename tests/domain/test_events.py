"""The event catalogue: topic names, catalogue completeness, batch progress, SSE cursors."""

from __future__ import annotations

from typing import Any

import pytest

from api.realtime.stream import BadCursor, parse_last_event_id
from domain.crm.fetch_jobs import outcome_notification
from domain.events import CATALOGUE, BatchProgress, Event, InvalidTopic, TopicKind, parse_topic, validate_event


@pytest.mark.parametrize(
    ("text", "kind", "key"),
    [
        ("audit:12", TopicKind.AUDIT, "12"),
        ("fiche:1983200000", TopicKind.FICHE, "1983200000"),
        ("job:3f1c2a9e-8d1b-4c4e-9f1a-2b3c4d5e6f70", TopicKind.JOB, "3f1c2a9e-8d1b-4c4e-9f1a-2b3c4d5e6f70"),
        ("user:7", TopicKind.USER, "7"),
    ],
)
def test_topics_parse(text: str, kind: TopicKind, key: str) -> None:
    topic = parse_topic(text)
    assert (topic.kind, topic.key, str(topic)) == (kind, key, text)


@pytest.mark.parametrize(
    "text",
    ["global", "private-global", "runs", "audit:", "audit:abc", "audit:012", "user:-1", "fiche:a b", "job:*", "x:1"],
)
def test_no_other_topic_exists(text: str) -> None:
    with pytest.raises(InvalidTopic):
        parse_topic(text)


def test_every_event_has_its_catalogue_entry() -> None:
    assert set(CATALOGUE) == set(Event)
    assert all(spec.topics for spec in CATALOGUE.values())


def test_a_payload_missing_a_catalogued_field_is_refused() -> None:
    payload: dict[str, Any] = {"run_id": None, "fiche_id": "F1", "call_id": "C1", "recording_index": 1}
    with pytest.raises(ValueError, match="total_to_transcribe"):
        validate_event("transcription.recording_started", "fiche:F1", payload)
    with pytest.raises(ValueError, match="not published on"):
        validate_event("transcription.recording_started", "audit:1", {**payload, "total_to_transcribe": 2})


async def test_batch_progress_counts_every_item_then_completes_once() -> None:
    published: list[tuple[str, str, dict[str, Any]]] = []

    async def emit(topic: str, event: str, payload: Any) -> None:
        published.append((topic, event, dict(payload)))

    ticks = iter([0.0, 1.5])
    batch = BatchProgress(emit, "run-1", "audit", 2, clock=lambda: next(ticks))
    await batch.settled(ok=True)
    await batch.settled(ok=False)
    assert [(t, e) for t, e, _ in published] == [
        ("job:run-1", "batch.progress"),
        ("job:run-1", "batch.progress"),
        ("job:run-1", "batch.completed"),
    ]
    last = published[-1][2]
    assert (last["completed"], last["failed"], last["progress_percentage"], last["duration_ms"]) == (1, 1, 100, 1500)
    for topic, event, payload in published:
        validate_event(event, topic, payload)


@pytest.mark.parametrize(
    ("failed", "kind", "message"),
    [
        (0, "success", "Audit par lot terminé"),
        (1, "warning", "Audit par lot terminé avec des échecs"),
        (2, "error", "Audit par lot en échec"),
    ],
)
async def test_a_requested_batch_ends_with_a_notification_for_its_requester(
    failed: int, kind: str, message: str
) -> None:
    published: list[tuple[str, str, dict[str, Any]]] = []

    async def emit(topic: str, event: str, payload: Any) -> None:
        published.append((topic, event, dict(payload)))

    batch = BatchProgress(emit, "run-1", "audit", 0, growing=True, requester=7)
    for i in range(2):
        batch.expect(1)
        await batch.settled(ok=i >= failed)
    assert [e for _, e, _ in published] == ["batch.progress", "batch.progress"], "a growing batch ends on close"
    await batch.close()
    (topic, event, notice) = published[-1]
    validate_event(event, topic, notice)
    assert (topic, event, notice["type"], notice["batch_id"]) == ("user:7", "notification", kind, "run-1")
    assert notice["message"] == message
    assert notice["description"] == f"{2 - failed} fiche(s) auditée(s) sur 2, {failed} en échec."


def test_last_event_id_has_one_cursor_per_topic() -> None:
    assert parse_last_event_id(None, 2) == [None, None]
    assert parse_last_event_id("17-0", 1) == ["17-0"]
    assert parse_last_event_id("17-0, 0-0", 2) == ["17-0", "0-0"]
    for bad, topics in (("17-0", 2), ("17-0,18-0", 1), ("yesterday", 1), ("17-0;18-0", 2)):
        with pytest.raises(BadCursor):
            parse_last_event_id(bad, topics)


def test_a_failed_fetch_job_notifies_its_requester_with_the_failed_days() -> None:
    payload = {
        "run_id": "r1",
        "jobId": "j1",
        "status": "failed",
        "startDate": "2026-03-02",
        "endDate": "2026-03-04",
        "totalDays": 3,
        "totalFiches": 40,
        "datesFailed": ["2026-03-03"],
    }
    notice = outcome_notification(payload)
    validate_event("notification", "user:7", notice)
    assert (notice["type"], notice["jobId"], notice["run_id"]) == ("error", "j1", "r1")
    assert notice["message"] == "Récupération des fiches en échec"
    assert notice["description"] == "1 jour(s) sur 3 en échec, du 2026-03-02 au 2026-03-04."
