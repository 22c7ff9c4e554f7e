"""The exchange format and its rules, without a database."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from domain.audits.scorecard import ScorecardSpec, Severity
from domain.errors import FieldIssue
from domain.scorecards.io import export_document, read_document
from domain.scorecards.service import demo_document
from domain.scorecards.validation import InvalidScorecard, validate_document
from tests.fixtures.factories.scorecards import THRESHOLDS, sample_document, step_json


def _issues(document: Any, steps_key: str = "auditSteps") -> dict[str, str]:
    return {i.field: i.message for i in validate_document(document, steps_key=steps_key)}


def _spec(document: dict[str, Any], version: int = 1) -> ScorecardSpec:
    draft = read_document(document)
    return ScorecardSpec(1, 1, version, draft.name, draft.description, draft.system_prompt, draft.steps)


def test_a_document_round_trips_with_its_informational_blocks() -> None:
    document = sample_document(metadata={"base": ["Loi Chatel", "RGPD"]}, isActive=True)
    draft = read_document(document)
    assert draft.extra == {"complianceThresholds": THRESHOLDS, "metadata": {"base": ["Loi Chatel", "RGPD"]}}
    exported = export_document(_spec(document, version=4), draft.extra, version=4, is_active=True)
    assert exported["version"] == 4  # our version number, not the document's label
    assert exported["totalSteps"] == 3
    assert exported == {**document, "version": 4, "totalSteps": 3}
    assert read_document(json.loads(json.dumps(exported))) == draft


def test_zero_based_and_gapped_positions_become_one_to_n_in_their_order() -> None:
    steps = [step_json(1, position=0, name="A"), step_json(2, position=7, name="C"), step_json(3, position=2, name="B")]
    draft = read_document(sample_document(auditSteps=steps))
    assert [(s.position, s.name) for s in draft.steps] == [(1, "A"), (2, "B"), (3, "C")]


def test_without_positions_the_array_order_counts() -> None:
    steps = [{k: v for k, v in step_json(n, name=f"S{n}").items() if k != "position"} for n in (1, 2)]
    assert [(s.position, s.name) for s in read_document(sample_document(auditSteps=steps)).steps] == [
        (1, "S1"),
        (2, "S2"),
    ]


def test_steps_are_normalised() -> None:
    raw = step_json(1, name="  Accueil ", controlPoints=[" a ", "", "  "], keywords=["", "k"], severityLevel="low")
    del raw["weight"]
    (step,) = read_document(sample_document(auditSteps=[raw])).steps
    assert step.name == "Accueil"
    assert step.control_points == ("a",)
    assert step.keywords == ("k",)
    assert step.severity is Severity.LOW
    assert step.weight == 5  # the original's default


def test_unknown_step_keys_are_reported_not_refused() -> None:
    steps = [step_json(1), step_json(2, verificationNote="voir le tableau")]
    draft = read_document(sample_document(auditSteps=steps))
    assert draft.ignored == ("auditSteps[1].verificationNote",)


@pytest.mark.parametrize(
    ("mutate", "field", "message"),
    [
        (lambda d: d.pop("name"), "name", "is required"),
        (lambda d: d.update(name="   "), "name", "must not be blank"),
        (lambda d: d.update(name="x" * 256), "name", "must be at most 255 characters"),
        (lambda d: d.update(auditSteps=[]), "auditSteps", "at least one step is required"),
        (lambda d: d.update(auditSteps={"a": 1}), "auditSteps", "must be a list of steps"),
        (lambda d: d["auditSteps"][2].update(weight=11), "auditSteps[2].weight", "must be an integer from 1 to 10"),
        (lambda d: d["auditSteps"][0].update(weight=0), "auditSteps[0].weight", "must be an integer from 1 to 10"),
        (lambda d: d["auditSteps"][0].update(weight=True), "auditSteps[0].weight", "must be an integer from 1 to 10"),
        (lambda d: d["auditSteps"][1].update(weight="5"), "auditSteps[1].weight", "must be an integer from 1 to 10"),
        (lambda d: d["auditSteps"][1].pop("prompt"), "auditSteps[1].prompt", "is required"),
        (lambda d: d["auditSteps"][1].update(name=""), "auditSteps[1].name", "must not be blank"),
        (
            lambda d: d["auditSteps"][0].update(controlPoints=["", " "]),
            "auditSteps[0].controlPoints",
            "at least one non-blank entry is required",
        ),
        (lambda d: d["auditSteps"][0].update(controlPoints="a"), "auditSteps[0].controlPoints", "must be a list"),
        (lambda d: d["auditSteps"][0].update(severityLevel="URGENT"), "auditSteps[0].severityLevel", "must be one"),
        (lambda d: d["auditSteps"][0].pop("severityLevel"), "auditSteps[0].severityLevel", "must be one"),
        (lambda d: d["auditSteps"][0].update(isCritical="yes"), "auditSteps[0].isCritical", "must be true or false"),
        (lambda d: d["auditSteps"][2].update(position=1), "auditSteps[2].position", "duplicates the position of"),
        (lambda d: d["auditSteps"][1].pop("position"), "auditSteps[1].position", "is required when other steps"),
        (lambda d: d["auditSteps"][1].update(position=-1), "auditSteps[1].position", "must be an integer >= 0"),
        (lambda d: d["auditSteps"][1].update(position=[1]), "auditSteps[1].position", "must be an integer >= 0"),
        (lambda d: d["auditSteps"].append("x"), "auditSteps[3]", "must be a JSON object"),
        (lambda d: d.update(systemPrompt="a\x00b"), "systemPrompt", "must not contain NUL"),
        (lambda d: d.update(metadata={"k": "a\x00"}), "metadata", "must not contain NUL"),
        (lambda d: d.update(metadata={"k": [float("nan")]}), "metadata", "must not contain NUL characters, NaN"),
    ],
)
def test_each_rule_names_its_field(mutate: Any, field: str, message: str) -> None:
    document = sample_document()
    mutate(document)
    issues = _issues(document)
    assert field in issues, issues
    assert issues[field].startswith(message)
    with pytest.raises(InvalidScorecard) as raised:
        read_document(document)
    assert FieldIssue(field, issues[field]) in raised.value.issues


def test_every_problem_is_reported_at_once() -> None:
    document = sample_document()
    document["auditSteps"][0]["weight"] = 42
    document["auditSteps"][2]["controlPoints"] = []
    assert set(_issues(document)) == {"auditSteps[0].weight", "auditSteps[2].controlPoints"}


def test_paths_follow_the_steps_key_of_the_body() -> None:
    document = sample_document()
    document["steps"] = document.pop("auditSteps")
    document["steps"][1]["weight"] = 99
    assert set(_issues(document, steps_key="steps")) == {"steps[1].weight"}


def test_the_document_is_not_mutated() -> None:
    document = sample_document()
    before = copy.deepcopy(document)
    read_document(document)
    assert document == before


def test_the_shipped_demo_scorecard_is_valid() -> None:
    document = demo_document()
    draft = read_document(document)
    assert len(draft.steps) >= 5
    assert any(step.is_critical for step in draft.steps)
    assert set(draft.extra) == set(document) - {"name", "description", "systemPrompt", "version", "auditSteps"}
