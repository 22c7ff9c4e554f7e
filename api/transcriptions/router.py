"""`/api/transcriptions`: queue transcriptions of fiches, read their coverage and transcripts.

Launching needs `transcriptions.write`, reading `transcriptions.read`; both are scoped by that
grant, and a fiche missing or outside the scope is a 404. A launch answers 202 with the id of the
ONE Dagster run doing the work (`transcribe_fiches_job`); progress is on the fiche's status route
and its `fiche:{id}` event stream. `/batch` is declared before `/{fiche_id}`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from api.deps import SessionDep
from api.fiches.schemas import FICHE_ID_PATTERN
from api.runs import LauncherDep
from api.schemas import Envelope, ok
from api.security import Grant, require, require_visible_fiches
from api.transcriptions import service
from api.transcriptions.schemas import (
    RecordingTranscriptOut,
    TranscriptionBatchIn,
    TranscriptionBatchLaunched,
    TranscriptionLaunched,
    TranscriptionStatusOut,
)
from runs.contract import Priority

router = APIRouter(prefix="/transcriptions", tags=["transcriptions"])

ReadTranscriptions = Annotated[Grant, Depends(require("transcriptions", "read"))]
WriteTranscriptions = Annotated[Grant, Depends(require("transcriptions", "write"))]
FicheIdPath = Annotated[str, Path(pattern=FICHE_ID_PATTERN, description="CRM fiche id")]
CallIdPath = Annotated[str, Path(pattern=FICHE_ID_PATTERN, description="CRM call id of the recording")]
PriorityQuery = Annotated[Priority, Query(description="Queue order of the run: `high` runs before `normal`, `low`")]


@router.post(
    "/batch",
    status_code=202,
    response_model=Envelope[TranscriptionBatchLaunched],
    summary="Queue ONE transcription run for many fiches",
)
async def transcribe_batch(
    body: TranscriptionBatchIn, request: Request, grant: WriteTranscriptions, session: SessionDep, launcher: LauncherDep
) -> Envelope[TranscriptionBatchLaunched]:
    """Every fiche must be in the caller's `transcriptions.write` scope, else 404 naming those that
    are not (missing and out of scope are not told apart) and nothing is launched."""
    fiche_ids = list(dict.fromkeys(body.fiche_ids))
    await require_visible_fiches(session, grant, fiche_ids)
    run_id = await service.launch(session, launcher, fiche_ids, body.priority, grant, request)
    return ok(
        TranscriptionBatchLaunched(
            message=f"Transcription of {len(fiche_ids)} fiche(s) queued",
            fiche_ids=fiche_ids,
            run_id=run_id,
            priority=body.priority,
        )
    )


@router.post(
    "/{fiche_id}",
    status_code=202,
    response_model=Envelope[TranscriptionLaunched],
    summary="Queue the transcription of a fiche's recordings",
)
async def transcribe_fiche(  # noqa: PLR0917 - FastAPI dependencies
    fiche_id: FicheIdPath,
    request: Request,
    grant: WriteTranscriptions,
    session: SessionDep,
    launcher: LauncherDep,
    priority: PriorityQuery = "normal",
) -> Envelope[TranscriptionLaunched]:
    """Recordings already transcribed (same audio) are not sent again by the run."""
    await require_visible_fiches(session, grant, [fiche_id])
    run_id = await service.launch(session, launcher, [fiche_id], priority, grant, request)
    return ok(
        TranscriptionLaunched(message="Transcription queued", fiche_id=fiche_id, run_id=run_id, priority=priority)
    )


@router.get(
    "/{fiche_id}/status",
    response_model=Envelope[TranscriptionStatusOut],
    summary="Transcription coverage of a fiche, per recording",
)
async def transcription_status(
    fiche_id: FicheIdPath, grant: ReadTranscriptions, session: SessionDep, launcher: LauncherDep
) -> Envelope[TranscriptionStatusOut]:
    """How many of the fiche's recordings are transcribed, failed or pending, the last run's status and priority,
    and one row per recording, from the tables; a queued or running status is checked against Dagster's status of
    its run. 404 when the fiche is missing or out of scope."""
    await require_visible_fiches(session, grant, [fiche_id])
    return ok(await service.coverage(session, fiche_id, launcher))


@router.get(
    "/{fiche_id}/recordings/{call_id}",
    response_model=Envelope[RecordingTranscriptOut],
    summary="One recording's transcript: text, words and speaker-turn chunks",
)
async def recording_transcript(
    fiche_id: FicheIdPath, call_id: CallIdPath, grant: ReadTranscriptions, session: SessionDep
) -> Envelope[RecordingTranscriptOut]:
    """404 when the fiche is missing or out of scope, or the recording has no transcript yet."""
    await require_visible_fiches(session, grant, [fiche_id])
    return ok(await service.recording_transcript(session, fiche_id, call_id))
