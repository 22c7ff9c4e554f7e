"""An audit whose citations point at a real transcribed recording of a world fiche (the simulator's
audio), for the report page, its players and share links."""

from __future__ import annotations

from sqlalchemy import select, update

from domain.models import AuditCitation, AuditControlPoint, AuditStep, Fiche
from tests.api.audit_factory import add_audit, add_scorecard
from tests.api.world import World


async def add_reported_audit(world: World, ownership: str) -> tuple[int, str]:
    """(audit id, call id): the fiche's details, a transcript of its first call, and the factory's
    audit with its citations re-pointed at that call's first turn (0.0 s to 1.0 s)."""
    call_id = await world.add_transcript(ownership)
    fiche_id = world.fiche_ids[ownership]
    await world.session.execute(
        update(Fiche).where(Fiche.fiche_id == fiche_id).values(prospect_prenom="Jeanne", prospect_nom="Martin")
    )
    audit_id = await add_audit(world.session, fiche_id, await add_scorecard(world.session))
    points = (
        select(AuditControlPoint.id)
        .join(AuditStep, AuditStep.id == AuditControlPoint.step_id)
        .where(AuditStep.audit_id == audit_id)
    )
    await world.session.execute(
        update(AuditCitation)
        .where(AuditCitation.control_point_id.in_(points))
        .values(call_id=call_id, chunk_id=f"{call_id}:0", chunk_index=0, start_seconds=0.0, end_seconds=1.0)
    )
    return audit_id, call_id
