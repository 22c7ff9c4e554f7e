"""Test rows for audit reads: scorecards with versions, fiches with list columns, finished audits.

Written straight through the ORM (no scorecard service, no audit engine), so API tests control every
value they filter, sort and group on. `add_audit` keeps `is_latest` as the engine does: a new
latest audit takes the flag from the pair's previous holder.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.models import (
    Audit,
    AuditCitation,
    AuditControlPoint,
    AuditStep,
    Fiche,
    Scorecard,
    ScorecardStep,
    ScorecardVersion,
)

WHEN = dt.datetime(2025, 3, 3, 10, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class ScorecardRef:
    id: int
    version_id: int
    version: int
    name: str


def _version_steps() -> list[ScorecardStep]:
    return [
        ScorecardStep(
            position=1,
            name="Présentation",
            prompt="Le conseiller se présente.",
            control_points=["Nom du conseiller", "Nom de la société"],
            is_critical=True,
            weight=5,
        ),
        ScorecardStep(
            position=2, name="Devoir de conseil", prompt="Besoins recueillis.", control_points=["Besoins"], weight=3
        ),
    ]


async def add_scorecard(session: AsyncSession, name: str = "Vente santé", *, versions: int = 1) -> ScorecardRef:
    """A scorecard with `versions` versions of two steps; the last one is current."""
    card = Scorecard(name=name)
    session.add(card)
    await session.flush()
    rows = [
        ScorecardVersion(scorecard_id=card.id, version=n, name=name, steps=_version_steps())
        for n in range(1, versions + 1)
    ]
    session.add_all(rows)
    await session.flush()
    card.current_version_id = rows[-1].id
    await session.flush()
    return ScorecardRef(card.id, rows[-1].id, versions, name)


async def add_fiche(
    session: AsyncSession, fiche_id: str, group: str = "G-OWN", owner: str | None = None, **columns: Any
) -> str:
    """A fiche of CRM group `group` attributed to `owner`, with any list columns (groupe, prospect...)."""
    values = {"groupe": f"groupe {group}", **columns}
    await session.execute(
        insert(Fiche).values(fiche_id=fiche_id, crm_group_id=group, attribution_user_id=owner, **values)
    )
    return fiche_id


def _citation(index: int, chunk: int, text: str) -> AuditCitation:
    return AuditCitation(
        index=index,
        texte=text,
        chunk_id=f"call-1:{chunk}",
        call_id="call-1",
        recording_index=0,
        chunk_index=chunk,
        speaker="speaker_0",
        role="agent",
        start_seconds=12.5,
        end_seconds=15.0,
        minutage="00:12",
        recording_date="2025-03-03",
        recording_time="10:15",
        recording_url="https://crm.test/rec/call-1.mp3",
        match="tolerant",
        similarity=0.93,
    )


def _steps() -> list[AuditStep]:
    """Présentation (critical, 5/5: one point present and cited, one absent), Devoir de conseil (2/3)."""
    common: dict[str, Any] = {"severity": "HIGH", "traite": True, "niveau_conformite": "BON"}
    return [
        AuditStep(
            position=1,
            name="Présentation",
            is_critical=True,
            weight=5,
            conforme="CONFORME",
            score=5,
            total_citations=1,
            mots_cles_trouves=["bonjour"],
            minutages=["00:12"],
            control_points=[
                AuditControlPoint(
                    index=1,
                    point="Nom du conseiller",
                    statut="PRESENT",
                    commentaire="Se présente",
                    minutages=["00:12"],
                    citations=[_citation(1, 0, "je suis Paul de Mutuelle Plus")],
                ),
                AuditControlPoint(index=2, point="Nom de la société", statut="ABSENT", downgraded=True),
            ],
            **common,
        ),
        AuditStep(
            position=2,
            name="Devoir de conseil",
            is_critical=False,
            weight=3,
            conforme="PARTIEL",
            score=2,
            total_citations=1,
            control_points=[
                AuditControlPoint(
                    index=1,
                    point="Besoins",
                    statut="PARTIEL",
                    citations=[_citation(1, 3, "vous avez besoin de quoi")],
                )
            ],
            **common,
        ),
    ]


async def add_audit(
    session: AsyncSession,
    fiche_id: str,
    scorecard: ScorecardRef,
    *,
    score: float | None = 87.5,
    niveau: str = "BON",
    compliant: bool | None = True,
    status: str = "completed",
    latest: bool = True,
    created_at: dt.datetime = WHEN,
    **columns: Any,
) -> int:
    """A finished audit (two steps, three control points, two citations) as the next version of the pair."""
    pair = (Audit.fiche_id == fiche_id, Audit.scorecard_id == scorecard.id)
    version = (await session.scalar(select(func.max(Audit.version)).where(*pair)) or 0) + 1
    if latest:
        await session.execute(update(Audit).where(*pair, Audit.is_latest).values(is_latest=False))
    finished = status in ("completed", "failed")
    values: dict[str, Any] = {
        "fiche_id": fiche_id,
        "scorecard_id": scorecard.id,
        "scorecard_version_id": scorecard.version_id,
        "version": version,
        "is_latest": latest,
        "status": status,
        "auditor": "heuristic",
        "prompt_version": "test-1",
        "transcript_version": "t-1",
        "score_percentage": None if score is None else Decimal(str(score)),
        "niveau": niveau,
        "is_compliant": compliant,
        "points_earned": 7,
        "points_total": 8,
        "critical_passed": 1,
        "critical_total": 1,
        "steps_total": 2,
        "successful_steps": 2,
        "started_at": created_at,
        "completed_at": created_at + dt.timedelta(seconds=3) if finished else None,
        "duration_ms": 3000 if finished else None,
        "input_tokens": 1200,
        "cached_input_tokens": 800,
        "output_tokens": 300,
        "cost_usd": 0.0042,
        "audited_seconds": 180.0,
        "gating": {"citations_rejected": 1},
        "created_at": created_at,
        "steps": _steps() if status == "completed" else [],
        **columns,
    }
    audit = Audit(**values)
    session.add(audit)
    await session.flush()
    return audit.id
