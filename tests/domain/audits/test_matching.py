"""Normalisation and ASR-tolerant matching: the explicit tolerance gating and the heuristic share."""

from __future__ import annotations

import pytest

from domain.audits.matching import (
    IndexedTokens,
    MatchKind,
    find_phrase,
    locate_quote,
    normalise,
    token_distance,
    tokenise,
    word_tokens,
)

_SENTENCE = "Je vous informe que cet appel est enregistré à des fins de qualité, euh vous pouvez vous y opposer."
CHUNK = _SENTENCE.split(" ")


def test_normalisation_strips_case_accents_punctuation_and_splits_apostrophes() -> None:
    assert normalise("L'ENREGISTREMENT, c'est « noté » !") == "l enregistrement c est note"
    assert word_tokens("O.R.I.A.S.,") == ["orias"]
    assert tokenise("dites-le-moi euh 14,50 €") == ["dites", "le", "moi", "14", "50"]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("orias", "orias", 0),
        ("oreas", "orias", 1),  # 5 letters: one edit tolerated
        ("oriaz", "oreax", None),  # two edits at 5 letters
        ("les", "des", None),  # short words must be equal
        ("retraction", "retractation", 2),  # 9+ letters: two edits
        ("retraccion", "retractation", None),  # three edits
    ],
)
def test_token_tolerance_depends_on_length(a: str, b: str, expected: int | None) -> None:
    assert token_distance(a, b) == expected


def test_exact_quote_maps_to_its_words() -> None:
    match = locate_quote(tokenise("cet appel est enregistre a des fins"), CHUNK)
    assert match is not None
    assert (match.first_word, match.last_word, match.kind, match.similarity) == (4, 10, MatchKind.EXACT, 1.0)


def test_hesitations_are_ignored_on_both_sides() -> None:
    match = locate_quote(tokenise("de qualité vous euh pouvez vous y opposer"), CHUNK)
    assert match is not None
    assert match.kind is MatchKind.EXACT
    assert CHUNK[match.first_word] == "de"
    assert CHUNK[match.last_word] == "opposer."


def test_near_tokens_are_tolerated_and_reported() -> None:
    match = locate_quote(tokenise("cet appel est enregistrer a des fins de qualiter"), CHUNK)
    assert match is not None
    assert match.kind is MatchKind.TOLERANT
    assert match.errors == 0
    assert 0.8 < match.similarity < 1.0


def test_one_token_error_per_six_tokens() -> None:
    # 12 tokens, two errors allowed: one changed short word ("pour" for "à") passes
    two = locate_quote(tokenise("cet appel est enregistré pour des fins de qualité vous pouvez vous"), CHUNK)
    assert two is not None
    assert two.errors == 1
    # 5 tokens: no error allowed
    assert locate_quote(tokenise("cet appel sera enregistré à"), CHUNK) is None
    # 7 tokens, two errors: beyond the budget of one
    assert locate_quote(tokenise("cet appel sera enregistré pour des fins"), CHUNK) is None


def test_invented_quote_is_not_found() -> None:
    assert locate_quote(tokenise("vous disposez de quatorze jours pour vous rétracter"), CHUNK) is None
    assert locate_quote([], CHUNK) is None


def test_find_phrase_prefers_an_exact_occurrence() -> None:
    indexed = IndexedTokens.of_words(["la", "signaturr", "puis", "la", "signature"])
    hit = find_phrase(("signature",), indexed)
    assert hit is not None
    assert (hit.first_token, hit.distance) == (4, 0)
    assert find_phrase(("frais", "dossier"), indexed) is None
