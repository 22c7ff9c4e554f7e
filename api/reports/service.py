"""Reading what a report shows, scoped like the audit, and the share links that open one report."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ColumnElement, and_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from api.auth.crypto import generate_token, is_well_formed, sha256_hex
from api.auth.principal import Grant
from api.errors import NotFound
from domain.audits.reviews import step_states
from domain.models import (
    Audit,
    AuditStatus,
    Fiche,
    FicheInformation,
    Recording,
    ReportShareLink,
    ScorecardVersion,
    Transcript,
    TranscriptStatus,
)
from domain.models.reviews import AuditRerun, AuditRerunResult, AuditReview
from domain.reports.view import AuditSource, CallSource
from domain.scoping import fiche_scope_clause

SHARE_TOKEN_PREFIX = "ca_shr_"  # noqa: S105 - a token prefix, not a secret; redacted in every log line
NOT_FOUND = "Audit not found"


def _scope(grant: Grant | None) -> ColumnElement[bool]:
    # None: a share link already pinned the audit; nothing else narrows it.
    return true() if grant is None else fiche_scope_clause(grant)


async def load_source(session: AsyncSession, audit_id: int, grant: Grant | None) -> AuditSource:
    """Everything the report shows, in nine queries whatever its size; 404 when missing, deleted or
    out of scope."""
    row = (
        await session.execute(
            select(Audit, Fiche, FicheInformation.attribution_user_nom, ScorecardVersion.name, ScorecardVersion.version)
            .join(Fiche, Fiche.fiche_id == Audit.fiche_id)
            .join(ScorecardVersion, ScorecardVersion.id == Audit.scorecard_version_id)
            .outerjoin(FicheInformation, FicheInformation.fiche_id == Audit.fiche_id)
            .where(Audit.id == audit_id, Audit.deleted_at.is_(None), _scope(grant))
        )
    ).first()
    if row is None:
        raise NotFound(NOT_FOUND)
    audit, fiche, agent_name, scorecard_name, scorecard_version = row
    calls = await _calls(session, fiche.fiche_id)
    states = await session.run_sync(lambda s: step_states(s, audit_id))
    # The states hold the current steps with their points and citations (plain rows, `StepRow`):
    # set as the audit's `steps` for the page, which only reads them, rather than read twice.
    set_committed_value(audit, "steps", [state.row for state in states.values()])
    reruns = await _rerun_history(session, audit_id)
    prospect = " ".join(p for p in (fiche.prospect_prenom, fiche.prospect_nom) if p)
    return AuditSource(
        audit=audit,
        fiche_id=fiche.fiche_id,
        prospect=prospect,
        agent=agent_name or fiche.attribution_user_id or "",
        group=fiche.groupe or "",
        scorecard_name=scorecard_name,
        scorecard_version=scorecard_version,
        calls=calls,
        latest={position: state.view for position, state in states.items()},
        human_review=[
            _review_entry(review, in_force) for state in states.values() for review, in_force in state.reviews
        ],
        rerun_history=reruns,
    )


def _target(position: int, index: int | None) -> str:
    return f"Étape {position}" + (f", point {index}" if index is not None else "")


def _when(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%d/%m/%Y %H:%M UTC")


def _review_entry(review: AuditReview, in_force: bool) -> dict[str, str]:
    """One human override as the report lists it: what changed, by whom, when, why."""
    changes = ", ".join(f"{name} : {review.previous.get(name)} → {value}" for name, value in review.override.items())
    label = f"{_target(review.step_position, review.control_point_index)} — {changes}"
    return {
        "label": label if in_force else f"{label} (remplacée par une réanalyse)",
        "by": review.actor,
        "at": _when(review.created_at),
        "reason": review.reason,
    }


async def _rerun_history(session: AsyncSession, audit_id: int) -> list[dict[str, str]]:
    """The audit's reruns, oldest first, with their outcome once their run has stored one."""
    rows = (
        await session.execute(
            select(AuditRerun, AuditRerunResult)
            .outerjoin(AuditRerunResult, AuditRerunResult.rerun_id == AuditRerun.rerun_id)
            .where(AuditRerun.audit_id == audit_id)
            .order_by(AuditRerun.created_at, AuditRerun.id)
        )
    ).all()
    return [
        {
            "label": f"Réanalyse — {_target(rerun.step_position, rerun.control_point_index)} par {rerun.actor}",
            "at": _when(rerun.created_at),
            "result": "en attente"
            if result is None
            else (f"révision {result.new_revision}" if result.new_revision else f"échec : {result.error or ''}"),
        }
        for rerun, result in rows
    ]


async def _calls(session: AsyncSession, fiche_id: str) -> list[CallSource]:
    rows = (
        await session.execute(
            select(Recording, Transcript)
            .outerjoin(
                Transcript,
                and_(Transcript.recording_id == Recording.id, Transcript.status == TranscriptStatus.COMPLETED),
            )
            .where(Recording.fiche_id == fiche_id)
            .options(selectinload(Transcript.chunks))
            .order_by(Recording.start_time.nulls_last(), Recording.call_id)
        )
    ).all()
    return [
        CallSource(
            call_id=recording.call_id,
            has_url=bool(recording.recording_url),
            recorded=" ".join(
                p
                for p in (
                    recording.recording_date.strftime("%d/%m/%Y") if recording.recording_date else "",
                    recording.recording_time or "",
                )
                if p
            ),
            turns=sorted(transcript.chunks, key=lambda c: c.turn_index) if transcript else [],
        )
        for recording, transcript in rows
    ]


async def recording_url(session: AsyncSession, fiche_id: str, call_id: str, grant: Grant | None) -> str:
    """The stored CRM URL of a fiche's recording, scoped like the fiche; never sent to the browser."""
    statement = (
        select(Recording.recording_url)
        .join(Fiche, Fiche.fiche_id == Recording.fiche_id)
        .where(Recording.fiche_id == fiche_id, Recording.call_id == call_id, _scope(grant))
    )
    url = (await session.execute(statement)).scalar_one_or_none()
    if url is None:
        raise NotFound("Recording not found")
    return url


async def can_listen(session: AsyncSession, fiche_id: str, grant: Grant | None) -> bool:
    if grant is None:
        return False
    statement = select(Fiche.id).where(Fiche.fiche_id == fiche_id, fiche_scope_clause(grant))
    return (await session.execute(statement.limit(1))).first() is not None


# --- share links ----------------------------------------------------------------------------------


def new_share_link(audit_id: int, created_by_id: int | None, ttl: dt.timedelta) -> tuple[ReportShareLink, str]:
    """A link row to add and its token, returned once: only the token's hash is stored."""
    token = generate_token(SHARE_TOKEN_PREFIX)
    link = ReportShareLink(
        audit_id=audit_id,
        token_hash=sha256_hex(token),
        created_by_id=created_by_id,
        expires_at=dt.datetime.now(dt.UTC) + ttl,
    )
    return link, token


def shared_report_path(token: str) -> str:
    return f"/reports/shared/{token}"


async def create_share_link(
    session: AsyncSession, audit_id: int, created_by_id: int | None, ttl: dt.timedelta
) -> tuple[ReportShareLink, str]:
    link, token = new_share_link(audit_id, created_by_id, ttl)
    session.add(link)
    await session.flush()
    return link, token


async def shared_audit_id(session: AsyncSession, token: str) -> int:
    """The audit a live link opens; 404 for a malformed, unknown, expired or revoked token alike."""
    if not is_well_formed(token, SHARE_TOKEN_PREFIX):
        raise NotFound(NOT_FOUND)
    audit_id = await session.scalar(
        select(ReportShareLink.audit_id).where(
            ReportShareLink.token_hash == sha256_hex(token),
            ReportShareLink.revoked_at.is_(None),
            ReportShareLink.expires_at > dt.datetime.now(dt.UTC),
        )
    )
    if audit_id is None:
        raise NotFound(NOT_FOUND)
    return audit_id


async def audit_fiche_id(session: AsyncSession, audit_id: int) -> str:
    fiche_id = await session.scalar(select(Audit.fiche_id).where(Audit.id == audit_id, Audit.deleted_at.is_(None)))
    if fiche_id is None:
        raise NotFound(NOT_FOUND)
    return fiche_id


async def share_links(session: AsyncSession, audit_id: int) -> list[ReportShareLink]:
    rows = await session.scalars(
        select(ReportShareLink).where(ReportShareLink.audit_id == audit_id).order_by(ReportShareLink.id)
    )
    return list(rows)


async def revoke_share_link(session: AsyncSession, audit_id: int, link_id: int) -> ReportShareLink:
    link = await session.scalar(
        select(ReportShareLink).where(ReportShareLink.id == link_id, ReportShareLink.audit_id == audit_id)
    )
    if link is None:
        raise NotFound("Share link not found")
    if link.revoked_at is None:
        link.revoked_at = dt.datetime.now(dt.UTC)
        await session.flush()
    return link


async def day_audits(
    session: AsyncSession, grant: Grant, day: dt.date, scorecard_id: int | None
) -> list[tuple[Audit, Fiche, str]]:
    """The latest completed audit of each fiche sold that day (and scorecard), in scope, by fiche id."""
    statement = (
        select(Audit, Fiche, ScorecardVersion.name)
        .join(Fiche, Fiche.fiche_id == Audit.fiche_id)
        .join(ScorecardVersion, ScorecardVersion.id == Audit.scorecard_version_id)
        .where(
            Fiche.sales_date == day,
            Audit.is_latest,
            Audit.deleted_at.is_(None),
            Audit.status == AuditStatus.COMPLETED,
            fiche_scope_clause(grant),
        )
        .order_by(Fiche.fiche_id, ScorecardVersion.name, Audit.id)
    )
    if scorecard_id is not None:
        statement = statement.where(Audit.scorecard_id == scorecard_id)
    return [(a, f, name) for a, f, name in (await session.execute(statement)).all()]


async def load_scoped_audit_id(session: AsyncSession, audit_id: int, grant: Grant) -> int:
    found = await session.scalar(
        select(Audit.id)
        .join(Fiche, Fiche.fiche_id == Audit.fiche_id)
        .where(Audit.id == audit_id, Audit.deleted_at.is_(None), fiche_scope_clause(grant))
    )
    if found is None:
        raise NotFound(NOT_FOUND)
    return found
