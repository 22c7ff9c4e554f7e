"""Invariants of the labelled evaluation corpus (`benchmarks/evaluation`): coverage of every control
point, the dev/test split by family, determinism, diarisation and the share of compliant fiches."""

from __future__ import annotations

import json
from collections import Counter
from functools import cache

import pytest
from evaluation.corpus import LabelledFiche, Split, build_corpus, load_bank
from evaluation.model import DISTRACTOR_KINDS
from evaluation.scorecards import DEMO_PATH, NCA18_PATH, PLANS, ScorecardName, load_spec
from evaluation.voice import number_words

HALVES: list[tuple[ScorecardName, Split]] = [("demo", "dev"), ("demo", "test"), ("nca18", "dev"), ("nca18", "test")]
SCORECARDS = sorted({scorecard for scorecard, _ in HALVES})


@cache
def corpus(scorecard: ScorecardName, split: Split, fiches: int = 300) -> list[LabelledFiche]:
    return build_corpus(scorecard, split, fiches)


def step_sizes(path) -> tuple[int, ...]:
    document = json.loads(path.read_text(encoding="utf-8"))
    return tuple(len(step["controlPoints"]) for step in sorted(document["auditSteps"], key=lambda s: s["position"]))


def test_plans_match_the_scorecard_files():
    assert PLANS["demo"].step_sizes == step_sizes(DEMO_PATH)
    document = json.loads(DEMO_PATH.read_text(encoding="utf-8"))
    assert PLANS["demo"].critical_steps == {s["position"] for s in document["auditSteps"] if s["isCritical"]}
    if not NCA18_PATH.exists():
        pytest.skip(f"{NCA18_PATH} is absent: the 18-point scorecard is checked where the shared fixtures are")
    assert PLANS["nca18"].step_sizes == step_sizes(NCA18_PATH)
    document = json.loads(NCA18_PATH.read_text(encoding="utf-8"))
    assert PLANS["nca18"].critical_steps == {s["position"] for s in document["auditSteps"] if s["isCritical"]}


@pytest.mark.parametrize("scorecard", SCORECARDS)
def test_the_plan_keys_are_the_spec_control_points(scorecard):
    try:
        spec = load_spec(scorecard)
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    keys = [(step.position, index) for step in spec.steps for index in range(1, len(step.control_points) + 1)]
    assert keys == PLANS[scorecard].points
    assert {step.position for step in spec.steps if step.is_critical} == PLANS[scorecard].critical_steps


@pytest.mark.parametrize(("scorecard", "split"), HALVES)
def test_every_fiche_labels_every_control_point(scorecard, split):
    points = set(PLANS[scorecard].points)
    for fiche in corpus(scorecard, split):
        assert set(fiche.labels) == points
        assert set(fiche.labels.values()) <= {"present", "absent", "na"}


@pytest.mark.parametrize(("scorecard", "split"), HALVES)
def test_every_point_has_paraphrase_families_in_the_half(scorecard, split):
    bank = load_bank(scorecard, split)
    for step, index in PLANS[scorecard].points:
        kinds = Counter(f.kind for f in bank.get(f"{step}.{index}", ()))
        assert kinds["present"] >= 2, (step, index)


@pytest.mark.parametrize(("scorecard", "split"), HALVES)
def test_every_half_has_every_kind_of_distractor(scorecard, split):
    kinds = {f.kind for families in load_bank(scorecard, split).values() for f in families}
    assert kinds >= DISTRACTOR_KINDS


@pytest.mark.parametrize(("scorecard", "split"), HALVES)
def test_every_point_is_seen_present_and_absent(scorecard, split):
    seen: dict[tuple[int, int], set[str]] = {}
    for fiche in corpus(scorecard, split):
        for key, label in fiche.labels.items():
            seen.setdefault(key, set()).add(label)
    for key, labels in seen.items():
        assert {"present", "absent"} <= labels, key


@pytest.mark.parametrize("scorecard", SCORECARDS)
def test_no_family_or_phrasing_is_in_both_halves(scorecard):
    halves = [split for name, split in HALVES if name == scorecard]
    if len(halves) < 2:
        pytest.skip(f"only the {halves} half of {scorecard} is written")
    dev, test = (load_bank(scorecard, split) for split in ("dev", "test"))
    dev_families = {f for families in dev.values() for f in families}
    test_families = {f for families in test.values() for f in families}
    assert not {f.id for f in dev_families} & {f.id for f in test_families}
    assert not {p for f in dev_families for p in f.phrasings} & {p for f in test_families for p in f.phrasings}


@pytest.mark.parametrize(("scorecard", "split"), HALVES)
def test_a_fiche_uses_only_its_half(scorecard, split):
    own = {f.id for families in load_bank(scorecard, split).values() for f in families}
    for fiche in corpus(scorecard, split):
        assert set(fiche.families.values()) <= own


@pytest.mark.parametrize(("scorecard", "split"), HALVES)
def test_families_agree_with_labels(scorecard, split):
    bank = load_bank(scorecard, split)
    kinds = {f.id: f.kind for families in bank.values() for f in families}
    plan = PLANS[scorecard]
    for fiche in corpus(scorecard, split):
        for key, label in fiche.labels.items():
            family = fiche.families.get(key)
            if label == "present":
                assert family is not None
                assert kinds[family] == "present"
            elif label == "na":
                assert family is None
                assert plan.rule(key).needs is not None
            elif plan.rule(key).behaviour:
                assert family is not None
                assert kinds[family] == "counter"
            else:
                assert family is None or kinds[family] in DISTRACTOR_KINDS


@pytest.mark.parametrize(("scorecard", "split"), HALVES)
def test_about_half_the_fiches_are_compliant(scorecard, split):
    plan = PLANS[scorecard]
    fiches = corpus(scorecard, split)
    compliant = sum(
        all(f.labels[key] in ("present", "na") for key in plan.points if key[0] in plan.critical_steps) for f in fiches
    )
    assert 0.4 <= compliant / len(fiches) <= 0.6


@pytest.mark.parametrize(("scorecard", "split"), HALVES)
def test_about_a_third_of_absent_points_carry_a_distractor(scorecard, split):
    plan = PLANS[scorecard]
    absent = [
        (fiche, key)
        for fiche in corpus(scorecard, split)
        for key, label in fiche.labels.items()
        if label == "absent" and not plan.rule(key).behaviour
    ]
    with_distractor = sum(key in fiche.families for fiche, key in absent)
    assert 0.2 <= with_distractor / len(absent) <= 0.4


@pytest.mark.parametrize(("scorecard", "split"), HALVES)
def test_the_agent_label_varies_and_chunks_carry_no_role(scorecard, split):
    fiches = corpus(scorecard, split)
    labels = Counter(label for fiche in fiches for label in fiche.agent_speakers.values())
    assert set(labels) == {"speaker_0", "speaker_1"}
    assert min(labels.values()) / sum(labels.values()) > 0.3
    for fiche in fiches[:50]:
        calls = {recording.call_id for recording in fiche.timeline.recordings}
        assert set(fiche.agent_speakers) == calls
        assert 1 <= len(calls) <= 3
        assert {chunk.role for chunk in fiche.timeline.chunks()} == {"unknown"}
        assert len({chunk.speaker for chunk in fiche.timeline.chunks()}) == 2


@pytest.mark.parametrize(("scorecard", "split"), HALVES)
def test_chunks_are_timed_like_stored_transcripts(scorecard, split):
    for fiche in corpus(scorecard, split)[:30]:
        for recording in fiche.timeline.recordings:
            previous_end = 0.0
            for chunk in recording.chunks:
                assert chunk.text == " ".join(word.text for word in chunk.words)
                assert previous_end <= chunk.start < chunk.end
                assert all(w.start < w.end for w in chunk.words)
                previous_end = chunk.end
            assert recording.duration_seconds is not None
            assert recording.duration_seconds >= previous_end


@pytest.mark.parametrize(("scorecard", "split"), HALVES)
def test_the_same_seed_gives_the_same_corpus(scorecard, split):
    def digest(fiches: list[LabelledFiche]) -> list[object]:
        return [(f.timeline.version, f.labels, f.families, f.agent_speakers, f.advisor_name) for f in fiches]

    first = build_corpus(scorecard, split, 12, seed=3)
    assert digest(first) == digest(build_corpus(scorecard, split, 12, seed=3))
    assert digest(first) != digest(build_corpus(scorecard, split, 12, seed=4))


def test_the_advisor_on_the_fiche_introduces_themself_under_the_agent_label():
    introduced = heard = 0
    for fiche in corpus("demo", "dev"):
        if fiche.labels[1, 2] != "present":
            continue
        introduced += 1
        last = fiche.advisor_name.split(" ", 1)[1].lower()
        heard += any(
            last in chunk.text.lower() and chunk.speaker == fiche.agent_speakers[chunk.call_id]
            for chunk in fiche.timeline.chunks()
        )
    assert heard / introduced > 0.9


def test_unknown_scorecard_or_split_is_refused():
    with pytest.raises(ValueError, match="scorecard"):
        build_corpus("other", "dev", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="split"):
        build_corpus("demo", "train", 1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("number", "words"),
    [
        (14, "quatorze"),
        (21, "vingt et un"),
        (71, "soixante et onze"),
        (77, "soixante-dix-sept"),
        (80, "quatre-vingts"),
        (81, "quatre-vingt-un"),
        (91, "quatre-vingt-onze"),
        (200, "deux cents"),
        (1280, "mille deux cent quatre-vingts"),
        (2000, "deux mille"),
        (1958, "mille neuf cent cinquante-huit"),
        (80000, "quatre-vingt mille"),
    ],
)
def test_numbers_are_spoken_in_french(number, words):
    assert number_words(number) == words
