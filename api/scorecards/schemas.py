"""Wire shapes of `/api/audit-configs`, in camelCase like the original's audit-config API (§4.8, §7.1).

Request bodies only check types here; the content rules (required fields, at least one control
point, weight 1-10, unique positions...) are `domain.scorecards.validation`'s, the same for create,
step edits and imports, and their 400s name the field (`body.steps[2].weight`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints
from pydantic.alias_generators import to_camel

from api.security import IdIn, IdStr
from domain.audits.scorecard import Severity, SpeakerRule

# Long enough for any real prompt, short enough to bound a request; NUL and blank checks are the domain's.
Text = Annotated[str, StringConstraints(max_length=50_000)]
Name = Annotated[str, StringConstraints(max_length=255)]
Point = Annotated[str, StringConstraints(max_length=5_000)]


class Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)


class CamelIn(Camel):
    model_config = ConfigDict(extra="forbid")


class StepIn(CamelIn):
    """A step as sent. Everything is optional at this level: a step edit sends only what changes, and
    a new step's required fields (name, prompt, controlPoints, severityLevel) are checked with their path."""

    position: StrictInt | None = Field(
        None, ge=0, le=10_000, description="1-based; absent appends (add) or keeps (edit)"
    )
    name: Name | None = None
    description: Text | None = None
    prompt: Text | None = None
    control_points: list[Point] | None = Field(None, max_length=200, description="At least one non-blank")
    keywords: list[Point] | None = Field(None, max_length=200)
    severity_level: Severity | None = None
    is_critical: bool | None = None
    chronological_important: bool | None = None
    weight: StrictInt | None = Field(None, ge=1, le=10, description="Maximum points of the step, 1-10")
    verify_product_info: bool | None = None
    control_point_speakers: list[SpeakerRule] | None = Field(
        None,
        max_length=200,
        description="Whose words prove each control point (agent, client, any), aligned with controlPoints; "
        "absent: inferred for new points, kept for unchanged ones",
    )

    def as_json(self) -> dict[str, Any]:
        """The fields sent, under their exchange-format names."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)


class ScorecardCreate(CamelIn):
    name: Name | None = None
    description: Text | None = None
    system_prompt: Text | None = None
    is_active: bool = True
    run_automatically: bool = False
    steps: list[StepIn] = Field(default_factory=list, max_length=200, description="At least one; created atomically")


class ScorecardUpdate(CamelIn):
    """Flags are updated in place; name, description and systemPrompt make a new version."""

    name: Name | None = None
    description: Text | None = None
    system_prompt: Text | None = None
    is_active: bool | None = None
    run_automatically: bool | None = None
    change_note: Text | None = Field(None, description="Stored on the version this edit creates")


class ReorderIn(CamelIn):
    step_ids: list[IdIn] = Field(max_length=200, description="Every step id of the current version, once, in order")


class StepOut(Camel):
    id: IdStr
    position: int
    name: str
    description: str | None
    prompt: str
    control_points: list[str]
    keywords: list[str]
    severity_level: Severity
    is_critical: bool
    chronological_important: bool
    weight: int
    verify_product_info: bool
    control_point_speakers: list[SpeakerRule] = Field(description="Whose words prove each control point")


class UsageOut(Camel):
    total_audits: int
    completed_audits: int
    failed_audits: int
    average_score: float | None = Field(description="Mean score percentage of completed audits")
    average_duration_ms: int | None
    last_used_at: dt.datetime | None
    compliance_rate: float | None = Field(description="Percentage of completed audits that are compliant")


class VersionUsageOut(UsageOut):
    version_id: IdStr
    version: int


class ScorecardStats(UsageOut):
    """Computed in SQL from the audits (soft-deleted ones excluded)."""

    id: IdStr
    name: str
    by_version: list[VersionUsageOut]


class ScorecardOut(Camel):
    id: IdStr
    name: str
    description: str | None
    system_prompt: str
    is_active: bool
    run_automatically: bool
    version: int = Field(description="Number of the current version (what new audits use)")
    version_id: IdStr
    source_version: str | None = Field(
        None, description="The `version` label of the document the current version was imported from"
    )
    steps_count: int
    total_weight: int
    created_by_id: IdStr | None
    created_at: dt.datetime
    updated_at: dt.datetime
    steps: list[StepOut] | None = Field(None, description="The current version's steps, when asked for")
    stats: UsageOut | None = Field(None, description="When `include_stats=true`")


class VersionOut(Camel):
    id: IdStr
    version: int
    source_version: str | None = Field(
        None, description="The `version` label of the document this version was imported from"
    )
    name: str
    description: str | None
    is_current: bool
    steps_count: int
    change_note: str | None
    created_by_id: IdStr | None
    created_at: dt.datetime


class VersionDetailOut(VersionOut):
    """A frozen version as audits that used it saw it."""

    system_prompt: str
    steps: list[StepOut]
    extra: dict[str, Any] = Field(description="Informational blocks kept from an imported document")


class FieldErrorOut(Camel):
    field: str
    message: str


class ValidationOut(Camel):
    valid: bool
    errors: list[FieldErrorOut]


class ImportOut(Camel):
    scorecard: ScorecardOut
    version_created: bool = Field(
        description="False (status 200) when the document already was the current version: nothing written"
    )
    ignored_fields: list[str] = Field(
        description="Keys inside steps that audits do not use; kept in the version's export"
    )


class DeletedOut(Camel):
    id: IdStr
    deleted: bool = True


#: The original's exchange format, as `GET /{id}/export` gives it and `POST /import` takes it.
EXAMPLE_DOCUMENT: dict[str, Any] = {
    "name": "Audit Complet - Complémentaire Santé",
    "description": "Contrôle qualité des ventes de complémentaire santé par téléphone.",
    "systemPrompt": "Vous êtes un expert en contrôle qualité pour les ventes de complémentaire santé.",
    "version": "2025-10-05",
    "totalSteps": 1,
    "isActive": True,
    "auditSteps": [
        {
            "position": 1,
            "name": "Présentation et annonce de l'enregistrement",
            "description": "Identité du conseiller, du cabinet et annonce de l'enregistrement.",
            "prompt": "Vérifier que le conseiller se présente et annonce que l'appel est enregistré.",
            "controlPoints": ["Annonce de l'enregistrement de l'appel", "Nom du cabinet de courtage"],
            "keywords": ["enregistré", "enregistrement", "cabinet"],
            "severityLevel": "CRITICAL",
            "isCritical": True,
            "chronologicalImportant": False,
            "weight": 5,
            "verifyProductInfo": False,
        }
    ],
    "complianceThresholds": {"EXCELLENT": 90, "BON": 75, "ACCEPTABLE": 60},
}
