"""`GET /api/fiches/{id}/status` and `POST /api/fiches/status/batch` read the real tables, in one query."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event, func, select

from api.fiches import status
from domain.models import Recording
from domain.rbac import Scope
from tests.fixtures.factories.aio import WHEN, add_audit, add_scorecard
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


def test_status_rows_are_unpacked_in_the_statements_column_order() -> None:
    """`status_of` reads a row by position: each column of the statement, given its own value, must come
    out where its name says (a column added, removed or moved in one place and not the other fails)."""
    names = list(status._statement(Scope.GROUP).selected_columns.keys())
    values: dict[str, Any] = {name: f"<{name}>" for name in names}
    values.update({name: n for n, name in enumerate(names, start=100) if name.startswith(("t_", "a_"))})
    values.update(t_total=10, t_transcribed=4, t_failed=1, a_average_score=12.5, l_score_percentage=75.0)
    out = status.status_of(tuple(values[name] for name in names))
    plain = ("fiche_id", "fetch_status", "fetch_error", "fetched_at", "expires_at", "sales_date", "recordings_count")
    assert {name: out[name] for name in plain} == {name: values[name] for name in plain}
    transcription = out["transcription"]
    counts = [transcription[field] for field in ("total", "transcribed", "failed", "pending")]
    assert counts == [10, 4, 1, 5]
    assert transcription["last_transcribed_at"] == values["last_transcribed_at"]
    assert (transcription["status"], transcription["run_id"]) == (
        values["transcription_status"], values["transcription_run_id"]
    )  # fmt: skip
    audit = out["audit"]
    for field in ("total", "completed", "pending", "running", "failed", "compliant", "non_compliant"):
        assert audit[field] == values[f"a_{field}"], field
    assert audit["average_score"] == 12.5
    latest = audit["latest_audit"]
    assert latest == {
        "id": values["l_id"],
        "status": values["l_status"],
        "overall_score": values["l_points_earned"],
        "score_percentage": 75.0,
        "niveau": values["l_niveau"],
        "is_compliant": values["l_is_compliant"],
        "completed_at": values["l_completed_at"],
        "run_id": values["l_run_id"],
        "scorecard": {"id": values["l_scorecard_id"], "name": values["l_scorecard_name"]},
    }
