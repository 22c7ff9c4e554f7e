"""Speaker-turn chunking (reference section 6.3, revised): turns, splits, stable ids."""

from __future__ import annotations

import pytest

from domain.transcripts.chunking import ChunkingRules, Word, build_chunks, chunk_id


def _words(*spec: tuple[str, float, str]) -> list[Word]:
    return [Word(text, start, start + 0.4, speaker) for text, start, speaker in spec]


def test_consecutive_words_of_a_speaker_form_one_turn() -> None:
    words = _words(("Bonjour", 0.0, "s0"), ("madame", 0.5, "s0"), ("Oui", 1.2, "s1"), ("bonjour", 1.6, "s1"))
    chunks = build_chunks("c1", words)
    assert [(c.chunk_id, c.speaker, c.text, c.word_count) for c in chunks] == [
        ("c1:0", "s0", "Bonjour madame", 2),
        ("c1:1", "s1", "Oui bonjour", 2),
    ]
    assert (chunks[0].start, chunks[0].end) == (0.0, 0.9)
    assert (chunks[1].start, chunks[1].end) == (1.2, 2.0)


def test_blank_tokens_are_dropped_and_words_sorted_by_time() -> None:
    words = [Word("b", 1.0, 1.2, "s0"), Word(" ", 0.8, 1.0, "s0"), Word("a", 0.0, 0.5, "s0")]
    [chunk] = build_chunks("c", words)
    assert chunk.text == "a b"


def test_a_long_pause_closes_the_turn() -> None:
    words = _words(("un", 0.0, "s0"), ("deux", 0.5, "s0"), ("trois", 5.0, "s0"))
    assert [c.text for c in build_chunks("c", words, ChunkingRules(pause_seconds=3.0))] == ["un deux", "trois"]


def test_long_turns_are_split_by_duration_and_length() -> None:
    words = _words(*((f"w{i}", float(i), "s0") for i in range(25)))
    by_time = build_chunks("c", words, ChunkingRules(max_seconds=10.0))
    assert all(c.end - c.start <= 10.0 for c in by_time)
    assert sum(c.word_count for c in by_time) == 25
    by_length = build_chunks("c", words, ChunkingRules(max_chars=20))
    assert all(len(c.text) <= 20 for c in by_length)
    assert " ".join(c.text for c in by_length) == " ".join(w.text for w in words)
    assert [c.turn_index for c in by_length] == list(range(len(by_length)))


def test_no_words_no_chunks_and_missing_speaker_is_unknown() -> None:
    assert build_chunks("c", []) == []
    [chunk] = build_chunks("c", [Word("allo", 0.0, 0.3)])
    assert chunk.speaker == "unknown"


def test_ids_depend_only_on_the_recording() -> None:
    words = _words(("a", 0.0, "s0"), ("b", 1.0, "s1"))
    assert [c.chunk_id for c in build_chunks("call-9", words)] == [chunk_id("call-9", 0), chunk_id("call-9", 1)]
    assert build_chunks("call-9", words) == build_chunks("call-9", list(words))


def test_rules_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        ChunkingRules(max_seconds=0)
