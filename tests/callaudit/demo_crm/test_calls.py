"""Call content: transcripts with sound timings, and a ground truth that matches their words."""

from __future__ import annotations

import itertools
import string
from collections import Counter
from datetime import date, timedelta

import pytest

from callaudit.demo_crm import calls, phrases, segments
from callaudit.demo_crm.directory import build_directory
from callaudit.demo_crm.fiches import FicheCore, build_fiche
from callaudit.demo_crm.people import CITIES, FEMALE_FIRST_NAMES, LAST_NAMES, MALE_FIRST_NAMES, STREETS
from callaudit.demo_crm.products import FIRM_NAME, FORMER_INSURERS, FORMULAS

DAY = date(2025, 9, 25)


def fiches(seed: int = 21, days: int = 3, per_day: int = 12) -> list[FicheCore]:
    return [build_fiche(seed, DAY + timedelta(days=d), i, per_day) for d in range(days) for i in range(per_day)]


def template_text(phrasing: phrases.Phrasing) -> str:
    """A phrasing with neutral values in its fields (the agent's title is part of the wording)."""
    fields = {name for _, text in phrasing for _, name, _, _ in string.Formatter().parse(text) if name}
    values = {**dict.fromkeys(fields, "x"), "conseiller": "conseillère"}
    return " ".join(text for _, text in phrasing).format(**values)


def test_segment_keys_are_stable_and_exported_from_calls() -> None:
    assert calls.SEGMENTS == (
        "greeting", "agent_identity", "firm_orias", "recording_notice", "retention_period", "copy_right",
        "data_protection", "needs_discovery", "current_cover", "care_home_check", "solidarity_aid",
        "product_guarantees", "exclusions", "waiting_period", "price_fees", "cooling_off", "consent_signature",
    )  # fmt: skip
    assert calls.FIRM_ORIAS == "firm_orias"
    assert set(calls.SEGMENT_MARKERS) == set(calls.SEGMENTS) == set(calls.SEGMENT_LABELS)


def test_each_phrasing_reveals_its_segment_and_no_other() -> None:
    for key, variants in phrases.SEGMENT_PHRASINGS.items():
        assert len(variants) >= 3, key
        for phrasing in variants:
            assert segments.segments_in_text(template_text(phrasing)) == {key}, phrasing
    for phrasing in phrases.UNINSURED_CURRENT_COVER:
        assert segments.segments_in_text(template_text(phrasing)) == {segments.CURRENT_COVER}


def test_talk_around_segments_and_field_values_reveal_nothing() -> None:
    neutral = [
        *phrases.FILLERS, *phrases.HOLD, *phrases.CLOSINGS, *phrases.FOLLOW_UP_OPENERS,
        *phrases.CALLBACK_TALKS, *phrases.VOICEMAIL_TALKS,
    ]  # fmt: skip
    for phrasing in neutral:
        assert segments.segments_in_text(template_text(phrasing)) == set(), phrasing
    values = [
        *phrases.AGENT_BACKCHANNELS, *phrases.CLIENT_BACKCHANNELS, FIRM_NAME, *FEMALE_FIRST_NAMES,
        *MALE_FIRST_NAMES, *LAST_NAMES, *(c for c, _ in CITIES), *STREETS, *(n for n, _ in FORMER_INSURERS),
        *(f"{f.groupe} {f.gamme} {f.nom}" for f in FORMULAS),
    ]  # fmt: skip
    assert [v for v in values if segments.segments_in_text(v)] == []


def test_markers_are_normalised_like_asr_output() -> None:
    assert segments.normalised_words("l'O.R.I.A.S., Rétractation ; ENREGISTRÉ") == [
        "l", "orias", "retractation", "enregistre",
    ]  # fmt: skip


def test_transcripts_have_monotonic_words_inside_the_recording_and_alternating_turns() -> None:
    kinds: Counter[str] = Counter()
    for core in fiches():
        for rec in core.recordings:
            transcript = calls.build_transcript(core, rec)
            kinds[rec.kind] += 1
            assert transcript.duration_seconds == rec.duration_seconds
            words = transcript.words
            assert words, "every call has speech"
            assert words[0].start >= 0
            assert words[-1].end <= rec.duration_seconds
            for word, following in itertools.pairwise(words):
                assert word.start < word.end <= following.start, (rec.call_id, word, following)
            turns = transcript.turns
            assert turns[0].speaker == calls.SPEAKERS["agent"]
            assert all(a.speaker != b.speaker for a, b in itertools.pairwise(turns))
            assert " ".join(t.text for t in turns) == transcript.text
            speakers = {w.speaker for w in words}
            assert speakers == ({"speaker_0"} if rec.kind == "messagerie" else {"speaker_0", "speaker_1"})
            if rec.kind in calls.FILLED_KINDS:
                assert words[-1].end > rec.duration_seconds - 30, "long calls are talked through"
    assert set(kinds) == {"vente", "suivi", "rappel", "messagerie"}


def test_ground_truth_is_exactly_what_the_words_say() -> None:
    orias = Counter[bool]()
    for core in fiches():
        truth = calls.fiche_ground_truth(core)
        overall: set[str] = set()
        for rec, expected in zip(core.recordings, truth["recordings"], strict=True):
            transcript = calls.build_transcript(core, rec)
            said = segments.segments_in_text(transcript.text)
            assert said == set(expected["segments"]), rec.call_id
            assert list(transcript.segments) == expected["segments"]
            orias[calls.FIRM_ORIAS in said] += 1
            overall |= said
        assert set(truth["segments"]) == overall
        assert set(truth["missing"]) == set(calls.SEGMENTS) - overall
    assert orias[True], "the ORIAS segment is said in some calls"
    assert orias[False], "and omitted in others"


def test_segment_spans_hold_their_marker_words() -> None:
    core = next(c for c in fiches() if len(calls.segments_present(c, c.sale_call)) >= 8)
    transcript = calls.build_transcript(core, core.sale_call)
    for span in transcript.spans:
        inside = " ".join(w.text for w in transcript.words if span.start <= w.start and w.end <= span.end)
        assert span.segment in segments.segments_in_text(inside)


def test_transcripts_are_deterministic_and_depend_on_the_seed() -> None:
    core = build_fiche(5, DAY, 0, 12)
    first = calls.build_transcript(core, core.sale_call).as_json()
    calls.build_transcript.cache_clear()
    assert calls.build_transcript(core, core.sale_call).as_json() == first
    other = build_fiche(6, DAY, 0, 12)
    assert calls.build_transcript(other, other.sale_call).text != first["text"]


def test_transcript_json_shape() -> None:
    core = build_fiche(5, DAY, 1, 12)
    body = calls.build_transcript(core, core.sale_call).as_json()
    assert body["language"] == "fr"
    assert body["speakers"] == {"speaker_0": "agent", "speaker_1": "client"}
    assert set(body["words"][0]) == {"text", "start", "end", "speaker"}
    assert set(body["turns"][0]) == {"speaker", "role", "start", "end", "text"}
    assert {s["key"] for s in body["segments"]} <= set(calls.SEGMENTS)


def test_calls_name_the_fiche_agent_product_and_price() -> None:
    for core in fiches(days=1):
        truth = calls.fiche_ground_truth(core)["recordings"][[r.kind for r in core.recordings].index("vente")]
        text = calls.build_transcript(core, core.sale_call, 0.0).text
        if calls.AGENT_IDENTITY in truth["segments"]:
            assert core.agent.person.prenom in text
        if calls.PRODUCT_GUARANTEES in truth["segments"]:
            assert core.formula.nom in text
        if calls.PRICE_FEES in truth["segments"]:
            euros = f"{core.cotisation:.2f}".split(".")[0]
            assert f"{euros},{f'{core.cotisation:.2f}'[-2:]}" in text or f"{euros} euros" in text


@pytest.mark.parametrize("seed", [1, 2])
def test_directory_is_seeded_and_has_unique_names(seed: int) -> None:
    users = build_directory(seed).users
    assert len({u.id for u in users}) == len(users)
    assert len({u.person.display for u in users}) == len(users)


def test_sales_calls_say_the_18_point_scorecards_topics_in_some_fiches_only() -> None:
    said = Counter[str]()
    sales = 0
    for core in fiches():
        sales += 1
        said.update(set(calls.segments_present(core, core.sale_call)) & set(calls.SCORECARD_TOPICS))
    assert set(said) == set(calls.SCORECARD_TOPICS)
    assert all(0 < n < sales for n in said.values()), said  # both labels occur for every topic


def test_adding_the_scorecard_topics_left_every_other_segments_draw_as_it_was() -> None:
    from callaudit.demo_crm.calls import SEGMENT_PRESENCE, _phrasings
    from callaudit.demo_crm.seeding import derive_rng

    for core in fiches(days=2):
        for rec in core.recordings:
            if rec.kind != "vente":
                continue
            rng = derive_rng(core.seed, "call-plan", rec.call_id)  # the draws before the topics existed
            before = []
            for key in (k for k in calls.SEGMENTS if k not in calls.SCORECARD_TOPICS):
                if rng.random() < SEGMENT_PRESENCE[rec.kind].get(key, 0.0):
                    before.append((key, rng.choice(_phrasings(core, key))))
            plan = [(b.segment, b.lines) for b in calls._plan(core, rec) if b.segment not in calls.SCORECARD_TOPICS]
            assert plan[: len(before)] == before
