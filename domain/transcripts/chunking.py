"""Speaker-turn chunks: the unit audits cite and chat quotes (reference section 6.3, revised).

Consecutive words of one speaker form a turn; a turn is closed early by a long pause or when it
would pass a maximum duration or length, so one monologue does not become a single citation of
several minutes. `spacing` / punctuation-only tokens are dropped; a word without a speaker counts as
`unknown`. Unlike the original's fixed 10-message windows, a chunk is one turn.

A chunk's id is `{call_id}:{turn_index}`: it depends only on that recording's own words, so
transcribing another recording of the fiche later never shifts the ids citations point at.
Nothing here fabricates timings or speakers (the original's text-only fallback did, bug 32).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

UNKNOWN_SPEAKER = "unknown"


@dataclass(frozen=True)
class Word:
    """One recognised word; times in seconds from the start of the recording."""

    text: str
    start: float
    end: float
    speaker: str = UNKNOWN_SPEAKER
    confidence: float | None = None

    def as_json(self) -> dict[str, object]:
        data: dict[str, object] = {"text": self.text, "start": self.start, "end": self.end, "speaker": self.speaker}
        if self.confidence is not None:
            data["confidence"] = self.confidence
        return data


@dataclass(frozen=True)
class ChunkingRules:
    """When a turn is closed although its speaker keeps talking."""

    max_seconds: float = 60.0
    max_chars: int = 1200
    pause_seconds: float = 3.0

    def __post_init__(self) -> None:
        if self.max_seconds <= 0 or self.max_chars < 1 or self.pause_seconds <= 0:
            raise ValueError("chunking limits must be positive")


@dataclass(frozen=True)
class Chunk:
    """One speaker turn (or part of a long one) of a recording."""

    call_id: str
    turn_index: int
    speaker: str
    start: float
    end: float
    text: str
    word_count: int

    @property
    def chunk_id(self) -> str:
        return chunk_id(self.call_id, self.turn_index)


def chunk_id(call_id: str, turn_index: int) -> str:
    return f"{call_id}:{turn_index}"


def speech_words(words: Iterable[Word]) -> list[Word]:
    """Words worth citing: non-blank text, in time order (ties keep the provider's order)."""
    kept = [w for w in words if w.text.strip()]
    return sorted(kept, key=lambda w: w.start)


def build_chunks(call_id: str, words: Sequence[Word], rules: ChunkingRules | None = None) -> list[Chunk]:
    """Cut a recording's words into speaker-turn chunks numbered from 0 in time order."""
    rules = rules or ChunkingRules()
    chunks: list[Chunk] = []
    current: list[Word] = []

    def close() -> None:
        if current:
            text = " ".join(w.text.strip() for w in current)
            chunks.append(
                Chunk(call_id, len(chunks), current[0].speaker, current[0].start, current[-1].end, text, len(current))
            )
            current.clear()

    length = 0
    for word in speech_words(words):
        if current:
            last = current[-1]
            too_long = word.end - current[0].start > rules.max_seconds or length + 1 + len(word.text) > rules.max_chars
            if word.speaker != last.speaker or word.start - last.end >= rules.pause_seconds or too_long:
                close()
                length = 0
        length += (1 if current else 0) + len(word.text.strip())
        current.append(word)
    close()
    return chunks
