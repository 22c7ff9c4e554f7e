"""The one interface every auditor implements (LLM or heuristic), and what it reports per step.

The engine hands an auditor one frozen scorecard version, one step and the fiche's timeline; the
auditor answers a `StepOutput` (schema of reference §7.3) plus its usage. Evidence gating and
scoring happen after, in the engine, the same way for every auditor.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from domain.audits.schema import StepOutput
from domain.audits.scorecard import ScorecardSpec, StepSpec
from domain.audits.timeline import Timeline


class TranscriptMode(enum.StrEnum):
    """How the transcript reaches the model: whole in the prompt, or through transcript tools (`use_rlm`)."""

    PROMPT = "prompt"
    TOOLS = "tools"


@dataclass(frozen=True)
class Usage:
    """Tokens of one or more model calls, and their cost from the configured price table."""

    input_tokens: int = 0
    cached_input_tokens: int = 0  # part of `input_tokens` the provider served from its prompt cache
    output_tokens: int = 0
    cost_usd: float = 0.0
    calls: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.cached_input_tokens + other.cached_input_tokens,
            self.output_tokens + other.output_tokens,
            self.cost_usd + other.cost_usd,
            self.calls + other.calls,
        )


@dataclass(frozen=True)
class PointAssessment:
    """How sure an auditor is of one control point's verdict, and the rule that decided it."""

    confidence: float  # in [0, 1]
    rule: str


@dataclass(frozen=True)
class StepAnalysis:
    """One step's answer. `failed` means `output` is the schema-valid fallback and `error` says why.

    `assessments` (one per control point, in order) come from auditors that can tell their own
    certainty (the heuristic auditor); an LLM's self-reported confidence is not asked for.
    """

    output: StepOutput
    usage: Usage
    transcript_mode: TranscriptMode
    failed: bool = False
    error: str | None = None
    assessments: tuple[PointAssessment, ...] = ()


class Auditor(Protocol):
    #: `heuristic`, or the LLM provider (`openai`); recorded on every audit.
    name: str
    #: The model id, None for the heuristic auditor.
    model: str | None
    #: Changes whenever prompts or the auditor's logic change, so audits made before are redone.
    prompt_version: str
    #: Whether a step's prompt starts with a prefix shared by all steps of an audit (prompt caching):
    #: the engine then analyses one step before fanning the others out, so they find it cached.
    shares_prompt_prefix: bool

    async def analyze_step(
        self, scorecard: ScorecardSpec, step: StepSpec, timeline: Timeline, *, mode: TranscriptMode
    ) -> StepAnalysis:
        """Analyse one step. Provider failures are returned as `failed` analyses, never raised."""
        ...


@runtime_checkable
class PreparesTimeline(Protocol):
    """An auditor that analyses a timeline before its steps (the heuristic auditor parses it).

    `prepare` returns the analyses it had to make (`chunk_id`: JSON); the engine stores them beside
    the chunks, so the next audit of the fiche finds them on its timeline and does not parse again.
    """

    def prepare(self, timeline: Timeline) -> dict[str, dict[str, Any]]: ...
