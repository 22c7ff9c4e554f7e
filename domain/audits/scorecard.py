"""A scorecard version as an immutable value: what every auditor (LLM or heuristic) reads.

The database keeps scorecards versioned (`domain.models.scorecards`); an audit always runs against
one frozen `ScorecardSpec`, so nothing that edits a scorecard can change an audit under way.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Severity(enum.StrEnum):
    """Shown in prompts and on results; no effect on scores (reference §7.1)."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class SpeakerRule(enum.StrEnum):
    """Whose words can prove a control point: the agent's by default, the client's (consent, an
    answer), or either's. Evidence from another role is rejected by gating."""

    AGENT = "agent"
    CLIENT = "client"
    ANY = "any"


@dataclass(frozen=True)
class StepSpec:
    """One step of a scorecard. `position` is 1-based and contiguous; `weight` is the step's maximum points."""

    position: int
    name: str
    description: str
    prompt: str
    control_points: tuple[str, ...]
    keywords: tuple[str, ...] = ()
    severity: Severity = Severity.MEDIUM
    is_critical: bool = False
    chronological: bool = False
    weight: int = 5
    verify_product_info: bool = False
    point_speakers: tuple[SpeakerRule, ...] = ()  # one per control point; missing entries are AGENT
    # Set for one audit only, on `verify_product_info` steps whose fiche matched a catalogue plan: the
    # facts block the auditor reads (`domain.products.facts`). Not part of the scorecard's content.
    product_context: str | None = field(default=None, compare=False, repr=False)

    def speaker_rule(self, index: int) -> SpeakerRule:
        """Whose words count for the control point at 0-based `index`."""
        return self.point_speakers[index] if index < len(self.point_speakers) else SpeakerRule.AGENT


@dataclass(frozen=True)
class ScorecardSpec:
    """One immutable version of a scorecard. `version_id` is the row audits point at."""

    scorecard_id: int
    version_id: int
    version: int
    name: str
    description: str
    system_prompt: str
    steps: tuple[StepSpec, ...]

    @property
    def total_weight(self) -> int:
        return sum(step.weight for step in self.steps)

    def step(self, position: int) -> StepSpec:
        for step in self.steps:
            if step.position == position:
                return step
        raise KeyError(f"scorecard {self.name!r} v{self.version} has no step at position {position}")
