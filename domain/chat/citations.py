"""Chat citations: claimed by the model as structured data, kept only when the transcript says so.

The model cites through the `citer_passages` tool (or, tolerated, an inline marker): each claim
names a quote and where it is (0-based recording and chunk), optionally whose words it is. A claim
is checked with the audit's evidence rules (`domain.audits.gating.locate_citation`: the same
normalisation and tolerance to recognition noise, numbers compared as digits, the neighbouring
chunk when the index is off by one, a quote running on into the next chunks, the minimum quote
length) and, when the model says whose words they are, the speaker's role must not contradict it.
A kept citation is located to the words (start/end seconds, speaker and role, call id, chunk id)
from the timeline, never from the model; the others are dropped and counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domain.audits.gating import LocatedCitation, locate_citation
from domain.audits.schema import Citation
from domain.audits.scorecard import SpeakerRule
from domain.audits.speakers import speaker_allowed
from domain.audits.timeline import Timeline

CITE_TOOL = "citer_passages"
MAX_CITATIONS = 20


class CitationClaim(BaseModel):
    model_config = ConfigDict(extra="ignore")

    texte: str = Field(min_length=1)
    recording_index: int = Field(ge=0)
    chunk_index: int = Field(ge=0)
    role: Literal["agent", "client"] | None = None


class _Claims(BaseModel):
    citations: list[Any] = Field(default_factory=list)


def parse_claims(arguments: str) -> tuple[list[CitationClaim], int]:
    """Claims from the tool's JSON arguments, and how many entries were unusable."""
    try:
        raw = _Claims.model_validate_json(arguments or "{}").citations
    except ValidationError:
        return [], 1
    return _claims(raw)


def parse_marker(raw_json: str) -> tuple[list[CitationClaim], int]:
    """The claim of one inline `[CITATION:{...}]` marker (the original's format)."""
    try:
        value = json.loads(raw_json)
    except json.JSONDecodeError:
        return [], 1
    return _claims([value])


def _claims(raw: Iterable[Any]) -> tuple[list[CitationClaim], int]:
    claims, bad = [], 0
    for item in raw:
        try:
            claims.append(CitationClaim.model_validate(item))
        except ValidationError:
            bad += 1
    return claims, bad


def cite_tool_definition() -> dict[str, Any]:
    claim = {
        "type": "object",
        "properties": {
            "texte": {"type": "string", "description": "Citation mot pour mot, copiée de la transcription."},
            "recording_index": {"type": "integer", "description": "Enregistrement #X -> X-1 (0-based)."},
            "chunk_index": {"type": "integer", "description": "Chunk Y -> Y-1 (0-based)."},
            "role": {
                "type": ["string", "null"],
                "enum": ["agent", "client", None],
                "description": "Qui parle : agent (conseiller), client, ou null si inconnu.",
            },
        },
        "required": ["texte", "recording_index", "chunk_index", "role"],
        "additionalProperties": False,
    }
    return {
        "type": "function",
        "function": {
            "name": CITE_TOOL,
            "description": (
                "Enregistre les passages de la transcription qui appuient la réponse (appel unique, à la fin)."
            ),
            "parameters": {
                "type": "object",
                "properties": {"citations": {"type": "array", "items": claim}},
                "required": ["citations"],
                "additionalProperties": False,
            },
            "strict": True,
        },
    }


@dataclass(frozen=True)
class Validated:
    citations: list[dict[str, Any]]
    rejected: int


def citation_json(found: LocatedCitation) -> dict[str, Any]:
    """What the stream's citations frame, the stored message and history carry for one citation."""
    return {
        "texte": found.texte,
        "matched_text": found.matched_text,
        "chunk_id": found.chunk_id,
        "call_id": found.call_id,
        "recording_index": found.recording_index,
        "chunk_index": found.chunk_index,
        "last_chunk_index": found.last_chunk_index,
        "speaker": found.speaker,
        "role": found.role,
        "start_seconds": found.start_seconds,
        "end_seconds": found.end_seconds,
        "minutage": found.minutage,
        "minutage_secondes": found.start_seconds,
        "recording_date": found.recording_date,
        "recording_time": found.recording_time,
        "recording_url": found.recording_url,
        "match": str(found.match),
        "similarity": found.similarity,
    }


def validate(claims: Iterable[CitationClaim], timeline: Timeline, *, min_quote_chars: int) -> Validated:
    """The claims found in the transcript, located and deduplicated (first `MAX_CITATIONS`); the count dropped."""
    kept: list[dict[str, Any]] = []
    seen: set[tuple[str, float, float]] = set()
    rejected = 0
    for claim in claims:
        outcome = locate_citation(_as_citation(claim), timeline, min_quote_chars)
        if not isinstance(outcome, LocatedCitation):
            rejected += 1
            continue
        if claim.role is not None and not speaker_allowed(SpeakerRule(claim.role), outcome.role):
            rejected += 1
            continue
        key = (outcome.chunk_id, outcome.start_seconds, outcome.end_seconds)
        if key in seen:
            continue
        seen.add(key)
        if len(kept) < MAX_CITATIONS:
            kept.append(citation_json(outcome))
    return Validated(kept, rejected)


def _as_citation(claim: CitationClaim) -> Citation:
    # Only the quote and its place are the model's; the rest is filled from the timeline once located.
    return Citation(
        texte=claim.texte,
        minutage="",
        minutage_secondes=0.0,
        speaker="",
        recording_index=claim.recording_index,
        chunk_index=claim.chunk_index,
        recording_date="",
        recording_time="",
        recording_url="",
    )
