"""What an auditor answers for one scorecard step (reference §7.3), as validated models.

The French field names are the wire contract with the LLM (prompts, structured output) and with
API clients of the original; keep them. `step_json_schema()` is the strict JSON schema sent as the
structured-output format: every property required, no additional properties, nullable written as
a union with null, which is what strict mode accepts.
"""

from __future__ import annotations

import copy
import enum
import functools
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Conformity(enum.StrEnum):
    CONFORME = "CONFORME"
    NON_CONFORME = "NON_CONFORME"
    PARTIEL = "PARTIEL"


class Level(enum.StrEnum):
    """Compliance level of a step or an audit; `PENDING` only for an audit not finished."""

    EXCELLENT = "EXCELLENT"
    BON = "BON"
    ACCEPTABLE = "ACCEPTABLE"
    INSUFFISANT = "INSUFFISANT"
    REJET = "REJET"


class PointStatus(enum.StrEnum):
    PRESENT = "PRESENT"
    ABSENT = "ABSENT"
    PARTIEL = "PARTIEL"
    NON_APPLICABLE = "NON_APPLICABLE"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Citation(_Strict):
    """A verbatim quote as the auditor gives it: where it says it is. Gating checks every field that matters."""

    texte: str
    minutage: str = Field(description="MM:SS from the start of the recording")
    minutage_secondes: float
    speaker: str
    recording_index: int = Field(ge=0, description="0-based index of the recording in the timeline")
    chunk_index: int = Field(ge=0, description="0-based index of the chunk in its recording")
    recording_date: str
    recording_time: str
    recording_url: str


class ControlPointResult(_Strict):
    point: str
    statut: PointStatus
    commentaire: str
    citations: list[Citation]
    minutages: list[str]
    erreur_transcription_notee: bool
    variation_phonetique_utilisee: str | None


class StepOutput(_Strict):
    """One step's analysis. `score` may exceed the step weight; aggregation caps it (§7.7)."""

    traite: bool
    conforme: Conformity
    minutages: list[str]
    score: int = Field(ge=0)
    points_controle: list[ControlPointResult]
    mots_cles_trouves: list[str]
    commentaire_global: str
    niveau_conformite: Level
    erreurs_transcription_tolerees: int = Field(ge=0)


def _strict(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Inline `$ref`s and make every object strict: all properties required, no extras, no defaults."""
    if "$ref" in schema:
        return _strict(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in {"title", "default"}:
            continue
        if key == "properties":
            out[key] = {name: _strict(prop, defs) for name, prop in value.items()}
        elif key in {"items", "additionalProperties"} and isinstance(value, dict):
            out[key] = _strict(value, defs)
        elif key in {"anyOf", "allOf", "oneOf"}:
            out[key] = [_strict(item, defs) for item in value]
        elif key in {"minimum", "maximum", "exclusiveMinimum"}:
            continue  # strict mode rejects numeric bounds; pydantic validation enforces them
        else:
            out[key] = value
    if out.get("type") == "object":
        out["required"] = list(out.get("properties", {}))
        out["additionalProperties"] = False
    return out


def step_json_schema() -> dict[str, Any]:
    """The strict JSON schema of `StepOutput` for structured output (no `$defs`, every field required).
    Built once: pydantic takes milliseconds of CPU to generate it, and every model call sends it (a
    day's 3,600 calls spent about a tenth of the audit run's CPU on it, decision 94); each caller gets
    its own copy."""
    return copy.deepcopy(_step_json_schema())


@functools.cache
def _step_json_schema() -> dict[str, Any]:
    raw = StepOutput.model_json_schema()
    return _strict({k: v for k, v in raw.items() if k != "$defs"}, raw.get("$defs", {}))


def fallback_step(control_points: tuple[str, ...], error: str) -> StepOutput:
    """The schema-valid result of a step whose analysis failed (reference §7.3): nothing is claimed."""
    comment = f"Step failed: {error}"[:2000]
    return StepOutput(
        traite=False,
        conforme=Conformity.NON_CONFORME,
        minutages=[],
        score=0,
        points_controle=[
            ControlPointResult(
                point=point,
                statut=PointStatus.ABSENT,
                commentaire=comment,
                citations=[],
                minutages=[],
                erreur_transcription_notee=False,
                variation_phonetique_utilisee=None,
            )
            for point in control_points
        ],
        mots_cles_trouves=[],
        commentaire_global=comment,
        niveau_conformite=Level.INSUFFISANT,
        erreurs_transcription_tolerees=0,
    )
