"""What the generator needs to know about each scorecard, besides the phrasings.

Control points are keyed (step position, 1-based point index), as the audit results are. A point may
`need` a fact of the call (the client lives in an EHPAD, the contract is not responsible): when the
fact does not hold the point is `na`. A `behaviour` point (no pressure, a refusal respected) is absent
only with counter-evidence in the call: its absence is something said, not something missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from domain.audits.scorecard import ScorecardSpec
from domain.scorecards.io import read_document

ScorecardName = Literal["demo", "nca18"]

REPO = Path(__file__).resolve().parents[2]
DEMO_PATH = REPO / "domain" / "audits" / "demo_scorecard.json"
NCA18_PATH = REPO.parent / "shared" / "fixtures" / "scorecards" / "audit_config_18_points.json"


@dataclass(frozen=True)
class PointRule:
    needs: str | None = None  # fact expression; the point is `na` when it does not hold
    behaviour: bool = False  # absent = counter-evidence said in the call
    implies: tuple[tuple[int, int], ...] = ()  # saying this point says these too (opposing a recording announces it)


@dataclass(frozen=True)
class Fact:
    probability: float
    order: float  # where its setup lines go (step positions)


@dataclass(frozen=True)
class ScorecardPlan:
    name: ScorecardName
    step_sizes: tuple[int, ...]  # control points per step, steps 1..n
    critical_steps: frozenset[int]
    facts: dict[str, Fact]
    rules: dict[tuple[int, int], PointRule] = field(default_factory=dict)
    firm_point: tuple[int, int] | None = None  # the inbound answer names the firm only when present
    greeting_point: tuple[int, int] | None = None  # "bonjour" is said only when present
    signature_order: float | None = None  # a signature moment in the last call (scorecards without a point for it)

    @property
    def points(self) -> list[tuple[int, int]]:
        return [(step, index) for step, size in enumerate(self.step_sizes, 1) for index in range(1, size + 1)]

    def rule(self, key: tuple[int, int]) -> PointRule:
        return self.rules.get(key, PointRule())


DEMO = ScorecardPlan(
    name="demo",
    step_sizes=(2, 2, 2, 1, 2, 2, 1, 2, 1, 2),
    critical_steps=frozenset({2, 3, 9, 10}),
    facts={"has_insurer": Fact(0.8, 5.0)},
    rules={
        (3, 2): PointRule(implies=((3, 1),)),
        (10, 2): PointRule(implies=((10, 1),)),  # signing with the code is accepting
    },
    firm_point=(2, 1),
    greeting_point=(1, 1),
)

NCA18 = ScorecardPlan(
    name="nca18",
    step_sizes=(8, 7, 3, 5, 4, 3, 4, 8, 4, 4, 5, 4, 7, 5, 5, 8, 4, 4),
    critical_steps=frozenset({1, 4, 5, 7, 11}),
    facts={
        "has_insurer": Fact(1.0, 4.0),
        "recording_refusal": Fact(0.2, 1.0),
        "ehpad": Fact(0.2, 2.9),
        "css": Fact(0.08, 6.9),
        "independent": Fact(0.35, 2.95),
        "responsible": Fact(0.65, 11.0),
        "hearing": Fact(0.3, 7.9),
        "has_quote": Fact(0.4, 9.9),
        "other_needs": Fact(0.45, 18.0),
        "other_refused": Fact(0.5, 18.0),
    },
    rules={
        (1, 5): PointRule(implies=((1, 4),)),
        (1, 6): PointRule(implies=((1, 4),)),
        (1, 7): PointRule(implies=((1, 4),)),
        (1, 8): PointRule(needs="recording_refusal", behaviour=True, implies=((1, 4),)),
        (3, 3): PointRule(needs="ehpad"),
        (7, 4): PointRule(needs="css", behaviour=True),
        (8, 8): PointRule(needs="hearing"),
        (10, 2): PointRule(needs="has_quote"),
        (10, 3): PointRule(needs="has_quote"),
        (10, 4): PointRule(needs="has_quote"),
        (11, 3): PointRule(needs="responsible", implies=((11, 2),)),
        (11, 4): PointRule(needs="!responsible", implies=((11, 2),)),
        (11, 5): PointRule(needs="independent&!responsible", implies=((11, 2),)),
        (9, 3): PointRule(implies=((9, 1), (5, 2))),  # "with the notice, we start on the 1st"
        (14, 1): PointRule(implies=((11, 3),)),
        (14, 2): PointRule(implies=((14, 1),)),
        (14, 3): PointRule(implies=((14, 1),)),
        (14, 4): PointRule(implies=((14, 1),)),
        (15, 5): PointRule(implies=((16, 6),)),
        (13, 5): PointRule(needs="hearing"),
        (16, 1): PointRule(behaviour=True),
        (16, 2): PointRule(behaviour=True),
        (16, 3): PointRule(behaviour=True),
        (16, 4): PointRule(behaviour=True),
        (16, 7): PointRule(behaviour=True),
        (16, 8): PointRule(behaviour=True),
        (18, 1): PointRule(needs="other_needs", behaviour=True),
        (18, 2): PointRule(needs="other_needs", behaviour=True),
        (18, 3): PointRule(needs="other_needs"),
        (18, 4): PointRule(needs="other_needs&other_refused", behaviour=True),
    },
    firm_point=(1, 2),
    signature_order=17.5,
)

PLANS: dict[str, ScorecardPlan] = {"demo": DEMO, "nca18": NCA18}

PATHS: dict[str, Path] = {"demo": DEMO_PATH, "nca18": NCA18_PATH}


def load_spec(name: ScorecardName) -> ScorecardSpec:
    """The scorecard as the auditors take it, read from its file in the original's export format.

    The 18-point scorecard lives in the shared fixtures, outside the repository: FileNotFoundError
    (naming the path) when it is absent, for the benchmark to skip that scorecard with a message.
    """
    path = PATHS[name]
    if not path.exists():
        raise FileNotFoundError(f"scorecard {name!r} not found at {path}")
    draft = read_document(json.loads(path.read_text(encoding="utf-8")))
    return ScorecardSpec(0, 0, 1, draft.name, draft.description, draft.system_prompt, draft.steps)
