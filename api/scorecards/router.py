"""`/api/audit-configs`: versioned scorecards (the original's audit configs), paths of reference §4.8.

Reads need `audit-configs.read`, changes `audit-configs.write`; scorecards are global (no data
scope). Every content change answers the scorecard with its new current version, whose steps have
new ids: a step id of an older version is refused with 409. `/steps/{step_id}` and `/import` are
declared before `/{scorecard_id}`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Response

from api.deps import SessionDep
from api.errors import ErrorBody, Forbidden
from api.schemas import Envelope, ok
from api.scorecards import service
from api.scorecards.schemas import (
    EXAMPLE_DOCUMENT,
    DeletedOut,
    ImportOut,
    ReorderIn,
    ScorecardCreate,
    ScorecardOut,
    ScorecardStats,
    ScorecardUpdate,
    StepIn,
    ValidationOut,
    VersionDetailOut,
    VersionOut,
)
from api.security import CanonicalPathInt, EntityId, Grant, require
from domain.rbac import Action
from domain.scorecards import service as scorecards

router = APIRouter(
    prefix="/audit-configs",
    tags=["audit-configs"],
    responses={409: {"model": ErrorBody, "description": "Stale step id, scorecard in use, last step"}},
)

Read = Annotated[Grant, Depends(require("audit-configs", "read"))]
Write = Annotated[Grant, Depends(require("audit-configs", "write"))]
StepId = Annotated[
    int, CanonicalPathInt, Path(ge=1, le=2**63 - 1, description="A step of the scorecard's current version")
]
VersionNumber = Annotated[int, CanonicalPathInt, Path(ge=1, le=2**31 - 1, description="Version number (1, 2, ...)")]
IncludeStats = Annotated[bool, Query(description="Add usage stats computed from the audits (needs `audits.read`)")]


def _user(grant: Grant) -> int | None:
    return grant.principal.user_id


def _audits_scope(grant: Grant) -> Grant:
    """Statistics are figures over audits: the caller's `audits.read` scope, like the audit lists."""
    audits = grant.principal.grant("audits", Action.READ)
    if audits is None:
        raise Forbidden("Missing permission audits.read (needed for statistics)")
    return audits


@router.get("", response_model=Envelope[list[ScorecardOut]], summary="List scorecards, newest first")
async def list_scorecards(
    grant: Read,
    session: SessionDep,
    include_inactive: Annotated[bool, Query(description="Include deactivated scorecards")] = False,
    include_steps: Annotated[bool, Query(description="Include the current version's steps")] = False,
    include_stats: IncludeStats = False,
) -> Envelope[list[ScorecardOut]]:
    """Active scorecards (all with `include_inactive`), each with its current version number; steps and usage
    statistics on request."""
    return ok(
        await session.run_sync(
            lambda s: service.list_out(
                s,
                include_inactive=include_inactive,
                include_steps=include_steps,
                stats_for=_audits_scope(grant) if include_stats else None,
            ),
        )
    )


@router.post("", response_model=Envelope[ScorecardOut], status_code=201, summary="Create a scorecard with its steps")
async def create_scorecard(body: ScorecardCreate, grant: Write, session: SessionDep) -> Envelope[ScorecardOut]:
    """Atomically: the scorecard, version 1 and every step (positions renumbered 1..N in order)."""
    return ok(await session.run_sync(lambda s: service.create(s, body, _user(grant))))


@router.post(
    "/import",
    response_model=Envelope[ImportOut],
    status_code=201,
    summary="Import a scorecard document (the export format)",
    responses={
        200: {"model": Envelope[ImportOut], "description": "The document already was the current version"},
        409: {
            "model": ErrorBody,
            "description": "Without `scorecard_id`: a scorecard of that name exists (its id in `scorecardId`)",
        },
    },
)
async def import_scorecard(
    document: Annotated[
        dict[str, Any],
        Body(
            description="`{name, systemPrompt, auditSteps: [...], ...}`, bare or in a `{success, data}` envelope",
            examples=[EXAMPLE_DOCUMENT],
        ),
    ],
    grant: Write,
    session: SessionDep,
    response: Response,
    *,
    scorecard_id: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="Import as the next version of this scorecard")
    ] = None,
    as_new: Annotated[
        bool, Query(description="Without `scorecard_id`: create a second scorecard even if the name is taken")
    ] = False,
) -> Envelope[ImportOut]:
    """201 with a new scorecard or version; 200 when the document is the current version verbatim (nothing
    written). The document is kept as sent: `GET /{id}/export` gives it back, its `version` label is the
    version's `sourceVersion`. Unknown top-level blocks and step keys are kept; positions may be 0- or
    1-based (audits use them renumbered 1..N)."""
    out = await session.run_sync(lambda s: service.import_document(s, document, scorecard_id, as_new, _user(grant)))
    if not out.version_created:
        response.status_code = 200
    return ok(out)


@router.put("/steps/{step_id}", response_model=Envelope[ScorecardOut], summary="Edit a step (a new version)")
async def update_step(step_id: StepId, body: StepIn, grant: Write, session: SessionDep) -> Envelope[ScorecardOut]:
    """Only the fields sent change; `position` (1..N) moves the step and shifts the others."""
    return ok(await session.run_sync(lambda s: service.update_step(s, step_id, body, _user(grant))))


@router.delete("/steps/{step_id}", response_model=Envelope[ScorecardOut], summary="Delete a step (a new version)")
async def delete_step(step_id: StepId, grant: Write, session: SessionDep) -> Envelope[ScorecardOut]:
    """Removes the step and writes the next version with the remaining steps renumbered 1..N. 409 for the last step
    or a step of an older version."""
    return ok(await session.run_sync(lambda s: service.delete_step(s, step_id, _user(grant))))


@router.get("/{scorecard_id}", response_model=Envelope[ScorecardOut], summary="A scorecard's current version")
async def get_scorecard(
    scorecard_id: EntityId, grant: Read, session: SessionDep, include_stats: IncludeStats = False
) -> Envelope[ScorecardOut]:
    """The scorecard with its current version's steps (positions 1..N); 404 when it does not exist. With
    `include_stats`, figures over the audits the caller may read (`audits.read` scope)."""
    stats_for = _audits_scope(grant) if include_stats else None
    return ok(await session.run_sync(lambda s: service.detail_out(s, scorecard_id, stats_for=stats_for)))


@router.put("/{scorecard_id}", response_model=Envelope[ScorecardOut], summary="Edit a scorecard")
async def update_scorecard(
    scorecard_id: EntityId, body: ScorecardUpdate, grant: Write, session: SessionDep
) -> Envelope[ScorecardOut]:
    """`isActive` / `runAutomatically` change in place; name, description and systemPrompt make a new version."""
    return ok(await session.run_sync(lambda s: service.update(s, scorecard_id, body, _user(grant))))


@router.delete("/{scorecard_id}", response_model=Envelope[DeletedOut], summary="Delete an unused scorecard")
async def delete_scorecard(scorecard_id: EntityId, _: Write, session: SessionDep) -> Envelope[DeletedOut]:
    """409 when audits used it (they keep pointing at their version): deactivate it instead."""
    await session.run_sync(lambda s: scorecards.delete_scorecard(s, scorecard_id))
    return ok(DeletedOut(id=scorecard_id))


@router.get("/{scorecard_id}/versions", response_model=Envelope[list[VersionOut]], summary="Versions, oldest first")
async def list_versions(scorecard_id: EntityId, _: Read, session: SessionDep) -> Envelope[list[VersionOut]]:
    """Every version, oldest first, with its step count, change note, source label (`sourceVersion`) and whether it
    is current."""
    return ok(await session.run_sync(lambda s: service.versions_out(s, scorecard_id)))


@router.get(
    "/{scorecard_id}/versions/{version}",
    response_model=Envelope[VersionDetailOut],
    summary="One frozen version with its steps",
)
async def get_version(
    scorecard_id: EntityId, version: VersionNumber, _: Read, session: SessionDep
) -> Envelope[VersionDetailOut]:
    """One version exactly as audits that used it saw it, steps and informational blocks included (`version` is the
    1-based version number)."""
    return ok(await session.run_sync(lambda s: service.version_detail_out(s, scorecard_id, version)))


@router.post(
    "/{scorecard_id}/steps",
    response_model=Envelope[ScorecardOut],
    status_code=201,
    summary="Add a step (a new version)",
)
async def add_step(scorecard_id: EntityId, body: StepIn, grant: Write, session: SessionDep) -> Envelope[ScorecardOut]:
    """At `position` (1..N+1, later steps shift down), or at the end."""
    return ok(await session.run_sync(lambda s: service.add_step(s, scorecard_id, body, _user(grant))))


@router.put(
    "/{scorecard_id}/steps/reorder", response_model=Envelope[ScorecardOut], summary="Reorder steps (a new version)"
)
async def reorder_steps(
    scorecard_id: EntityId, body: ReorderIn, grant: Write, session: SessionDep
) -> Envelope[ScorecardOut]:
    """`stepIds` lists every step of the current version once; positions become 1..N in that order."""
    return ok(await session.run_sync(lambda s: service.reorder(s, scorecard_id, body, _user(grant))))


@router.get("/{scorecard_id}/validate", response_model=Envelope[ValidationOut], summary="Can audits use it?")
async def validate_scorecard(scorecard_id: EntityId, _: Read, session: SessionDep) -> Envelope[ValidationOut]:
    """Whether audits can use the current version as it stands: `valid` and the issues, each naming its field."""
    return ok(await session.run_sync(lambda s: service.validation_out(s, scorecard_id)))


@router.get("/{scorecard_id}/stats", response_model=Envelope[ScorecardStats], summary="Usage from the audits")
async def scorecard_stats(scorecard_id: EntityId, grant: Read, session: SessionDep) -> Envelope[ScorecardStats]:
    """Audits run with the scorecard (soft-deleted ones excluded): counts, average score and duration, compliance
    rate, per version; over the audits the caller may read (`audits.read` scope), not the whole organisation."""
    audits = _audits_scope(grant)
    return ok(await session.run_sync(lambda s: service.stats_out(s, scorecard_id, audits)))


@router.get(
    "/{scorecard_id}/export",
    response_model=dict[str, Any],
    summary="Export as a document",
    responses={200: {"content": {"application/json": {"example": EXAMPLE_DOCUMENT}}}},
)
async def export_scorecard(
    scorecard_id: EntityId,
    _: Read,
    session: SessionDep,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="A version number; default current")] = None,
) -> dict[str, Any]:
    """The bare document in the original's exchange format (no `{success, data}` envelope), what
    `POST /import` takes back: an imported version exactly as it was imported."""
    return await session.run_sync(lambda s: scorecards.export(s, scorecard_id, version))
