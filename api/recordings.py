"""`/api/recordings`: a fiche's call recordings (needs `recordings.read`, scoped by that grant).

Slim rows (no transcript payloads), oldest first; a fiche that is missing, not cached or outside
the caller's recordings scope is a 404. The CRM's recording URL is never sent (it may be signed, and
the CRM may be unreachable from the browser): `audio_url` is the API's relay for it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from api.deps import SessionDep
from api.fiches.reads import visible_recordings
from api.fiches.schemas import FICHE_ID_PATTERN
from api.reports.audio import audio_path
from api.security import Grant, IdStr, require

router = APIRouter(prefix="/recordings", tags=["recordings"])

ReadRecordings = Annotated[Grant, Depends(require("recordings", "read"))]


class RecordingOut(BaseModel):
    id: IdStr
    fiche_id: str
    call_id: str
    audio_url: str | None = Field(description="the API's relay of the audio, byte ranges honoured; null without one")
    has_url: bool
    start_time: dt.datetime | None
    duration_seconds: int | None
    direction: str | None
    answered: bool | None
    from_number: str | None
    to_number: str | None
    recording_date: dt.date | None
    recording_time: str | None
    uuid: str | None


class RecordingList(BaseModel):
    success: bool = True
    data: list[RecordingOut]
    count: int


@router.get("/{fiche_id}", response_model=RecordingList, summary="A fiche's recordings, oldest first")
async def fiche_recordings(
    fiche_id: Annotated[str, Path(pattern=FICHE_ID_PATTERN, description="CRM fiche id")],
    grant: ReadRecordings,
    session: SessionDep,
) -> RecordingList:
    """Every recording of the fiche in call order (no transcript payloads): call id, date, time, duration,
    `audio_url` (the API's relay; the CRM's URL is never sent) and whether it is transcribed. Needs
    `recordings.read`; 404 when the fiche is missing, not cached or out of scope."""
    rows = await visible_recordings(session, grant, fiche_id)
    data = [
        RecordingOut(
            id=r.id,
            fiche_id=r.fiche_id,
            call_id=r.call_id,
            audio_url=audio_path(r.fiche_id, r.call_id) if r.recording_url else None,
            has_url=bool(r.recording_url),
            start_time=r.start_time,
            duration_seconds=r.duration_seconds,
            direction=r.direction,
            answered=r.answered,
            from_number=r.from_number,
            to_number=r.to_number,
            recording_date=r.recording_date,
            recording_time=r.recording_time,
            uuid=r.uuid,
        )
        for r in rows
    ]
    return RecordingList(data=data, count=len(data))
