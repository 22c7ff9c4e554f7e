"""Wire shapes of human review, reruns, trails and disputes (reference §4.9, §7.11-7.14).

Trail entries follow the original's `human_review[]` / `rerun_history[]` items (`at`, `by`,
`reason`, `previous`, `override` / `next`), with the actor being the authenticated principal.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, Field, StringConstraints

from api.schemas import IsoDay
from api.security import IdIn, IdStr, Str64, Str128, Str255, Str2000

ConformityIn = Literal["CONFORME", "PARTIEL", "NON_CONFORME"]
LevelIn = Literal["EXCELLENT", "BON", "ACCEPTABLE", "INSUFFISANT", "REJET"]
StatusIn = Literal["PRESENT", "ABSENT", "PARTIEL", "NON_APPLICABLE"]
Reason = Annotated[Str2000, StringConstraints(min_length=1)]
Instructions = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]

_REVIEWER = "A display name typed by the caller, kept as a note; the reviewer is the authenticated caller"


class StepReviewIn(BaseModel):
    conforme: ConformityIn = Field(description="The step's conformity as the reviewer judges it")
    traite: bool | None = Field(None, description="Whether the step was dealt with in the call")
    score: int | None = Field(None, ge=0, le=1000, description="Points of the step, 0 to the step's weight")
    niveau_conformite: LevelIn | None = Field(
        None,
        validation_alias=AliasChoices("niveau_conformite", "niveauConformite"),
        description="The step's level",
    )
    reviewer: Str255 | None = Field(None, description=_REVIEWER)
    reason: Reason = Field(description="Why the verdict is overridden (required)")


class PointReviewIn(BaseModel):
    statut: StatusIn | None = Field(None, description="The control point's status as the reviewer judges it")
    commentaire: Annotated[str, StringConstraints(max_length=20000)] | None = Field(
        None, description="The reviewer's comment replacing the point's"
    )
    reviewer: Str255 | None = Field(None, description=_REVIEWER)
    reason: Reason = Field(description="Why the verdict is overridden (required)")


class RerunIn(BaseModel):
    custom_instructions: Instructions | None = Field(
        None,
        validation_alias=AliasChoices("custom_instructions", "customInstructions", "customPrompt", "custom_prompt"),
        description="Instructions put first in the step's prompt (`customPrompt` and `customInstructions` accepted)",
    )


class RerunQueued(BaseModel):
    message: str = Field(description="What was queued")
    rerun_id: str = Field(description="The rerun's id, on its `audit.step_*` events and in `rerun_history`")
    run_id: str = Field(description="The Dagster run doing it (UI, and `run_id` on its events)")
    audit_id: IdStr = Field(description="The audit")
    step_position: int = Field(description="The step, 1-based")
    control_point_index: int | None = Field(None, description="The control point, 1-based; null for a step rerun")
    status: str = Field("queued", description="`queued`")


class HumanReviewOut(BaseModel):
    at: dt.datetime = Field(description="When the override was made")
    by: str = Field(description="Who made it: the authenticated principal (`user:<id>`, `api-token <id>`)")
    by_user_id: IdStr | None = Field(description="The user who made it (the token's owner for an API token)")
    reviewer: str | None = Field(description="The display name the reviewer typed, if any (a note, not an identity)")
    reason: str = Field(description="Why the verdict was overridden")
    kind: str = Field(description="`step` or `control_point`")
    control_point_index: int | None = Field(description="The control point, 1-based; null for a step override")
    revision: int = Field(description="The step revision the override was made on, 1-based")
    in_force: bool = Field(description="Whether it still applies (a later rerun of what it overrode replaces it)")
    previous: dict[str, Any] = Field(description="The values before the override (as the reviewer saw them)")
    override: dict[str, Any] = Field(description="The values set")
    dispute_id: IdStr | None = Field(description="The dispute this override accepted, if any")


class RerunEntryOut(BaseModel):
    at: dt.datetime = Field(description="When the rerun was asked for (or ended, for one without a request row)")
    kind: str = Field(description="`step_rerun` or `control_point_rerun`")
    rerun_id: str = Field(description="The rerun's id")
    run_id: str | None = Field(description="The Dagster run that made it")
    by: str | None = Field(description="Who asked for it (authenticated principal)")
    control_point_index: int | None = Field(description="The control point rerun, 1-based; null for a step rerun")
    custom_prompt: str | None = Field(description="The instructions given")
    status: str = Field(description="`queued` (not ended yet), `completed` or `failed`")
    error: str | None = Field(description="Why it made no revision")
    revision: int | None = Field(description="The revision it made, 1-based")
    previous: dict[str, Any] = Field(description="Score, conformity and citations count before")
    next: dict[str, Any] = Field(description="Score, conformity and citations count after")
    comparison: dict[str, Any] = Field(
        description="Score and conformity changes, each point's status before and after, citations added and removed"
    )


class AiVerdictOut(BaseModel):
    traite: bool = Field(description="The AI's `traite` on the current revision")
    conforme: str = Field(description="The AI's conformity on the current revision")
    score: int = Field(description="The AI's score on the current revision")
    niveau_conformite: str = Field(description="The AI's level on the current revision")


class RevisionOut(BaseModel):
    revision: int = Field(description="Revision number, 1-based (1: the first audit)")
    current: bool = Field(description="Whether it is the step's current revision")
    rerun_scope: str = Field(description="What made it: `audit`, `step` (rerun) or `control_point` (rerun)")
    rerun_point_index: int | None = Field(description="The control point a control-point rerun re-analysed, 1-based")
    rerun_id: str | None = Field(description="The rerun that made it")
    run_id: str | None = Field(description="The Dagster run that made it (the audit's for revision 1)")
    created_at: dt.datetime = Field(description="When it was stored")
    superseded_at: dt.datetime | None = Field(description="When a later revision replaced it")
    verdict: dict[str, Any] = Field(description="The AI's verdict of that revision: step fields, points and citations")


class ChangeOut(BaseModel):
    at: dt.datetime = Field(description="When the change was made")
    by: str = Field(description="Who made it (authenticated principal)")
    kind: str = Field(description="`metadata`, `soft_delete` or `restore`")
    previous: dict[str, Any] = Field(description="Values before")
    new: dict[str, Any] = Field(description="Values after")


class TrailOut(BaseModel):
    human_reviews: list[HumanReviewOut] = Field(description="Every override of the audit, oldest first")
    reruns: list[RerunEntryOut] = Field(description="Every rerun of the audit, oldest first")
    changes: list[ChangeOut] = Field(description="Metadata edits, soft deletes and restores, oldest first")


class DisputeIn(BaseModel):
    comment: Annotated[Str2000, StringConstraints(min_length=1)] = Field(description="Why the verdict is challenged")


class DisputeResolveIn(BaseModel):
    decision: Literal["accepted", "rejected"] = Field(description="`accepted` overrides the point, `rejected` keeps it")
    comment: Reason = Field(description="The reviewer's answer (the override's reason when accepted)")
    statut: StatusIn | None = Field(None, description="The point's status when accepted (required then)")
    commentaire: Annotated[str, StringConstraints(max_length=20000)] | None = Field(
        None, description="The point's new comment when accepted"
    )


class DisputeOut(BaseModel):
    id: IdStr = Field(description="The dispute")
    audit_id: IdStr = Field(description="The audit")
    fiche_id: str = Field(description="The audit's fiche")
    step_position: int = Field(description="The step, 1-based")
    control_point_index: int = Field(description="The control point, 1-based")
    comment: str = Field(description="Why the verdict is challenged")
    statut_at_opening: str = Field(description="The point's status when the dispute was opened")
    opened_by: str = Field(description="Who opened it (authenticated principal)")
    status: str = Field(description="`open`, `accepted` or `rejected`")
    resolved_by: str | None = Field(description="Who resolved it")
    resolution: str | None = Field(description="The reviewer's answer")
    resolved_at: dt.datetime | None = Field(description="When it was resolved")
    created_at: dt.datetime = Field(description="When it was opened")


class AgreementOut(BaseModel):
    n: int = Field(description="Control points compared (AI status vs status after human review)")
    agreement: float | None = Field(description="Share of points where the AI and the human agree (0-1)")
    kappa: float | None = Field(description="Cohen's kappa; null when undefined (a single status on both sides)")
    kappa_ci95: list[float] | None = Field(description="95 % confidence interval of kappa `[low, high]`")
    confusion: dict[str, dict[str, int]] = Field(description="Counts by AI status, then by human status")


class PointCalibrationOut(AgreementOut):
    scorecard_id: IdStr = Field(description="The scorecard")
    step_position: int = Field(description="The step, 1-based")
    control_point_index: int = Field(description="The control point, 1-based")
    point: str = Field(description="The control point's text")
    overrides: int = Field(description="Human overrides of this point")
    disputes: int = Field(description="Disputes of this point")


class ScorecardCalibrationOut(AgreementOut):
    scorecard_id: IdStr = Field(description="The scorecard")
    name: str = Field(description="The scorecard's name")


class WeekCalibrationOut(AgreementOut):
    week: dt.date = Field(description="Monday of the ISO week (audits completed that week)")


class RankedPointOut(BaseModel):
    scorecard_id: IdStr = Field(description="The scorecard")
    step_position: int = Field(description="The step, 1-based")
    control_point_index: int = Field(description="The control point, 1-based")
    point: str = Field(description="The control point's text (empty when no reviewed audit holds it)")
    count: int = Field(description="How many overrides (or disputes)")


class CalibrationOut(BaseModel):
    audits: int = Field(description="Reviewed audits compared")
    overall: AgreementOut = Field(description="Every compared point")
    scorecards: list[ScorecardCalibrationOut] = Field(description="Per scorecard")
    points: list[PointCalibrationOut] = Field(description="Per control point")
    most_overridden: list[RankedPointOut] = Field(description="Control points most overridden, most first")
    most_disputed: list[RankedPointOut] = Field(description="Control points most disputed, most first")
    weekly: list[WeekCalibrationOut] = Field(description="Per week of completion, oldest first")


class CalibrationQuery(BaseModel):
    scorecard_id: IdIn | None = Field(None, description="Only audits of this scorecard")
    scorecard_version: int | None = Field(None, ge=1, le=100_000, description="Only audits of this version number")
    date_from: IsoDay | None = Field(None, description="Audits completed on or after this day (in SALES_TIMEZONE)")
    date_to: IsoDay | None = Field(None, description="Audits completed on or before this day (in SALES_TIMEZONE)")
    groupes: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        None, description="Comma-separated CRM group names of the fiches (exact)"
    )
    auditor: Str64 | None = Field(None, description="Only audits by this auditor (`heuristic`, `openai`)")
    model: Str128 | None = Field(None, description="Only audits by this model")
    top: int = Field(10, ge=1, le=100, description="Length of the most overridden / disputed lists")
