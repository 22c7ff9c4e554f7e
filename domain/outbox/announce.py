"""The state changes the outbox announces, as one call each for the stages that make them.

Each function runs inside the stage's own transaction (a sync `Session` on the stage's thread), right
after the write it announces; payload fields follow reference §11.4 plus our `run_id`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from domain.models.audits import Audit, AuditStatus
from domain.outbox.queue import enqueue

OPEN_AUDIT = (AuditStatus.RUNNING, AuditStatus.PENDING)


def audit_completed(session: Session, fiche_id: str, audit_id: int, payload: Mapping[str, Any]) -> None:
    enqueue(session, "audit.completed", {"fiche_id": fiche_id, "audit_id": audit_id, **payload}, fiche_id=fiche_id)


def fail_audit_and_announce(
    session: Session, fiche_id: str, audit_id: int, fail: Callable[[], None], payload: Mapping[str, Any]
) -> None:
    """`fail()` (the store's write), announced only when it ended an open audit (not a no-op)."""
    was_open = session.scalar(select(Audit.status).where(Audit.id == audit_id)) in OPEN_AUDIT
    fail()
    if was_open:
        enqueue(session, "audit.failed", {"fiche_id": fiche_id, "audit_id": audit_id, **payload}, fiche_id=fiche_id)


def transcription_finished(session: Session, fiche_id: str, failed: bool, payload: Mapping[str, Any]) -> None:
    event = "transcription.failed" if failed else "transcription.completed"
    enqueue(session, event, {"fiche_id": fiche_id, **payload}, fiche_id=fiche_id)


def batch_completed(session: Session, batch_id: str, actor_user_id: int | None, payload: Mapping[str, Any]) -> None:
    """A batch launch (`POST /api/audits/batch`, one run) finished; `batch_id` is its run id."""
    enqueue(session, "batch.completed", {"batch_id": batch_id, **payload}, job_id=batch_id, actor_user_id=actor_user_id)
