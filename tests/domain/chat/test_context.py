"""The chat context: bounded by tokens, not by a message count; tools mode when the timeline does not fit."""

from __future__ import annotations

import dataclasses
import json

from domain.audits.timeline import count_tokens
from domain.chat.citations import CitationClaim, validate
from domain.chat.context import (
    BUDGET_EXHAUSTED,
    FicheBrief,
    fit_tool_result,
    plan_context,
    request_tokens,
    summary_prompt,
)
from domain.chat.extractive import LABEL, extractive_answer
from tests.fixtures.factories.timelines import SALE_CALL, long_timeline, timeline

FICHE = FicheBrief("F1", "Anne Roux", None, None, "Groupe A", 2, 2, 3.0)
SUMMARY = summary_prompt(FICHE, None, [])


def test_the_timeline_goes_in_the_prompt_when_it_fits() -> None:
    plan = plan_context(SUMMARY, timeline(SALE_CALL), [], "Question ?", budget=20_000)
    assert plan.mode == "prompt"
    assert "CHRONOLOGIE" in plan.messages[0]["content"]
    assert "en français" in plan.messages[0]["content"]  # French answers by default
    assert [t["function"]["name"] for t in plan.tools] == ["citer_passages"]
    assert plan.tokens == request_tokens(plan.messages, plan.tools) <= 20_000


def test_a_timeline_beyond_the_budget_is_left_to_the_transcript_tools() -> None:
    big = long_timeline(800)
    plan = plan_context(SUMMARY, big, [], "Question ?", budget=8_000)
    assert plan.mode == "tools"
    assert "CHRONOLOGIE" not in plan.messages[0]["content"]
    assert {t["function"]["name"] for t in plan.tools} == {
        "search_transcript",
        "get_transcript_chunks",
        "citer_passages",
    }
    assert plan.tokens <= 8_000


def test_history_is_kept_newest_first_while_it_fits() -> None:
    history = [("user" if i % 2 == 0 else "assistant", f"message {i} " + "mot " * 400) for i in range(40)]
    plan = plan_context(SUMMARY, timeline(SALE_CALL), history, "Dernière ?", budget=12_000)
    kept = plan.messages[1:-1]
    assert 0 < plan.history_kept == len(kept) < 40
    assert [m["content"] for m in kept] == [content for _, content in history[-len(kept) :]]
    assert plan.tokens <= 12_000


def test_a_tool_result_is_cut_to_the_room_left() -> None:
    result = {"chunks": [{"full_text": "mot " * 200, "n": i} for i in range(30)]}
    fitted = fit_tool_result(result, 1_000)
    assert count_tokens(fitted) <= 1_000
    assert json.loads(fitted)["truncated_for_budget"] is True
    assert fit_tool_result({"other": "x" * 10_000}, 100) == json.dumps(BUDGET_EXHAUSTED, ensure_ascii=False)


def test_citations_are_checked_like_audit_evidence() -> None:
    tl = timeline(SALE_CALL)
    claims = [
        # ASR noise and numbers in words: found; located from the timeline, not from the model
        CitationClaim(texte="un délai de rétractation de 14 jours", recording_index=0, chunk_index=9),
        # off by one chunk: re-pointed to the chunk that holds it
        CitationClaim(texte="cet appel est enregistré, vous pouvez vous y opposer", recording_index=0, chunk_index=4),
        CitationClaim(texte="la cotisation est gratuite", recording_index=0, chunk_index=8),  # not said
        CitationClaim(texte="Bonjour", recording_index=0, chunk_index=1),  # too short to prove anything
        CitationClaim(texte="Je vous informe que cet appel", recording_index=5, chunk_index=0),  # no such recording
    ]
    validated = validate(claims, tl, min_quote_chars=12)
    assert [(c["chunk_index"], c["call_id"]) for c in validated.citations] == [(9, "call0"), (3, "call0")]
    chunk = tl.recordings[0].chunks[9]
    assert chunk.start <= validated.citations[0]["start_seconds"] < chunk.end
    assert validated.rejected == 3


def test_a_quote_said_by_the_other_role_than_claimed_is_rejected() -> None:
    tl = timeline(SALE_CALL)
    recording = tl.recordings[0]
    chunks = tuple(
        dataclasses.replace(c, role="agent" if c.speaker == "speaker_0" else "client") for c in recording.chunks
    )
    tl = dataclasses.replace(tl, recordings=(dataclasses.replace(recording, chunks=chunks),))
    quote = "La cotisation est de quarante-deux euros par mois"
    as_client = CitationClaim(texte=quote, recording_index=0, chunk_index=8, role="client")
    as_agent = CitationClaim(texte=quote, recording_index=0, chunk_index=8, role="agent")
    assert validate([as_client], tl, min_quote_chars=12).rejected == 1
    assert validate([as_agent], tl, min_quote_chars=12).citations[0]["role"] == "agent"


def test_the_extractive_answer_is_labelled_and_cites_the_closest_passage() -> None:
    answer = extractive_answer("Quel est le délai de rétractation ?", timeline(SALE_CALL), min_quote_chars=12)
    assert answer.text.startswith(LABEL)
    assert answer.citations[0]["chunk_index"] == 9
    nothing = extractive_answer("Quelle couleur ?", timeline(SALE_CALL), min_quote_chars=12)
    assert nothing.citations == []
    assert "aucun passage" in nothing.text
