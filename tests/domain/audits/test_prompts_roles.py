"""The LLM path gets the speaker roles: in the timeline, the transcript tools and the whose-words rule per point."""

from __future__ import annotations

import dataclasses

from domain.audits.prompts import prompt_messages, step_part, system_message
from domain.audits.scorecard import SpeakerRule
from domain.audits.timeline import Timeline, render_timeline
from domain.audits.tools import get_transcript_chunks, search_transcript
from domain.transcripts.roles import assign_roles
from tests.fixtures.factories.timelines import FOLLOW_UP, SALE_CALL, sample_scorecard, timeline


def _with_roles(tl: Timeline) -> Timeline:
    return dataclasses.replace(
        tl, recordings=tuple(assign_roles(r, firm_names=("Net Courtage Assurance",)) for r in tl.recordings)
    )


def test_the_timeline_names_each_speakers_role_and_stays_deterministic() -> None:
    tl = _with_roles(timeline(SALE_CALL, FOLLOW_UP))
    text = render_timeline(tl)

    assert "Speakers: speaker_0 (conseiller)\nspeaker_0: Bonjour madame Roux" in text
    assert "Speakers: speaker_1 (client)\nspeaker_1: Bonjour monsieur." in text
    assert "Rôles des locuteurs (confiance): " in text
    assert text == render_timeline(_with_roles(timeline(SALE_CALL, FOLLOW_UP)))
    card = sample_scorecard()
    heads = {prompt_messages(card, step, tl)[1]["content"].split("=== ÉTAPE")[0] for step in card.steps}
    assert len(heads) == 1  # still one shared prefix for every step


def test_unknown_roles_render_the_bare_label_as_before() -> None:
    text = render_timeline(timeline(SALE_CALL))
    assert "Speakers: speaker_0\nspeaker_0: Bonjour madame Roux" in text
    assert "Rôles des locuteurs" not in text


def test_transcript_tools_return_the_role() -> None:
    tl = _with_roles(timeline(SALE_CALL))
    [match, *_] = search_transcript(tl, "combien coûte mois")["matches"]
    assert (match["speaker"], match["role"]) == ("speaker_1", "client")
    fetched = get_transcript_chunks(tl, [{"recording_index": 0, "chunk_index": 0}])
    assert fetched["chunks"][0]["role"] == "agent"


def test_each_point_says_whose_words_count() -> None:
    card = sample_scorecard()
    step = dataclasses.replace(card.steps[1], point_speakers=(SpeakerRule.AGENT, SpeakerRule.CLIENT))
    text = step_part(card, step)

    assert "QUI DOIT LE DIRE :\nPoint 1 (paroles du conseiller)\nPoint 2 (paroles du client)" in text
    assert "Point 3 (paroles du conseiller)" in step_part(card, card.steps[0])  # the default
    for tools in (True, False):
        assert "les propos du client ne\n  prouvent pas ce que le conseiller doit dire" in system_message(
            card, tools=tools
        )


def test_the_timeline_version_follows_the_roles() -> None:
    plain = timeline(SALE_CALL)
    assert _with_roles(plain).version != plain.version  # audits made before roles are not reused
    assert _with_roles(plain).version == _with_roles(timeline(SALE_CALL)).version
