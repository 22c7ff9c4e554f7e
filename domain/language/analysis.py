"""A chunk's parse as stored: what evidence search reads of it, computed once and reused by every audit.

The spaCy parse is most of an audit's cost (about 0.7 s per 10 minutes of call, against a few
hundredths for the search itself). Each chunk's parse is reduced to its clauses (`SegmentAnalysis`:
word span, folded content lemmas and surfaces, which words sit under a negation or reported speech,
which are denied or supposed, the keys of their word vectors, and whether the clause is a question,
negated, reported, deferred, hedged or a filler), stored as JSON beside the chunk, and read back by
later audits without parsing. Word vectors are not stored: they are looked up by key in the loaded model's table.

`ANALYSIS_VERSION` names the rules and the model that made an analysis; a stored analysis of
another version is ignored and the chunk parsed again, so changing either re-parses.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from domain.language.pipeline import MODEL, pipeline

RULES_VERSION = "utterances-9"
"""Bump when what `domain.language.utterances` derives from a parse changes."""

_FLAGS = ("question", "negated", "reported", "deferred", "hedged", "filler")


def _model_version() -> str:
    try:
        return version(MODEL)
    except PackageNotFoundError:  # pragma: no cover - the model is a declared dependency
        return "absent"


ANALYSIS_VERSION = f"{RULES_VERSION}/{MODEL}-{_model_version()}"


@dataclass(frozen=True)
class SegmentAnalysis:
    """One clause of a chunk (word indices are into the chunk's words, inclusive)."""

    first_word: int
    last_word: int
    lemmas: tuple[str, ...]
    positions: tuple[int, ...]
    blocked: tuple[bool, ...]
    denied: tuple[bool, ...]
    supposed: tuple[bool, ...]
    surfaces: tuple[str, ...]
    vector_keys: tuple[str, ...]  # the word as the model's vector table knows it; "" when it has none
    question: bool
    negated: bool
    reported: bool
    deferred: bool
    hedged: bool
    filler: bool

    def as_json(self) -> dict[str, Any]:
        return {
            "span": [self.first_word, self.last_word],
            "lemmas": list(self.lemmas),
            "surfaces": list(self.surfaces),
            "positions": list(self.positions),
            "blocked": [int(b) for b in self.blocked],
            "denied": [int(b) for b in self.denied],
            "supposed": [int(b) for b in self.supposed],
            "vectors": list(self.vector_keys),
            "flags": [name for name in _FLAGS if getattr(self, name)],
        }

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> SegmentAnalysis:
        first, last = value["span"]
        flags = set(value["flags"])
        return cls(
            first_word=int(first),
            last_word=int(last),
            lemmas=tuple(value["lemmas"]),
            positions=tuple(int(p) for p in value["positions"]),
            blocked=tuple(bool(b) for b in value["blocked"]),
            denied=tuple(bool(b) for b in value["denied"]),
            supposed=tuple(bool(b) for b in value["supposed"]),
            surfaces=tuple(value["surfaces"]),
            vector_keys=tuple(value["vectors"]),
            **{name: name in flags for name in _FLAGS},
        )


ChunkAnalysis = tuple[SegmentAnalysis, ...]


def analysis_json(analysis: ChunkAnalysis) -> dict[str, Any]:
    """What is stored beside a chunk: the analysis and the version that made it."""
    return {"version": ANALYSIS_VERSION, "segments": [s.as_json() for s in analysis]}


def stored_analysis(value: dict[str, Any] | None) -> ChunkAnalysis | None:
    """A stored analysis if it is of this version (else None: the chunk is parsed again)."""
    if not value or value.get("version") != ANALYSIS_VERSION:
        return None
    return tuple(SegmentAnalysis.from_json(s) for s in value["segments"])


@functools.lru_cache(maxsize=65536)
def word_vector(key: str) -> np.ndarray | None:
    """The unit word vector of a stored key (the model's table, as `Token.vector` reads it)."""
    if not key:
        return None
    vocab = pipeline().vocab
    if not vocab.has_vector(key):
        return None
    vector = np.asarray(vocab.get_vector(key), dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else None
