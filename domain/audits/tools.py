"""Transcript tools of tools mode (reference §7.5): the model searches and reads the timeline itself.

Pure functions over a `Timeline`; the LLM resource runs them when the model calls a tool and sends
back their JSON. Results carry 0-based `recording_index` / `chunk_index`, the minutage, the
speaker's role (agent / client / unknown) and the recording metadata, so citations can be copied
from them verbatim. Every bound the model gives is clamped, never trusted. Terms and chunks are
compared in the normalised form of `domain.audits.matching` (the one evidence gating uses), so what
a search finds is quotable.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from domain.audits.matching import normalise
from domain.audits.timeline import Timeline, TimelineChunk, mmss

SEARCH_TOOL = "search_transcript"
FETCH_TOOL = "get_transcript_chunks"

MAX_QUERY_TERMS = 40
PREVIEW_CHARS = 450
MAX_REFS_IN_CALL = 60  # refs accepted in one call before dedupe and the fetch cap
INDEX_NOTE = "recording_index et chunk_index sont 0-based : recopiez-les tels quels dans les citations."


@dataclass(frozen=True)
class ToolLimits:
    """Defaults of the original; `max_chunk_fetch` may be raised up to 40."""

    max_search_results: int = 25
    max_chunk_fetch: int = 20
    max_chunk_chars: int = 20_000

    def __post_init__(self) -> None:
        if not 1 <= self.max_search_results <= 50:
            raise ValueError("max_search_results must be within 1..50")
        if not 1 <= self.max_chunk_fetch <= 40:
            raise ValueError("max_chunk_fetch must be within 1..40")
        if not 1000 <= self.max_chunk_chars <= 80_000:
            raise ValueError("max_chunk_chars must be within 1000..80000")


def _clamp(value: object, default: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return default
    return max(low, min(high, int(value)))


def query_terms(query: str, min_term_length: int) -> list[str]:
    """Distinct normalised terms of at least `min_term_length` characters, in query order, at most 40."""
    terms: list[str] = []
    for term in normalise(query).split():
        if len(term) >= min_term_length and term not in terms:
            terms.append(term)
    return terms[:MAX_QUERY_TERMS]


def _chunk_fields(timeline: Timeline, chunk: TimelineChunk) -> dict[str, Any]:
    recording = timeline.recordings[chunk.recording_index]
    return {
        "recording_index": chunk.recording_index,
        "chunk_index": chunk.chunk_index,
        "chunk_id": chunk.chunk_id,
        "minutage_secondes": chunk.start,
        "minutage": mmss(chunk.start),
        "start": chunk.start,
        "end": chunk.end,
        "speaker": chunk.speaker,
        "role": chunk.role,  # agent, client, or unknown: whose words these are
        "recording_date": recording.recording_date or "N/A",
        "recording_time": recording.recording_time or "N/A",
        "recording_url": recording.recording_url or "N/A",
    }


def _preview(text: str) -> str:
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


def search_transcript(
    timeline: Timeline,
    query: str,
    max_results: int | None = None,
    min_term_length: int | None = None,
    *,
    limits: ToolLimits | None = None,
) -> dict[str, Any]:
    """Chunks containing the most query terms (substring match on normalised text), best first."""
    limits = limits or ToolLimits()
    top = _clamp(max_results, limits.max_search_results, 1, 50)
    terms = query_terms(query, _clamp(min_term_length, 3, 2, 8))
    result: dict[str, Any] = {
        "query": query,
        "terms": terms,
        "total_recordings": len(timeline.recordings),
        "total_chunks": timeline.total_chunks,
        "note": INDEX_NOTE,
    }
    if not terms:
        return result | {
            "total_matches": 0,
            "matches": [],
            "hint": "Aucun terme exploitable : utilisez des mots d'au moins 3 lettres (noms, mots-clés de l'étape).",
        }
    scored: list[tuple[int, TimelineChunk]] = []
    for chunk in timeline.chunks():
        text = normalise(chunk.text)
        score = sum(term in text for term in terms)
        if score:
            scored.append((score, chunk))
    scored.sort(key=lambda item: (-item[0], item[1].recording_index, item[1].chunk_index))
    matches = [
        _chunk_fields(timeline, chunk) | {"score": score, "preview_text": _preview(chunk.text)}
        for score, chunk in scored[:top]
    ]
    return result | {"total_matches": len(scored), "matches": matches}


def _refs(raw: Iterable[object]) -> list[tuple[int, int]]:
    """Distinct (recording, chunk) pairs in the order given; malformed entries are skipped."""
    seen: list[tuple[int, int]] = []
    for item in raw:
        if not isinstance(item, Mapping):
            continue
        recording, chunk = item.get("recording_index"), item.get("chunk_index")
        if isinstance(recording, int) and isinstance(chunk, int) and (recording, chunk) not in seen:
            seen.append((recording, chunk))
    return seen


def get_transcript_chunks(
    timeline: Timeline,
    refs: Sequence[Mapping[str, Any]],
    include_neighbors: int | None = None,
    max_chars: int | None = None,
    *,
    limits: ToolLimits | None = None,
) -> dict[str, Any]:
    """Full texts of the requested chunks (± neighbours), in timeline order, within a character budget."""
    limits = limits or ToolLimits()
    neighbours = _clamp(include_neighbors, 0, 0, 2)
    budget = _clamp(max_chars, limits.max_chunk_chars, 1000, 80_000)
    requested = _refs(refs[:MAX_REFS_IN_CALL])
    kept = requested[: limits.max_chunk_fetch]
    wanted = {(r, c + offset) for r, c in kept for offset in range(-neighbours, neighbours + 1)}
    found = sorted(ref for ref in wanted if timeline.chunk(*ref) is not None)
    unknown = [{"recording_index": r, "chunk_index": c} for r, c in kept if timeline.chunk(r, c) is None]
    chunks: list[dict[str, Any]] = []
    used, truncated = 0, False
    for ref in found:
        chunk = timeline.chunk(*ref)
        assert chunk is not None  # filtered above
        remaining = budget - used
        if remaining <= 0:
            truncated = True
            break
        text, cut = chunk.text, False
        if len(text) > remaining:
            text, cut, truncated = text[: max(0, remaining - 1)] + "…", True, True
        used += len(text)
        chunks.append(_chunk_fields(timeline, chunk) | {"full_text": text, "truncated": cut})
    return {
        "requested": len(requested),
        "capped_at": limits.max_chunk_fetch,
        "ignored_refs": max(0, len(requested) - limits.max_chunk_fetch),
        "unknown_refs": unknown,
        "returned": len(chunks),
        "total_chars": used,
        "max_chars": budget,
        "truncated": truncated,
        "chunks": chunks,
        "note": INDEX_NOTE + " Citez uniquement du texte copié mot pour mot depuis full_text.",
    }


def _nullable_int(description: str) -> dict[str, Any]:
    return {"type": ["integer", "null"], "description": description}


def tool_definitions() -> list[dict[str, Any]]:
    """The two function tools in the Chat Completions format, strict (every property required)."""
    search = {
        "type": "object",
        "properties": {
            "query": {
                "type": "string",
                "description": "Mots à chercher (nom de l'étape, mots-clés, points de contrôle).",
            },
            "max_results": _nullable_int("Nombre maximal de résultats (1-50, défaut 25)."),
            "min_term_length": _nullable_int("Longueur minimale d'un terme (2-8, défaut 3)."),
        },
        "required": ["query", "max_results", "min_term_length"],
        "additionalProperties": False,
    }
    ref = {
        "type": "object",
        "properties": {"recording_index": {"type": "integer"}, "chunk_index": {"type": "integer"}},
        "required": ["recording_index", "chunk_index"],
        "additionalProperties": False,
    }
    fetch = {
        "type": "object",
        "properties": {
            "chunks": {"type": "array", "items": ref, "description": "Chunks à lire (0-based), 20 au plus."},
            "include_neighbors": _nullable_int("Chunks voisins à inclure de chaque côté (0-2, défaut 0)."),
            "max_chars": _nullable_int("Budget total de caractères (1000-80000, défaut 20000)."),
        },
        "required": ["chunks", "include_neighbors", "max_chars"],
        "additionalProperties": False,
    }
    return [
        {
            "type": "function",
            "function": {
                "name": SEARCH_TOOL,
                "description": "Cherche dans la transcription les chunks contenant le plus de termes de la requête.",
                "parameters": search,
                "strict": True,
            },
        },
        {
            "type": "function",
            "function": {
                "name": FETCH_TOOL,
                "description": "Renvoie le texte intégral de chunks (et voisins) avec minutage et métadonnées.",
                "parameters": fetch,
                "strict": True,
            },
        },
    ]


def run_tool(timeline: Timeline, name: str, arguments: str, *, limits: ToolLimits | None = None) -> dict[str, Any]:
    """Execute one tool call from its JSON arguments; a bad call gets an error object the model can read."""
    try:
        args = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return {"error": "arguments JSON invalides"}
    if not isinstance(args, dict):
        return {"error": "les arguments doivent être un objet JSON"}
    if name == SEARCH_TOOL:
        return search_transcript(
            timeline,
            str(args.get("query") or ""),
            args.get("max_results"),
            args.get("min_term_length"),
            limits=limits,
        )
    if name == FETCH_TOOL:
        raw = args.get("chunks")
        refs = [item for item in raw if isinstance(item, Mapping)] if isinstance(raw, list) else []
        return get_transcript_chunks(
            timeline, refs, args.get("include_neighbors"), args.get("max_chars"), limits=limits
        )
    return {"error": f"outil inconnu : {name}"}
