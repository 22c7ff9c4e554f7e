"""Scorecard documents and rows for tests (the exchange format of `domain.scorecards.io`)."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from domain.models import Audit, Fiche, Scorecard, ScorecardVersion
from domain.scorecards import service
from domain.scorecards.io import read_document

#: An informational block the code does not interpret, as in the original's 18-point file.
THRESHOLDS = {"excellent": 90, "good": 75, "acceptable": 60, "notes": ["rejet si point critique KO"]}


def step_json(number: int, **overrides: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "position": number,
        "name": f"Étape {number}",
        "description": f"Description {number}",
        "prompt": f"Vérifie le point {number}.",
        "controlPoints": [f"Point {number}.1", f"Point {number}.2"],
        "keywords": [f"mot{number}"],
        "severityLevel": "HIGH",
        "isCritical": number == 1,
        "chronologicalImportant": False,
        "weight": number + 1,
        "verifyProductInfo": False,
        "controlPointSpeakers": ["agent", "agent"],
    }
    if "controlPoints" in overrides:  # other points: their rules are inferred unless given
        del step["controlPointSpeakers"]
    step.update(overrides)
    return step


def sample_document(steps: int = 3, **overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": f"Grille {uuid.uuid4().hex[:8]}",
        "description": "Une grille de test",
        "systemPrompt": "Tu es un auditeur.",
        "version": "2025-10-05",
        "auditSteps": [step_json(n) for n in range(1, steps + 1)],
        "complianceThresholds": THRESHOLDS,
    }
    document.update(overrides)
    return document


def add_scorecard(session: Session, steps: int = 3, **overrides: Any) -> Scorecard:
    return service.create(session, read_document(sample_document(steps, **overrides)))


def add_audit(
    session: Session,
    version: ScorecardVersion,
    *,
    status: str = "completed",
    score: str | None = None,
    compliant: bool | None = None,
    duration_ms: int | None = None,
    deleted: bool = False,
    created_at: dt.datetime | None = None,
    group: str | None = None,
) -> int:
    """An audit row of its own fiche (of CRM group `group`) that ran with `version`, as the engine writes it."""
    fiche_id = f"F-{uuid.uuid4().hex[:12]}"
    session.execute(insert(Fiche).values(fiche_id=fiche_id, crm_group_id=group))
    audit = Audit(
        fiche_id=fiche_id,
        scorecard_id=version.scorecard_id,
        scorecard_version_id=version.id,
        version=1,
        status=status,
        auditor="heuristic",
        prompt_version="test",
        score_percentage=Decimal(score) if score is not None else None,
        is_compliant=compliant,
        duration_ms=duration_ms,
        deleted_at=dt.datetime.now(dt.UTC) if deleted else None,
    )
    if created_at is not None:
        audit.created_at = created_at
    session.add(audit)
    session.flush()
    return audit.id
