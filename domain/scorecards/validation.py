"""The rules scorecard content follows, checked on its JSON form with one problem per field.

One rule set for every way content arrives: an imported document (`auditSteps`), the create body
(`steps`), one step added or edited, and a stored version re-checked by `/validate`. Each problem
names the path of the field as the client sent it (`auditSteps[3].weight`, array indexes 0-based as
in the JSON), so a form can show the message next to its input.

Positions may be 0- or 1-based, with gaps, or absent everywhere (array order): `io.read_document`
renumbers them 1..N. They must only be unique, so an ambiguous order is refused rather than guessed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from domain.audits.scorecard import Severity, SpeakerRule
from domain.errors import FieldIssue, InvalidError

NAME_MAX = 255  # `scorecards.name`, `scorecard_versions.name`, `scorecard_steps.name` are VARCHAR(255)
WEIGHT_MIN, WEIGHT_MAX = 1, 10
SEVERITIES = tuple(s.value for s in Severity)
SPEAKERS = tuple(s.value for s in SpeakerRule)
FLAGS = ("isCritical", "chronologicalImportant", "verifyProductInfo")


class InvalidScorecard(InvalidError, ValueError):
    """Content that breaks the rules; `issues` names every offending field."""

    def __init__(self, issues: Sequence[FieldIssue]) -> None:
        super().__init__("; ".join(f"{i.field}: {i.message}" for i in issues), issues=issues)


def _unstorable(value: Any) -> bool:
    """Postgres text and JSONB refuse U+0000 anywhere (keys included), JSONB refuses NaN and
    Infinity, which Python's JSON parser accepts in a request body."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, Mapping):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


def _text(
    doc: Mapping[str, Any], key: str, path: str, *, required: bool, max_length: int | None = None
) -> list[FieldIssue]:
    value = doc.get(key)
    if value is None:
        return [FieldIssue(path, "is required")] if required else []
    if not isinstance(value, str):
        return [FieldIssue(path, "must be a string")]
    if _unstorable(value):
        return [FieldIssue(path, "must not contain NUL characters")]
    if required and not value.strip():
        return [FieldIssue(path, "must not be blank")]
    if max_length is not None and len(value.strip()) > max_length:
        return [FieldIssue(path, f"must be at most {max_length} characters")]
    return []


def _strings(doc: Mapping[str, Any], key: str, path: str, *, at_least_one: bool) -> list[FieldIssue]:
    value = doc.get(key)
    if value is None and not at_least_one:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return [FieldIssue(path, "must be a list of strings")]
    if _unstorable(value):
        return [FieldIssue(path, "must not contain NUL characters")]
    if at_least_one and not any(v.strip() for v in value):
        return [FieldIssue(path, "at least one non-blank entry is required")]
    return []


def _speaker_issues(step: Mapping[str, Any], path: str) -> list[FieldIssue]:
    """Optional; when sent, one of SPEAKERS per control point, in the same order."""
    speakers, points = step.get("controlPointSpeakers"), step.get("controlPoints")
    if speakers is None:
        return []
    if not isinstance(speakers, list) or not all(
        isinstance(s, str) and s.strip().lower() in SPEAKERS for s in speakers
    ):
        return [FieldIssue(path, f"must be a list of {', '.join(SPEAKERS)}")]
    if not isinstance(points, list) or not any(isinstance(p, str) and p.strip() for p in points):
        return []  # the points themselves are reported
    if len(speakers) != len(points):
        return [FieldIssue(path, f"must have one entry per control point ({len(points)})")]
    return []


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _step_issues(step: Mapping[str, Any], prefix: str) -> list[FieldIssue]:
    issues = [
        *_text(step, "name", f"{prefix}name", required=True, max_length=NAME_MAX),
        *_text(step, "prompt", f"{prefix}prompt", required=True),
        *_text(step, "description", f"{prefix}description", required=False),
        *_strings(step, "controlPoints", f"{prefix}controlPoints", at_least_one=True),
        *_strings(step, "keywords", f"{prefix}keywords", at_least_one=False),
    ]
    issues += _speaker_issues(step, f"{prefix}controlPointSpeakers")
    severity = step.get("severityLevel")
    if not isinstance(severity, str) or severity.strip().upper() not in SEVERITIES:
        issues.append(FieldIssue(f"{prefix}severityLevel", f"must be one of {', '.join(SEVERITIES)}"))
    weight = step.get("weight", 5)
    if not _integer(weight) or not WEIGHT_MIN <= weight <= WEIGHT_MAX:
        issues.append(FieldIssue(f"{prefix}weight", f"must be an integer from {WEIGHT_MIN} to {WEIGHT_MAX}"))
    issues += [
        FieldIssue(f"{prefix}{flag}", "must be true or false")
        for flag in FLAGS
        if step.get(flag, False) not in (True, False)
    ]
    position = step.get("position")
    if position is not None and (not _integer(position) or position < 0):
        issues.append(FieldIssue(f"{prefix}position", "must be an integer >= 0"))
    return issues


def validate_step(step: object, prefix: str = "") -> list[FieldIssue]:
    """One step's fields; `prefix` is its path (`auditSteps[2].`), empty for a step sent alone."""
    if not isinstance(step, Mapping):
        return [FieldIssue(prefix.rstrip(".") or "body", "must be a JSON object")]
    return _step_issues(step, prefix)


def _position_issues(steps: list[Any], steps_key: str) -> list[FieldIssue]:
    positions = [s.get("position") if isinstance(s, Mapping) else None for s in steps]
    given = [p for p in positions if p is not None]
    if not given:
        return []
    issues: list[FieldIssue] = []
    seen: dict[Any, int] = {}
    for index, position in enumerate(positions):
        path = f"{steps_key}[{index}].position"
        if position is None:
            issues.append(FieldIssue(path, "is required when other steps have a position"))
        elif not _integer(position):
            continue  # reported by validate_step; maybe not even hashable
        elif position in seen:
            issues.append(FieldIssue(path, f"duplicates the position of {steps_key}[{seen[position]}]"))
        else:
            seen[position] = index
    return issues


def validate_document(doc: object, *, steps_key: str = "auditSteps") -> list[FieldIssue]:
    """Every problem of a whole scorecard in its JSON form (import document or create body)."""
    if not isinstance(doc, Mapping):
        return [FieldIssue("body", "must be a JSON object")]
    issues = [
        *_text(doc, "name", "name", required=True, max_length=NAME_MAX),
        *_text(doc, "description", "description", required=False),
        *_text(doc, "systemPrompt", "systemPrompt", required=False),
    ]
    for key, value in doc.items():
        if _unstorable(key) or (key not in {"name", "description", "systemPrompt", steps_key} and _unstorable(value)):
            issues.append(FieldIssue(str(key).replace("\x00", ""), "must not contain NUL characters, NaN or Infinity"))
    steps = doc.get(steps_key)
    if not isinstance(steps, list):
        return [*issues, FieldIssue(steps_key, "must be a list of steps")]
    if not steps:
        return [*issues, FieldIssue(steps_key, "at least one step is required")]
    for index, step in enumerate(steps):
        issues += validate_step(step, f"{steps_key}[{index}].")
    return issues + _position_issues(steps, steps_key)
