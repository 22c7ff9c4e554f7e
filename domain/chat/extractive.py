"""The offline answer (no model configured): the transcript passages closest to the question, cited.

Clearly labelled as extractive, never written like a model's answer. Passages are scored with the
heuristic auditor's matching: the question's words (3 letters or more, normalised like evidence
gating) found in a chunk, tolerant to recognition noise (`token_distance`) and to the trade's
synonyms (`domain.language.lexicon`), each weighted by its rarity in French (`specificity`), so
"carence" counts far more than "est". The quote is a window of the chunk's words around the
match, validated and located like any chat citation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domain.audits.matching import token_distance, tokenise
from domain.audits.timeline import Timeline, TimelineChunk
from domain.chat.citations import CitationClaim, validate
from domain.language.lexicon import specificity, synonyms

LABEL = "Réponse extractive (aucun modèle de langage n'est configuré)"
MAX_PASSAGES = 3
MIN_SCORE = 1.0  # at least one fairly specific word of the question
WINDOW_WORDS = 30
MIN_TERM_CHARS = 3
_ROLE = {"agent": "conseiller", "client": "client"}


@dataclass(frozen=True)
class Extractive:
    text: str
    citations: list[dict[str, Any]]
    rejected: int


def _terms(question: str) -> list[str]:
    return list(dict.fromkeys(t for t in tokenise(question) if len(t) >= MIN_TERM_CHARS))


def _matches(term: str, token: str) -> bool:
    return token_distance(term, token) is not None or synonyms(term, token)


def _score(terms: list[str], chunk: TimelineChunk) -> tuple[float, int]:
    """Sum of the specificity of the terms found, and the index of the first word matching one."""
    words = [w.text for w in chunk.words] or chunk.text.split()
    tokens = [(i, t) for i, word in enumerate(words) for t in tokenise(word)]
    score, first = 0.0, len(words)
    for term in terms:
        hits = [i for i, token in tokens if _matches(term, token)]
        if hits:
            score += specificity(term)
            first = min(first, hits[0])
    return score, first


def _quote(chunk: TimelineChunk, around: int) -> str:
    words = [w.text for w in chunk.words] or chunk.text.split()
    start = max(0, min(around - WINDOW_WORDS // 3, len(words) - WINDOW_WORDS))
    return " ".join(words[start : start + WINDOW_WORDS])


def extractive_answer(question: str, timeline: Timeline, *, min_quote_chars: int) -> Extractive:
    terms = _terms(question)
    scored = []
    for chunk in timeline.chunks():
        score, first = _score(terms, chunk)
        if score >= MIN_SCORE:
            scored.append((score, chunk, first))
    scored.sort(key=lambda item: (-item[0], item[1].recording_index, item[1].chunk_index))
    claims = [
        CitationClaim(texte=_quote(chunk, first), recording_index=chunk.recording_index, chunk_index=chunk.chunk_index)
        for _, chunk, first in scored[:MAX_PASSAGES]
    ]
    validated = validate(claims, timeline, min_quote_chars=min_quote_chars)
    if not validated.citations:
        return Extractive(f"{LABEL} : aucun passage de la transcription ne correspond à la question.", [], 0)
    lines = [f"{LABEL} : voici les passages de la transcription les plus proches de la question.", ""]
    for n, citation in enumerate(validated.citations, 1):
        who = _ROLE.get(citation["role"], citation["speaker"])
        lines.append(
            f"[{n}] Enregistrement #{citation['recording_index'] + 1}, {citation['minutage']}, {who} : "
            f"« {citation['texte']} »"
        )
    return Extractive("\n".join(lines), validated.citations, validated.rejected)
