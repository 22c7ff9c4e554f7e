"""`POST /api/audits/run`, `/run-latest`, `/batch`: queue ONE Dagster run of `audit_fiches_job`.

Audits always run in Dagster (pool `llm`), never in the API process. A launch needs `audits.run`
and every fiche in the caller's audits write scope (404 otherwise, nothing launched); it answers
202 with the run id, which is also on every `audit.*` event of the run. The job transcribes what
a fiche still misses (high priority) before auditing it, and forces a new audit version.

The launch is recorded at once: each fiche gets a `pending` audit carrying the run id before the
202 (listed by `/api/audits` like any other), which the run takes over when it reaches the fiche.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import AliasChoices, BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from api.deps import SessionDep
from api.errors import NotFound
from api.fiches.schemas import FicheIdIn
from api.runs import LauncherDep, origin
from api.schemas import Envelope, ok
from api.security import Grant, IdIn, IdStr, require, require_visible_fiches
from domain.models.scorecards import Scorecard, ScorecardVersion
from domain.scorecards.service import ScorecardNotFound, current_version, get_scorecard, latest_active
from runs.contract import AuditFiches, Priority
from runs.launch import launch_audits

router = APIRouter(prefix="/audits", tags=["audits"])

RunAudits = Annotated[Grant, Depends(require("audits", "run"))]


class _LaunchOptions(BaseModel):
    use_rlm: bool = Field(
        False,
        validation_alias=AliasChoices("use_rlm", "useRlm"),
        description="Transcript tools mode: the model searches and reads the transcript instead of getting it whole",
    )
    priority: Priority = Field("normal", description="Queue order of the run")


class AuditRunIn(_LaunchOptions):
    fiche_id: FicheIdIn
    scorecard_id: IdIn = Field(
        validation_alias=AliasChoices("scorecard_id", "audit_config_id"), description="Scorecard to audit with"
    )


class AuditRunLatestIn(_LaunchOptions):
    fiche_id: FicheIdIn


class AuditBatchIn(_LaunchOptions):
    fiche_ids: list[FicheIdIn] = Field(min_length=1, max_length=500, description="CRM fiche ids, all in scope")
    scorecard_id: IdIn | None = Field(
        None,
        validation_alias=AliasChoices("scorecard_id", "audit_config_id"),
        description="Scorecard to audit with; the latest active one when absent",
    )


class AuditLaunched(BaseModel):
    message: str
    run_id: str = Field(description="The Dagster run to follow (UI, and `run_id` on every `audit.*` event)")
    fiche_ids: list[str]
    scorecard_id: IdStr
    scorecard_name: str
    scorecard_version: int
    use_rlm: bool
    priority: Priority
    status: str = "queued"
    audit_ids: list[IdStr] = Field(
        default_factory=list, description="The pending audits of the run (none for a fiche already in flight)"
    )


def _launchable(session: Session, scorecard_id: int | None) -> tuple[Scorecard, ScorecardVersion]:
    """The asked scorecard (active), or the latest active one when `scorecard_id` is None; 404 else."""
    if scorecard_id is None:
        scorecard = latest_active(session)
        if scorecard is None:
            raise NotFound("No active scorecard")
    else:
        try:
            scorecard = get_scorecard(session, scorecard_id)
        except ScorecardNotFound:
            raise NotFound("Scorecard not found or inactive") from None
        if not scorecard.is_active:
            raise NotFound("Scorecard not found or inactive")
    return scorecard, current_version(session, scorecard)


async def _launch(
    session: AsyncSession,
    launcher: LauncherDep,
    grant: Grant,
    request: Request,
    *,
    fiche_ids: list[str],
    scorecard_id: int | None,
    options: _LaunchOptions,
    source: str,
) -> AuditLaunched:
    await require_visible_fiches(session, grant, fiche_ids)
    scorecard, version = await session.run_sync(lambda sync: _launchable(sync, scorecard_id))
    audit = AuditFiches(
        fiche_ids=fiche_ids,
        scorecard_id=scorecard.id,
        use_rlm=options.use_rlm,
        force=True,
        trigger_source=source,
        user_id=grant.principal.user_id,
    )
    queued = await launch_audits(session, launcher, audit, origin(grant, request, source=source), options.priority)
    return AuditLaunched(
        audit_ids=queued.audit_ids,
        message=f"Audit of {len(fiche_ids)} fiche(s) queued",
        run_id=queued.run_id,
        fiche_ids=fiche_ids,
        scorecard_id=scorecard.id,
        scorecard_name=scorecard.name,
        scorecard_version=version.version,
        use_rlm=options.use_rlm,
        priority=options.priority,
    )


@router.post("/run", status_code=202, response_model=Envelope[AuditLaunched], summary="Audit a fiche with a scorecard")
async def run_audit(
    body: AuditRunIn, request: Request, grant: RunAudits, session: SessionDep, launcher: LauncherDep
) -> Envelope[AuditLaunched]:
    """Queues ONE Dagster run of `audit_fiches_job` for the fiche (transcribing what is missing first) and answers
    202 with its `run_id`, the scorecard and its version. 404 when the fiche or scorecard is missing or out of
    scope; 503 when Dagster is unreachable."""
    return ok(
        await _launch(
            session,
            launcher,
            grant,
            request,
            fiche_ids=[body.fiche_id],
            scorecard_id=body.scorecard_id,
            options=body,
            source="api",
        )
    )


@router.post(
    "/run-latest",
    status_code=202,
    response_model=Envelope[AuditLaunched],
    summary="Audit a fiche with the latest active scorecard",
)
async def run_latest(
    body: AuditRunLatestIn, request: Request, grant: RunAudits, session: SessionDep, launcher: LauncherDep
) -> Envelope[AuditLaunched]:
    """Like `POST /api/audits/run` with the most recently created active scorecard. 404 when there is none."""
    return ok(
        await _launch(
            session, launcher, grant, request, fiche_ids=[body.fiche_id], scorecard_id=None, options=body, source="api"
        )
    )


@router.post("/batch", status_code=202, response_model=Envelope[AuditLaunched], summary="Audit many fiches in ONE run")
async def run_batch(
    body: AuditBatchIn, request: Request, grant: RunAudits, session: SessionDep, launcher: LauncherDep
) -> Envelope[AuditLaunched]:
    """Queues ONE Dagster run auditing up to 500 fiches with one scorecard (the latest active one by default). Every
    fiche must be in the caller's scope, else 404 naming them and nothing is launched."""
    fiche_ids = list(dict.fromkeys(body.fiche_ids))
    return ok(
        await _launch(
            session,
            launcher,
            grant,
            request,
            fiche_ids=fiche_ids,
            scorecard_id=body.scorecard_id,
            options=body,
            source="batch",
        )
    )
