"""Wire shapes of `/api/fiches`."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from api.schemas import Pagination
from api.security import IdStr

#: A CRM fiche id as the gateway accepts it (digits in practice).
FICHE_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


def _fiche_id_from_wire(value: object) -> object:
    """Ids are strings on the wire; a client sending the number (the CRM's ids are digits) is understood."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return value


FicheIdIn = Annotated[str, BeforeValidator(_fiche_id_from_wire), StringConstraints(pattern=FICHE_ID_PATTERN)]

#: `partial`: the day was searched but some of its fiches still lack their details (not fetched yet).
CoverageState = Literal["fetched", "partial", "failed", "not_fetched"]


class DetailsMeta(BaseModel):
    fiche_id: str
    stale: bool = Field(description="True when a refresh failed and the stored (older) details are served")
    source: Literal["cache", "crm"] = Field(description="`crm` when this request fetched the details")
    fetch_outcome: str | None = Field(None, description="What the live fetch did, when one ran")
    fetch_error: str | None = None
    fetched_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    recordings_included: bool = Field(description="False without `recordings.read`: `recordings` is omitted")


class FicheDetailsResponse(BaseModel):
    success: bool = True
    data: dict[str, Any] = Field(description="The gateway's details payload, reconstructed from the cache")
    meta: DetailsMeta


class FicheCacheOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read from a `Fiche` row

    fiche_id: str
    groupe: str | None
    prospect_nom: str | None
    prospect_prenom: str | None
    recordings_count: int
    fetched_at: dt.datetime | None
    expires_at: dt.datetime | None
    fetch_status: str
    fetch_error: str | None


class FicheTranscriptionProgress(BaseModel):
    """The fiche's recordings against their transcripts (§4.5 `transcription`)."""

    total: int = Field(0, description="Recordings of the fiche")
    transcribed: int = Field(0, description="Recordings with a completed transcript")
    pending: int = Field(0, description="Never attempted, or attempted and not finished")
    failed: int = Field(0, description="Whose latest attempt failed; the next run retries them")
    percentage: float = Field(0.0, description="Share of the recordings transcribed, in percent (0-100)")
    is_complete: bool = Field(False, description="The fiche has recordings and every one is transcribed")
    last_transcribed_at: dt.datetime | None = Field(None, description="When its newest transcript was stored")
    status: str | None = Field(None, description="Where the last transcription run left the fiche")
    run_id: str | None = Field(None, description="The Dagster run that last transcribed (or will transcribe) it")


class ScorecardName(BaseModel):
    id: IdStr
    name: str


class LatestAuditOut(BaseModel):
    id: IdStr
    status: str
    overall_score: int | None = Field(description="Points earned")
    score_percentage: float | None
    niveau: str
    is_compliant: bool | None
    completed_at: dt.datetime | None
    run_id: str | None
    scorecard: ScorecardName


class FicheAuditStatus(BaseModel):
    """The fiche's audits, deleted ones excepted (§4.5 `audit`); scores over completed audits."""

    total: int = Field(0, description="Audits of the fiche, every scorecard and version, deleted ones excepted")
    completed: int = Field(0, description="Audits completed")
    pending: int = Field(0, description="Audits queued, their run not started yet")
    running: int = Field(0, description="Audits under way")
    failed: int = Field(0, description="Audits that failed")
    compliant: int = Field(0, description="Completed audits whose level is not REJET")
    non_compliant: int = Field(0, description="Completed audits whose level is REJET")
    average_score: float | None = Field(None, description="Mean score percentage of the completed audits")
    latest_audit: LatestAuditOut | None = Field(None, description="The newest audit, whatever its status")


class FicheStatusOut(BaseModel):
    """Where a fiche stands, from the tables: details stored, recordings transcribed, audits made."""

    fiche_id: str
    has_data: bool = Field(False, description="Full details are stored")
    fetch_status: str | None = None
    fetch_error: str | None = None
    fetched_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None
    sales_date: dt.date | None = None
    recordings_count: int = 0
    transcription: FicheTranscriptionProgress = Field(default_factory=FicheTranscriptionProgress)
    audit: FicheAuditStatus = Field(default_factory=FicheAuditStatus)


class StatusBatchIn(BaseModel):
    fiche_ids: list[FicheIdIn] = Field(min_length=1, max_length=500)


class StatusBatchResponse(BaseModel):
    """Out-of-scope or unknown ids get the empty default status (`has_data: false`)."""

    success: bool = True
    data: dict[str, FicheStatusOut]


class FicheListItem(BaseModel):
    model_config = ConfigDict(from_attributes=True)  # read from a `Fiche` row

    fiche_id: str
    sales_date: dt.date | None
    groupe: str | None
    agence_nom: str | None
    prospect_nom: str | None
    prospect_prenom: str | None
    fetch_status: str
    recordings_count: int
    fetched_at: dt.datetime | None
    created_at: dt.datetime


class DayCoverageOut(BaseModel):
    date: dt.date
    status: CoverageState
    fetched_at: dt.datetime | None = None
    error: str | None = None


class ByDateMeta(BaseModel):
    date: dt.date
    coverage: DayCoverageOut


class ByDateResponse(BaseModel):
    success: bool = True
    data: list[FicheListItem]
    pagination: Pagination
    meta: ByDateMeta


class RangeMeta(BaseModel):
    start_date: dt.date
    end_date: dt.date = Field(description="The requested end, clamped to today (SALES_TIMEZONE)")
    total_days: int
    days_fetched: int
    days_missing: int
    dates_missing: list[dt.date]
    complete: bool
    job_id: str | None = Field(None, description="The background fetch of the missing days, if any")
    job_status: str | None = None
    job_reused: bool = Field(False, description="An identical request's job, still running, was reused")
    job_error: str | None = None
    webhook_subscription_id: str | None = Field(
        None, description="The subscription `webhookUrl` created for the job (see /api/webhooks)"
    )
    webhook_secret: str | None = Field(
        None, description="The signing secret generated for `webhookUrl` when none was given: shown this once"
    )


class ByDateRangeResponse(BaseModel):
    success: bool = True
    data: list[FicheListItem]
    pagination: Pagination
    meta: RangeMeta


class JobProgress(BaseModel):
    total_days: int
    days_done: int
    days_failed: int
    days_remaining: int
    dates_failed: list[dt.date]
    dates_remaining: list[dt.date]
    percentage: float


class FetchJobOut(BaseModel):
    id: str
    status: str = Field(description="launched | failed_to_launch | complete | failed")
    start_date: dt.date
    end_date: dt.date
    days: list[dt.date]
    refresh: bool
    requested_by_me: bool
    dagster_backfill_id: str | None
    dagster_status: str | None = Field(None, description="The backfill's status in Dagster, when reachable")
    error: str | None
    progress: JobProgress
    created_at: dt.datetime
    updated_at: dt.datetime


class SearchMeta(BaseModel):
    date: dt.date
    listed_by_crm: int | None = Field(None, description="Sales the CRM listed (all groups; ALL scope only)")
    coverage: DayCoverageOut


class SearchResponse(BaseModel):
    success: bool = True
    data: list[FicheListItem]
    pagination: Pagination
    meta: SearchMeta
