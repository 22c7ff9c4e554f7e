"""`GET /api/fiches/{id}/status` and `POST /api/fiches/status/batch` read the real tables, in one query."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import Integer, column, event, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.fiches.schemas import FicheStatusOut, StatusBatchResponse
from api.fiches.status import percentage
from domain.models import Fiche, FicheTranscription, Recording
from tests.fixtures.factories.aio import WHEN, add_audit, add_scorecard
from tests.fixtures.wire import same_json
from tests.fixtures.world import World


@contextmanager
def counted_queries(world: World) -> Iterator[list[str]]:
    """The SQL statements run on the test's connection (the app shares it) while the block runs."""
    connection = world.session.bind.sync_connection  # type: ignore[union-attr]
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(connection, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(connection, "before_cursor_execute", record)


async def test_status_counts_transcripts_and_audits_from_the_tables(client: httpx.AsyncClient, world: World) -> None:
    await world.add_transcript("own")
    world.session.add(Recording(fiche_id="F-OWN", call_id="call-not-transcribed"))
    await world.session.flush()
    recordings = await world.session.scalar(select(func.count(Recording.id)).where(Recording.fiche_id == "F-OWN"))
    assert recordings is not None
    assert recordings > 1
    card = await add_scorecard(world.session, "Vente santé")
    await add_audit(world.session, "F-OWN", card, score=60, niveau="ACCEPTABLE", compliant=False)
    newest = await add_audit(world.session, "F-OWN", card, score=90, created_at=WHEN + dt.timedelta(hours=1))
    await add_audit(world.session, "F-OWN", card, status="running", latest=False, score=None,
                    created_at=WHEN - dt.timedelta(hours=1))  # fmt: skip
    await add_audit(world.session, "F-OWN", card, score=10, deleted_at=WHEN, latest=False)
    await world.commit()

    response = await client.get("/api/fiches/F-OWN/status", headers=world.headers("viewer"))
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["has_data"] is True
    transcription = data["transcription"]
    assert transcription["total"] == recordings
    assert transcription["transcribed"] == 1
    assert transcription["pending"] == recordings - 1
    assert transcription["is_complete"] is False
    assert transcription["last_transcribed_at"] is not None
    audit = data["audit"]
    assert {k: audit[k] for k in ("total", "completed", "running", "pending", "compliant", "non_compliant")} == {
        "total": 3,
        "completed": 2,
        "running": 1,
        "pending": 0,
        "compliant": 1,
        "non_compliant": 1,
    }
    assert audit["average_score"] == 75.0  # the deleted audit's 10 does not count
    latest = audit["latest_audit"]
    assert latest["id"] == str(newest)
    assert latest["score_percentage"] == 90.0
    assert latest["scorecard"] == {"id": str(card.id), "name": "Vente santé"}

    other = await client.get("/api/fiches/F-OTHER/status", headers=world.headers("viewer"))
    assert other.status_code == 404


async def test_status_batch_is_one_query_and_scoped(client: httpx.AsyncClient, world: World) -> None:
    await world.add_transcript("own")
    await world.add_transcript("other")
    card = await add_scorecard(world.session, "Vente santé")
    await add_audit(world.session, "F-OTHER", card, score=50)
    await add_audit(world.session, "F-OWN", card, score=80)
    await world.commit()

    ids = ["F-OWN", "F-OTHER", "F-MISSING"]
    headers = world.headers("viewer")
    with counted_queries(world) as statements:
        response = await client.post("/api/fiches/status/batch", json={"fiche_ids": ids}, headers=headers)
    assert response.status_code == 200, response.text
    status_queries = [s for s in statements if "transcripts" in s or "audits" in s]
    assert len(status_queries) == 1, status_queries
    data = response.json()["data"]
    assert data["F-OWN"]["transcription"]["transcribed"] == 1
    assert data["F-OWN"]["audit"]["average_score"] == 80.0
    assert data["F-OTHER"]["has_data"] is False  # out of the viewer's scope: the empty status
    assert data["F-OTHER"]["audit"]["total"] == 0
    assert data["F-MISSING"]["transcription"]["total"] == 0

    admin = await client.post("/api/fiches/status/batch", json={"fiche_ids": ids}, headers=world.headers("admin"))
    assert admin.json()["data"]["F-OTHER"]["audit"]["average_score"] == 50.0

    # The statement is built once per scope, the subject's ids its parameters: each subject still sees
    # only its own, one after the other (SELF: the sales attributed to its CRM user).
    own = await client.post("/api/fiches/status/batch", json={"fiche_ids": ids}, headers=world.headers("self_user"))
    assert own.json()["data"]["F-OWN"]["audit"]["average_score"] == 80.0
    assert own.json()["data"]["F-OTHER"]["audit"]["total"] == 0
    other = await client.post("/api/fiches/status/batch", json={"fiche_ids": ids}, headers=world.headers("other"))
    assert other.json()["data"]["F-OTHER"]["audit"]["average_score"] == 50.0
    assert other.json()["data"]["F-OWN"]["audit"]["total"] == 0


async def test_status_json_written_by_postgres_is_the_models(client: httpx.AsyncClient, world: World) -> None:
    """Each status is `FicheStatusOut`'s JSON (Postgres writes it): read through the model and written
    again by pydantic, it is the same, ids as strings, instants in UTC with pydantic's fraction (the
    connection's time zone is Paris's), no field missing, added or moved."""
    await world.add_transcript("own")
    world.session.add(Recording(fiche_id="F-OWN", call_id="call-not-transcribed"))
    world.session.add(FicheTranscription(fiche_id="F-OWN", status="running", run_id="run-7"))
    card = await add_scorecard(world.session, "Vente santé")
    await add_audit(world.session, "F-OWN", card, score=60, niveau="ACCEPTABLE", compliant=False,
                    completed_at=dt.datetime(2025, 3, 3, 9, 30, 15, 120000, tzinfo=dt.UTC))  # fmt: skip
    await add_audit(world.session, "F-OWN", card, score=100, created_at=WHEN + dt.timedelta(hours=1),
                    completed_at=dt.datetime(2025, 3, 3, 10, 0, 0, tzinfo=dt.UTC))  # fmt: skip
    # The other fiche: never fetched in full, a fetch error, its only audit running (no score, no end).
    await world.session.execute(
        update(Fiche).where(Fiche.fiche_id == "F-OTHER").values(fetch_error="CRM 502", expires_at=WHEN)
    )
    await add_audit(world.session, "F-OTHER", card, status="running", score=None, compliant=None)
    await world.commit()
    listed = await client.get("/api/audits", params={"latest_only": "false"}, headers=world.headers("admin"))
    assert "2025-03-03T09:30:15.120000Z" in listed.text  # as the routes serialised by pydantic write it
    await world.session.execute(text("SET TIME ZONE 'Europe/Paris'"))

    ids = ["F-OWN", "F-OTHER", "F-MISSING"]
    response = await client.post("/api/fiches/status/batch", json={"fiche_ids": ids}, headers=world.headers("admin"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    same_json(body, json.loads(StatusBatchResponse.model_validate_json(response.content).model_dump_json()))
    assert list(body["data"]) == ids

    own = body["data"]["F-OWN"]
    assert own["has_data"] is True
    assert own["transcription"]["percentage"] == 50.0
    assert own["transcription"]["status"] == "running"
    assert own["audit"]["average_score"] == 80.0
    latest = own["audit"]["latest_audit"]
    assert latest["completed_at"] == "2025-03-03T10:00:00Z"
    assert latest["score_percentage"] == 100.0
    assert isinstance(latest["id"], str)
    other = body["data"]["F-OTHER"]
    assert (other["has_data"], other["fetch_error"]) == (False, "CRM 502")
    assert other["audit"]["latest_audit"]["completed_at"] is None
    assert other["audit"]["average_score"] is None
    assert body["data"]["F-MISSING"] == FicheStatusOut(fiche_id="F-MISSING").model_dump(mode="json")

    single = await client.get("/api/fiches/F-OWN/status", headers=world.headers("admin"))
    assert single.json() == {"success": True, "data": own}


async def test_transcription_percentage_rounds_as_python(async_db_session: AsyncSession) -> None:
    """`percentage` is Python's `round(100.0 * part / whole, 1)` for every part of every whole up to 300
    (ties such as 1/16's 6.25 go to the even digit in both; a numeric `round` would give 6.3)."""
    pairs = text("SELECT p AS part, w AS whole FROM generate_series(0, 300) w, generate_series(0, w) p")
    numbers = pairs.columns(column("part", Integer), column("whole", Integer)).subquery()
    statement = select(numbers.c.part, numbers.c.whole, percentage(numbers.c.part, numbers.c.whole))
    rows = [tuple(row) for row in await async_db_session.execute(statement)]
    assert len(rows) == sum(w + 1 for w in range(301))
    wrong = [(p, w, v) for p, w, v in rows if v != (round(100.0 * p / w, 1) if w else 0.0)]
    assert not wrong, wrong[:5]
    assert (1, 16, 6.2) in rows
