"""Transcript tools over hand-made timelines: scoring, ordering, clamps, neighbours, budgets."""

from __future__ import annotations

import json

import pytest

from domain.audits.tools import (
    FETCH_TOOL,
    SEARCH_TOOL,
    ToolLimits,
    get_transcript_chunks,
    query_terms,
    run_tool,
    search_transcript,
    tool_definitions,
)
from tests.fixtures.factories.timelines import FOLLOW_UP, SALE_CALL, timeline


def test_terms_are_normalised_distinct_and_long_enough() -> None:
    assert query_terms("Délai de RÉTRACTATION, délai; a OK", 3) == ["delai", "retractation"]
    assert query_terms("de la ORIAS", 2) == ["de", "la", "orias"]
    assert len(query_terms(" ".join(f"mot{i}" for i in range(60)), 3)) == 40


def test_search_scores_by_terms_contained_and_sorts_by_score_then_position() -> None:
    tl = timeline(SALE_CALL, FOLLOW_UP)
    result = search_transcript(tl, "cotisation euros mois signature")
    matches = result["matches"]
    # "quarante-deux euros par mois ... cotisation" holds 3 terms; "combien ... par mois" 1; signature 1.
    assert [(m["recording_index"], m["chunk_index"], m["score"]) for m in matches] == [(0, 8, 3), (0, 7, 1), (1, 0, 1)]
    best = matches[0]
    assert best["chunk_id"] == "call0:8"
    assert best["minutage"] == "00:44"
    assert best["minutage_secondes"] == 44.0
    assert best["speaker"] == "speaker_0"
    assert best["recording_date"] == "25/09/2025"
    assert best["recording_url"].endswith("call0.wav")
    assert best["preview_text"] == SALE_CALL[8][1]
    assert result["total_matches"] == 3
    assert result["total_chunks"] == 12


def test_search_matches_accent_free_substrings() -> None:
    result = search_transcript(timeline(SALE_CALL), "RETRACTATION hospitalisation")
    assert {(m["chunk_index"], m["score"]) for m in result["matches"]} == {(9, 1), (5, 1)}


def test_search_clamps_max_results_and_min_term_length() -> None:
    tl = timeline(SALE_CALL)
    assert search_transcript(tl, "a de la", min_term_length=1)["terms"] == ["de", "la"]  # clamped to 2
    assert search_transcript(tl, "cotisation mois", min_term_length=20)["terms"] == ["cotisation"]  # clamped to 8
    assert len(search_transcript(tl, "mois", max_results=0)["matches"]) == 1  # clamped to 1
    assert len(search_transcript(tl, "mois", max_results=500)["matches"]) == 2


def test_search_without_terms_gives_a_hint() -> None:
    result = search_transcript(timeline(SALE_CALL), "a b !")
    assert result["matches"] == []
    assert "hint" in result


def test_long_previews_are_cut() -> None:
    tl = timeline([("speaker_0", "garantie " * 100)])
    preview = search_transcript(tl, "garantie")["matches"][0]["preview_text"]
    assert len(preview) == 450
    assert preview.endswith("…")


def test_fetch_dedupes_expands_neighbours_drops_unknown_and_sorts() -> None:
    tl = timeline(SALE_CALL, FOLLOW_UP)
    refs = [
        {"recording_index": 1, "chunk_index": 0},
        {"recording_index": 0, "chunk_index": 0},
        {"recording_index": 1, "chunk_index": 0},
        {"recording_index": 7, "chunk_index": 0},
    ]
    result = get_transcript_chunks(tl, refs, include_neighbors=1)
    assert [(c["recording_index"], c["chunk_index"]) for c in result["chunks"]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert result["requested"] == 3
    assert result["unknown_refs"] == [{"recording_index": 7, "chunk_index": 0}]
    assert result["chunks"][2]["full_text"] == FOLLOW_UP[0][1]
    assert result["truncated"] is False


def test_fetch_caps_requested_refs_and_neighbours() -> None:
    tl = timeline(SALE_CALL)
    refs = [{"recording_index": 0, "chunk_index": i} for i in range(10)]
    result = get_transcript_chunks(tl, refs, include_neighbors=9, limits=ToolLimits(max_chunk_fetch=2))
    # Two refs kept, neighbours clamped to 2 each side: chunks 0..3.
    assert [c["chunk_index"] for c in result["chunks"]] == [0, 1, 2, 3]
    assert result["ignored_refs"] == 8


def test_fetch_respects_the_character_budget() -> None:
    tl = timeline([("speaker_0", "x" * 900), ("speaker_1", "y" * 900)])
    refs = [{"recording_index": 0, "chunk_index": 0}, {"recording_index": 0, "chunk_index": 1}]
    result = get_transcript_chunks(tl, refs, max_chars=10)  # clamped up to 1000
    assert result["max_chars"] == 1000
    first, second = result["chunks"]
    assert first["full_text"] == "x" * 900
    assert first["truncated"] is False
    assert second["full_text"] == "y" * 99 + "…"
    assert second["truncated"] is True
    assert result["truncated"] is True
    assert result["total_chars"] == 1000


def test_tool_schemas_are_strict() -> None:
    tools = {t["function"]["name"]: t["function"] for t in tool_definitions()}
    assert set(tools) == {SEARCH_TOOL, FETCH_TOOL}
    for function in tools.values():
        assert function["strict"] is True
        params = function["parameters"]
        assert params["additionalProperties"] is False
        assert sorted(params["required"]) == sorted(params["properties"])
    ref = tools[FETCH_TOOL]["parameters"]["properties"]["chunks"]["items"]
    assert ref["additionalProperties"] is False
    assert sorted(ref["required"]) == ["chunk_index", "recording_index"]


@pytest.mark.parametrize(
    ("name", "arguments", "key"),
    [
        (SEARCH_TOOL, json.dumps({"query": "ORIAS", "max_results": None, "min_term_length": None}), "matches"),
        (
            FETCH_TOOL,
            json.dumps(
                {"chunks": [{"recording_index": 0, "chunk_index": 2}], "include_neighbors": None, "max_chars": None}
            ),
            "chunks",
        ),
        (SEARCH_TOOL, "{not json", "error"),
        ("delete_everything", "{}", "error"),
    ],
)
def test_run_tool_dispatches_and_reports_bad_calls(name: str, arguments: str, key: str) -> None:
    result = run_tool(timeline(SALE_CALL), name, arguments)
    assert key in result
    if key != "error":
        assert result[key][0]["chunk_index"] == 2


def test_non_finite_numbers_from_the_model_fall_back_to_the_defaults() -> None:
    # Python's JSON parser accepts NaN and Infinity; a tool call must not crash on them
    tl = timeline(SALE_CALL)
    search = run_tool(tl, SEARCH_TOOL, '{"query": "cotisation", "max_results": NaN, "min_term_length": Infinity}')
    assert search["terms"] == ["cotisation"]
    fetch = run_tool(
        tl,
        FETCH_TOOL,
        '{"chunks": [{"recording_index": 0, "chunk_index": 2}], "include_neighbors": -Infinity, "max_chars": NaN}',
    )
    assert (fetch["max_chars"], [c["chunk_index"] for c in fetch["chunks"]]) == (20_000, [2])
