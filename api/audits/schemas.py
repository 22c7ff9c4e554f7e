"""Wire shapes of `/api/audits` (reference §4.9): query models, audit summary and detail, groupings.

Field names are the original's where it had them (snake_case columns, the French verdict fields,
the camelCase `summary` and grouping aggregates of its dashboards).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field

from api.audits.filters import AuditFilters, Token
from api.fiches.schemas import FicheListItem
from api.reviews.schemas import AiVerdictOut, HumanReviewOut, RerunEntryOut
from api.security import IdStr, Str2000

MAX_LIMIT = 500
MAX_OFFSET = 1_000_000

SortBy = Literal["created_at", "completed_at", "score_percentage", "duration_ms"]
GroupBy = Literal["fiche", "groupe", "scorecard", "status", "niveau", "created_day", "score_bucket"]


class OffsetQuery(BaseModel):
    limit: int = Field(100, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class AuditListQuery(AuditFilters, OffsetQuery):
    sort_by: SortBy = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"


class AuditFicheGroupsQuery(AuditFilters, OffsetQuery):
    """Fiches ordered by their newest matching audit, newest first."""


class AuditGroupedQuery(AuditFilters, OffsetQuery):
    group_by: GroupBy
    bucket_size: int = Field(10, ge=1, le=100, description="Width of a score bucket, in percentage points")


class OffsetPagination(BaseModel):
    total: int
    limit: int
    offset: int
    current_page: int
    total_pages: int
    has_next_page: bool
    has_prev_page: bool

    @classmethod
    def of(cls, total: int, query: OffsetQuery) -> OffsetPagination:
        return cls(
            total=total,
            limit=query.limit,
            offset=query.offset,
            current_page=query.offset // query.limit + 1,
            total_pages=(total + query.limit - 1) // query.limit,
            has_next_page=query.offset + query.limit < total,
            has_prev_page=query.offset > 0,
        )


class ScorecardRef(BaseModel):
    id: IdStr
    name: str
    version: int = Field(description="The scorecard version the audit was run with")
    version_id: IdStr


class AuditSummary(BaseModel):
    id: IdStr
    fiche_id: str
    scorecard: ScorecardRef
    version: int = Field(description="Attempt number for this (fiche, scorecard)")
    is_latest: bool
    status: str
    niveau: str
    is_compliant: bool | None
    score_percentage: float | None
    points_earned: int | None
    points_total: int | None
    critical_passed: int | None
    critical_total: int | None
    error: str | None
    trigger_source: str
    trigger_user_id: IdStr | None
    run_id: str | None
    notes: str | None
    auditor: str
    model: str | None
    transcript_mode: str
    needs_review: bool = Field(
        description="The level hinges on control-point verdicts the auditor is unsure of (or could not assess); "
        "the level itself follows the scoring rules"
    )
    review_reasons: list[str] = Field(description="Why the audit needs a human look (French)")
    steps_total: int
    successful_steps: int
    failed_steps: int
    recordings_count: int
    total_tokens: int
    cost_usd: float
    started_at: dt.datetime | None
    completed_at: dt.datetime | None
    duration_ms: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    deleted_at: dt.datetime | None
    fiche: FicheListItem


class AuditListResponse(BaseModel):
    success: bool = True
    data: list[AuditSummary]
    pagination: OffsetPagination


class FicheAuditsSummary(BaseModel):
    """camelCase, as the original's dashboards read it."""

    totalAudits: int
    compliantCount: int
    averageScore: float | None
    latestAuditDate: dt.datetime | None


class FicheAudits(BaseModel):
    fiche: FicheListItem
    audits: list[AuditSummary]
    summary: FicheAuditsSummary


class FicheGroupsResponse(BaseModel):
    success: bool = True
    data: list[FicheAudits]
    pagination: OffsetPagination


class AuditGroup(BaseModel):
    """camelCase aggregates, as the original's dashboards read them."""

    key: str | None = Field(description="The group's value; `null` for audits without one (e.g. no score yet)")
    count: int
    compliantCount: int
    nonCompliantCount: int
    avgScore: float | None
    minScore: float | None
    maxScore: float | None


class GroupedMeta(BaseModel):
    group_by: GroupBy
    bucket_size: int


class GroupedResponse(BaseModel):
    success: bool = True
    data: list[AuditGroup]
    pagination: OffsetPagination
    meta: GroupedMeta


class StatusesOut(BaseModel):
    statuses: list[str]


class StepSummary(BaseModel):
    position: int
    name: str
    is_critical: bool
    weight: int
    traite: bool
    conforme: str
    score: int
    niveau_conformite: str
    total_citations: int
    failed: bool


class AuditWithSteps(AuditSummary):
    steps: list[StepSummary]


class ByFicheResponse(BaseModel):
    success: bool = True
    data: list[AuditWithSteps]
    count: int


class CitationOut(BaseModel):
    index: int = Field(description="Position of the citation within its control point, 1-based")
    texte: str
    chunk_id: str
    call_id: str
    recording_index: int
    chunk_index: int
    speaker: str
    role: str | None = Field(description="agent, client or unknown: who said it; null for audits made before roles")
    start_seconds: float
    end_seconds: float
    minutage: str
    recording_date: str | None
    recording_time: str | None
    recording_url: str | None
    match: str = Field(description="`exact`, or `tolerant` when found despite ASR noise")
    similarity: float


class ControlPointOut(BaseModel):
    index: int
    point: str
    statut: str
    commentaire: str
    minutages: list[str]
    erreur_transcription_notee: bool
    variation_phonetique_utilisee: str | None
    downgraded: bool = Field(description="Lowered by evidence gating (its citations did not hold)")
    confidence: float | None = Field(
        description="The auditor's certainty in [0, 1] (heuristic auditor; null for an LLM's verdict)"
    )
    decision_rule: str | None = Field(
        description="What decided the verdict: `evidence`, `answer_to_question`, `no_evidence`, `wrong_speaker_only`, "
        "`not_as_fact_only`, `condition_not_met`, `condition_met_point_absent`, `condition_unknown`, "
        "`said_for_another_point`, `not_assessable_offline`, or `gating:<reason>`"
    )
    citations: list[CitationOut]
    ai_statut: str | None = Field(None, description="The AI's status on the current revision (before overrides)")
    ai_commentaire: str | None = Field(None, description="The AI's comment on the current revision")
    human_review: list[HumanReviewOut] = Field(default_factory=list, description="Overrides of this point")
    rerun_history: list[RerunEntryOut] = Field(default_factory=list, description="Reruns of this point")


class StepOut(StepSummary):
    severity: str
    commentaire_global: str
    mots_cles_trouves: list[str]
    minutages: list[str]
    erreurs_transcription_tolerees: int
    error: str | None
    transcript_mode: str
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    cost_usd: float
    gating: dict[str, Any]
    control_points: list[ControlPointOut]
    revision: int = Field(1, description="The step's current revision, 1-based (each rerun adds one)")
    ai_verdict: AiVerdictOut | None = Field(None, description="The AI's verdict on the current revision")
    human_review: list[HumanReviewOut] = Field(default_factory=list, description="Overrides of the step")
    rerun_history: list[RerunEntryOut] = Field(default_factory=list, description="Reruns of the step")


class ComplianceOut(BaseModel):
    score: float | None
    niveau: str
    points_critiques: str | None = Field(description="`passed/total` critical steps")
    poids_obtenu: str | None = Field(description="`earned/total` weighted points")


class AuditDetail(AuditSummary):
    scorecard_version_id: IdStr
    failed_phase: str | None
    use_rlm: bool
    prompt_version: str
    transcript_version: str | None
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    timeline_chunks: int
    audited_seconds: float
    gating: dict[str, Any] = Field(description="What evidence gating removed or lowered, summed over the steps")
    compliance: ComplianceOut
    steps: list[StepOut]
    product: dict[str, Any] | None = Field(
        None,
        description="Product verification, for scorecards with `verifyProductInfo` steps: how the fiche's "
        "sold product matched the catalogue (`strategy` exact|fuzzy|none, `match` scores, `sold`) and per "
        "product step (`steps[]`: `position`, `facts_used`, `checks` of amounts and durations said against "
        "the plan, `legal_notices`, `not_verifiable_offline`); null otherwise",
    )

    @computed_field(description="Model cost per minute of audited call (0 when no audio was audited)")  # type: ignore[prop-decorator]
    @property
    def cost_usd_per_audited_minute(self) -> float:
        return round(self.cost_usd / (self.audited_seconds / 60), 6) if self.audited_seconds else 0.0


class ControlPointStatusOut(BaseModel):
    audit_id: IdStr
    step_position: int
    control_point_index: int
    point: str
    statut: str
    commentaire: str
    minutages: list[str]
    citations: list[CitationOut]


class AuditPatch(BaseModel):
    """Metadata only; the verdict is changed by reviews and reruns, never here."""

    notes: Str2000 | None = None
    deleted: bool | None = Field(None, description="`true` soft-deletes, `false` restores")
    trigger_source: Token | None = None
