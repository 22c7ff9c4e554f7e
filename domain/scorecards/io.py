"""The original's scorecard exchange format (reference §7.1), read and written as plain dicts.

```
{name, description, systemPrompt, version, totalSteps, isActive,
 auditSteps: [{position, name, description, prompt, controlPoints, keywords, severityLevel,
               isCritical, chronologicalImportant, weight, verifyProductInfo, controlPointSpeakers}],
 ...informational blocks}
```

Top-level blocks we do not interpret (`automaticRejectionCriteria`, `complianceThresholds`,
`metadata`, ...) are kept verbatim in `extra` and written back on export, so a document survives an
import/export round trip. `version`, `totalSteps` and `isActive` are known but not content: version
numbers are ours, the step count is derived, and the active flag belongs to the scorecard. Unknown
keys inside a step have nowhere to live (steps have no free-form column): they are reported as
ignored rather than refused. Positions are renumbered 1..N in input order (0-based inputs included).

`controlPointSpeakers` (ours, optional: `agent` / `client` / `any` per control point, aligned with
`controlPoints`) says whose words count; absent, as in the original's documents, it is inferred
from the points' wording (`domain.scorecards.speakers`) and written on export from then on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from domain.audits.scorecard import Severity, SpeakerRule, StepSpec
from domain.scorecards.speakers import point_speakers
from domain.scorecards.validation import InvalidScorecard, validate_document

STEPS_KEY = "auditSteps"
NOT_CONTENT = frozenset({"version", "totalSteps", "isActive"})
KNOWN_KEYS = frozenset({"name", "description", "systemPrompt", STEPS_KEY}) | NOT_CONTENT
STEP_KEYS = frozenset({
    "position", "name", "description", "prompt", "controlPoints", "keywords", "severityLevel", "isCritical",
    "chronologicalImportant", "weight", "verifyProductInfo", "controlPointSpeakers",
})  # fmt: skip


@dataclass(frozen=True)
class ScorecardDraft:
    """Validated content for a new scorecard or version; `steps` are numbered 1..N."""

    name: str
    description: str
    system_prompt: str
    steps: tuple[StepSpec, ...]
    extra: Mapping[str, Any] = field(default_factory=dict)
    is_active: bool | None = None
    ignored: tuple[str, ...] = ()  # paths of step keys dropped on import


def _clean(values: list[str] | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in values or () if v.strip())


def step_from_json(
    raw: Mapping[str, Any], position: int, *, known: Mapping[str, SpeakerRule] | None = None
) -> StepSpec:
    """A step of the JSON form, already validated (`validate_step`), at `position`. Without
    `controlPointSpeakers`, a point keeps its rule in `known` (by text) or gets one inferred."""
    prompt = raw["prompt"].strip()
    kept = [(i, p.strip()) for i, p in enumerate(raw.get("controlPoints") or ()) if p.strip()]
    speakers = raw.get("controlPointSpeakers")
    given = [speakers[i].strip().lower() for i, _ in kept] if speakers is not None else None
    points = tuple(p for _, p in kept)
    return StepSpec(
        position=position,
        name=raw["name"].strip(),
        description=(raw.get("description") or "").strip(),
        prompt=prompt,
        control_points=points,
        keywords=_clean(raw.get("keywords")),
        severity=Severity(raw["severityLevel"].strip().upper()),
        is_critical=raw.get("isCritical", False),
        chronological=raw.get("chronologicalImportant", False),
        weight=raw.get("weight", 5),
        verify_product_info=raw.get("verifyProductInfo", False),
        point_speakers=point_speakers(points, prompt, given, known),
    )


def step_to_json(step: StepSpec) -> dict[str, Any]:
    return {
        "position": step.position,
        "name": step.name,
        "description": step.description,
        "prompt": step.prompt,
        "controlPoints": list(step.control_points),
        "keywords": list(step.keywords),
        "severityLevel": step.severity.value,
        "isCritical": step.is_critical,
        "chronologicalImportant": step.chronological,
        "weight": step.weight,
        "verifyProductInfo": step.verify_product_info,
        "controlPointSpeakers": [step.speaker_rule(i).value for i in range(len(step.control_points))],
    }


def step_order(raw_steps: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indices of a document's steps in position order: its step 1..N (positions all given, or all absent)."""
    positions = [raw.get("position") for raw in raw_steps]
    return sorted(range(len(raw_steps)), key=lambda i: (positions[i] if positions[i] is not None else i, i))


def read_document(doc: object, *, steps_key: str = STEPS_KEY) -> ScorecardDraft:
    """Validate and normalise a document; raises `InvalidScorecard` naming every bad field."""
    issues = validate_document(doc, steps_key=steps_key)
    if issues:
        raise InvalidScorecard(issues)
    assert isinstance(doc, Mapping)  # validate_document refuses anything else
    raw_steps: list[Mapping[str, Any]] = doc[steps_key]
    order = step_order(raw_steps)
    ignored = tuple(f"{steps_key}[{i}].{key}" for i, raw in enumerate(raw_steps) for key in raw if key not in STEP_KEYS)
    is_active = doc.get("isActive")
    return ScorecardDraft(
        name=doc["name"].strip(),
        description=(doc.get("description") or "").strip(),
        system_prompt=(doc.get("systemPrompt") or "").strip(),
        steps=tuple(step_from_json(raw_steps[i], n) for n, i in enumerate(order, start=1)),
        extra={k: v for k, v in doc.items() if k not in KNOWN_KEYS and k != steps_key},
        is_active=is_active if isinstance(is_active, bool) else None,
        ignored=ignored,
    )


class Content(Protocol):
    """What a document is written from: a stored version's `ScorecardSpec` or a `ScorecardDraft`."""

    @property
    def name(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def system_prompt(self) -> str: ...
    @property
    def steps(self) -> tuple[StepSpec, ...]: ...


def export_document(
    content: Content, extra: Mapping[str, Any], *, version: int | None = None, is_active: bool | None = None
) -> dict[str, Any]:
    """Content in the exchange format; `extra` blocks follow the known keys, as imported."""
    document: dict[str, Any] = {"name": content.name, "description": content.description}
    document["systemPrompt"] = content.system_prompt
    if version is not None:
        document["version"] = version
    document["totalSteps"] = len(content.steps)
    if is_active is not None:
        document["isActive"] = is_active
    document[STEPS_KEY] = [step_to_json(step) for step in content.steps]
    document.update({k: v for k, v in extra.items() if k not in KNOWN_KEYS})
    return document
