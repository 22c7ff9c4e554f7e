"""Evidence gating (reference §7.6, improved) on hand-made steps and timelines."""

from __future__ import annotations

import pytest

from domain.audits.gating import (
    NO_VALID_CITATION_NOTE,
    GatingRules,
    RejectReason,
    derive_step,
    gate_step,
)
from domain.audits.matching import MatchKind
from domain.audits.schema import Conformity, Level, PointStatus
from tests.fixtures.factories.timelines import cite, output, point, step, timeline

RULES = GatingRules(enabled=True, min_quote_chars=12)
AGENT, CLIENT = "speaker_0", "speaker_1"
TIMELINE = timeline(
    [
        (AGENT, "Bonjour madame Martin, je suis Paul Durand, votre conseiller."),  # words 0-8, 0.0 s
        (CLIENT, "Oui bonjour."),
        (AGENT, "Je vous informe que cet appel est enregistré, vous pouvez vous y opposer."),
        (CLIENT, "D'accord, pas de problème."),
    ],
    [
        (AGENT, "Vous disposez d'un délai de rétractation de quatorze jours."),
    ],
)


def test_a_quote_found_in_its_chunk_takes_timings_speaker_and_recording_from_the_timeline() -> None:
    gated = gate_step(
        step(), output(point(PointStatus.PRESENT, cite("cet appel est enregistré", 0, 2))), TIMELINE, RULES
    )
    [citation] = gated.points[0].citations
    chunk = TIMELINE.recordings[0].chunks[2]
    assert (citation.chunk_id, citation.speaker, citation.match, citation.similarity) == (
        "call0:2",
        AGENT,
        MatchKind.EXACT,
        1.0,
    )
    assert citation.start_seconds == chunk.words[4].start
    assert citation.end_seconds == chunk.words[7].end
    assert citation.minutage == "00:09"
    assert citation.matched_text == "cet appel est enregistré,"
    assert (citation.recording_date, citation.recording_time) == ("25/09/2025", "10:05")
    assert citation.recording_url == "https://recordings.example.invalid/call0.wav"
    assert gated.points[0].statut is PointStatus.PRESENT
    assert gated.score == 10
    assert gated.stats.citations_valid == 1
    assert gated.stats.citations_removed == 0


def test_an_invented_quote_is_removed_and_its_point_downgraded() -> None:
    result = output(point(PointStatus.PRESENT, cite("le numéro ORIAS est le 21004587", 0, 0)), score=10)
    gated = gate_step(step(), result, TIMELINE, RULES)
    [gated_point] = gated.points
    assert gated_point.statut is PointStatus.ABSENT
    assert gated_point.downgraded
    assert gated_point.original_statut is PointStatus.PRESENT
    assert gated_point.commentaire.endswith(NO_VALID_CITATION_NOTE)
    assert [r.reason for r in gated_point.rejected] == [RejectReason.NOT_FOUND]
    assert (gated.score, gated.conforme, gated.niveau_conformite) == (0, Conformity.NON_CONFORME, Level.INSUFFISANT)
    assert gated.stats.score_lowered
    assert gated.stats.conformity_lowered
    assert gated.stats.removed_by_reason == {"not_found": 1}
    assert gated.stats.points_downgraded == 1
    assert "[Auto-check] Score ajusté à la baisse : 10 → 0" in gated.commentaire_global


@pytest.mark.parametrize(
    ("citation", "reason"),
    [
        (cite("cet appel est enregistré", 5, 0), RejectReason.UNKNOWN_CHUNK),
        (cite("cet appel est enregistré", 0, 9), RejectReason.UNKNOWN_CHUNK),
        (cite("Oui bonjour.", 0, 1), RejectReason.TOO_SHORT),  # 11 characters once normalised
    ],
)
def test_unknown_chunks_and_short_quotes_are_rejected(citation: object, reason: RejectReason) -> None:
    gated = gate_step(step(), output(point(PointStatus.PRESENT, citation)), TIMELINE, RULES)  # type: ignore[arg-type]
    assert [r.reason for r in gated.points[0].rejected] == [reason]


def test_minimum_quote_length_is_a_parameter() -> None:
    gated = gate_step(
        step(), output(point(PointStatus.PRESENT, cite("Oui bonjour.", 0, 1))), TIMELINE, GatingRules(min_quote_chars=5)
    )
    assert gated.points[0].statut is PointStatus.PRESENT


def test_a_quote_running_into_the_next_chunk_is_kept_to_its_last_word() -> None:
    quote = "vous pouvez vous y opposer. D'accord, pas de problème."
    gated = gate_step(step(), output(point(PointStatus.PRESENT, cite(quote, 0, 2))), TIMELINE, RULES)
    [citation] = gated.points[0].citations
    last = TIMELINE.recordings[0].chunks[3]
    assert (citation.chunk_index, citation.last_chunk_index) == (2, 3)
    assert citation.end_seconds == last.words[-1].end
    assert gated.stats.citations_spanning_chunks == 1


def test_an_off_by_one_chunk_index_is_repointed() -> None:
    gated = gate_step(
        step(), output(point(PointStatus.PRESENT, cite("cet appel est enregistré", 0, 3))), TIMELINE, RULES
    )
    [citation] = gated.points[0].citations
    assert (citation.chunk_index, citation.chunk_id, citation.repointed) == (2, "call0:2", True)
    assert gated.stats.citations_repointed == 1


def test_a_quote_two_chunks_away_is_not_searched() -> None:
    gated = gate_step(
        step(), output(point(PointStatus.PRESENT, cite("cet appel est enregistré", 0, 0))), TIMELINE, RULES
    )
    assert gated.points[0].statut is PointStatus.ABSENT


def test_a_quote_of_another_recording_is_not_accepted() -> None:
    quote = "un délai de rétractation de quatorze jours"
    gated = gate_step(step(), output(point(PointStatus.PRESENT, cite(quote, 0, 2))), TIMELINE, RULES)
    assert gated.points[0].statut is PointStatus.ABSENT
    ok = gate_step(step(), output(point(PointStatus.PRESENT, cite(quote, 1, 0))), TIMELINE, RULES)
    assert ok.points[0].citations[0].chunk_id == "call1:0"


def test_asr_noisy_quote_within_tolerance_is_accepted() -> None:
    quote = "un délai de rétraction de quatorz jours"  # two misheard words, each within tolerance
    gated = gate_step(step(), output(point(PointStatus.PRESENT, cite(quote, 1, 0))), TIMELINE, RULES)
    [citation] = gated.points[0].citations
    assert citation.match is MatchKind.TOLERANT
    assert citation.similarity < 1.0
    assert gated.points[0].erreur_transcription_notee
    assert gated.stats.citations_tolerant == 1


def test_asr_noisy_quote_beyond_tolerance_is_rejected() -> None:
    quote = "un délai de réflexion de quinze jours"  # two different words in 7 tokens
    gated = gate_step(step(), output(point(PointStatus.PRESENT, cite(quote, 1, 0))), TIMELINE, RULES)
    assert gated.points[0].statut is PointStatus.ABSENT


def test_absent_and_non_applicable_points_lose_their_citations() -> None:
    good = cite("cet appel est enregistré", 0, 2)
    result = output(
        point(PointStatus.PRESENT, good),
        point(PointStatus.ABSENT, good),
        point(PointStatus.NON_APPLICABLE, good),
    )
    gated = gate_step(step(points=("a", "b", "c")), result, TIMELINE, RULES)
    assert [len(p.citations) for p in gated.points] == [1, 0, 0]
    assert [p.minutages for p in gated.points] == [("00:09",), (), ()]
    assert [r.reason for r in gated.points[1].rejected] == [RejectReason.POINT_NOT_SUPPORTED]
    # ratio over applicable points: (1 + 0) / 2 = 0.5 -> PARTIEL, score 5 of 10
    assert (gated.score, gated.conforme, gated.niveau_conformite) == (5, Conformity.PARTIEL, Level.ACCEPTABLE)
    assert gated.minutages == ("00:09",)


def test_score_is_only_lowered_never_raised() -> None:
    good = cite("cet appel est enregistré", 0, 2)
    gated = gate_step(
        step(weight=10), output(point(PointStatus.PRESENT, good), score=3, conforme=Conformity.PARTIEL), TIMELINE, RULES
    )
    assert gated.score == 3
    assert not gated.stats.score_lowered
    assert gated.conforme is Conformity.PARTIEL  # derived CONFORME is not stricter: kept


def test_score_above_weight_is_capped() -> None:
    gated = gate_step(
        step(weight=4),
        output(point(PointStatus.PRESENT, cite("cet appel est enregistré", 0, 2)), score=9),
        TIMELINE,
        RULES,
    )
    assert gated.score == 4
    assert not gated.stats.score_lowered


def test_conformity_only_made_stricter() -> None:
    good = cite("cet appel est enregistré", 0, 2)
    result = output(
        point(PointStatus.PRESENT, good),
        point(PointStatus.PARTIEL, good),
        score=10,
        conforme=Conformity.NON_CONFORME,
        niveau=Level.INSUFFISANT,
    )
    gated = gate_step(step(points=("a", "b")), result, TIMELINE, RULES)
    # ratio 0.75 derives PARTIEL, laxer than the auditor's NON_CONFORME: the verdict stays
    assert (gated.conforme, gated.niveau_conformite) == (Conformity.NON_CONFORME, Level.INSUFFISANT)
    assert gated.score == 8  # round(0.75 * 10) lowers the score


def test_a_point_the_auditor_skipped_counts_absent() -> None:
    gated = gate_step(
        step(points=("a", "b")),
        output(point(PointStatus.PRESENT, cite("cet appel est enregistré", 0, 2))),
        TIMELINE,
        RULES,
    )
    assert [p.statut for p in gated.points] == [PointStatus.PRESENT, PointStatus.ABSENT]
    assert gated.stats.points_missing == 1
    assert gated.score == 5


def test_disabled_gating_locates_citations_but_changes_nothing() -> None:
    result = output(
        point(PointStatus.PRESENT, cite("invented words that are nowhere", 0, 0)),
        point(PointStatus.PRESENT, cite("cet appel est enregistré", 0, 2)),
        score=10,
    )
    gated = gate_step(step(points=("a", "b")), result, TIMELINE, GatingRules(enabled=False))
    assert [p.statut for p in gated.points] == [PointStatus.PRESENT, PointStatus.PRESENT]
    assert (gated.score, gated.conforme, gated.minutages) == (10, Conformity.CONFORME, ("99:99",))
    assert gated.points[1].citations[0].start_seconds == TIMELINE.recordings[0].chunks[2].words[4].start
    assert gated.stats.citations_removed == 1
    assert not gated.stats.enabled


def test_failed_steps_are_marked() -> None:
    result = output(point(PointStatus.ABSENT), score=0, conforme=Conformity.NON_CONFORME, niveau=Level.INSUFFISANT)
    gated = gate_step(step(), result, TIMELINE, RULES, failed=True, error="timeout")
    assert (gated.failed, gated.error, gated.score) == (True, "timeout", 0)


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([], (1.0, 10, Conformity.CONFORME, Level.EXCELLENT)),
        ([PointStatus.NON_APPLICABLE], (1.0, 10, Conformity.CONFORME, Level.EXCELLENT)),
        ([PointStatus.PRESENT] * 9 + [PointStatus.PARTIEL], (0.95, 10, Conformity.CONFORME, Level.EXCELLENT)),
        ([PointStatus.PRESENT] * 6 + [PointStatus.ABSENT], (6 / 7, 9, Conformity.CONFORME, Level.BON)),
        ([PointStatus.PRESENT, PointStatus.ABSENT], (0.5, 5, Conformity.PARTIEL, Level.ACCEPTABLE)),
        ([PointStatus.PARTIEL] * 4 + [PointStatus.ABSENT], (0.4, 4, Conformity.PARTIEL, Level.ACCEPTABLE)),
        (
            [PointStatus.PARTIEL, PointStatus.ABSENT, PointStatus.ABSENT],
            (1 / 6, 2, Conformity.NON_CONFORME, Level.INSUFFISANT),
        ),
    ],
)
def test_derive_step_thresholds(statuses: list[PointStatus], expected: tuple[float, int, Conformity, Level]) -> None:
    derived = derive_step(statuses, 10)
    assert (derived.ratio, derived.score, derived.conforme, derived.niveau) == pytest.approx(expected)


@pytest.mark.parametrize(
    "quote",
    ["un délai de rétractation de 14 jours", "Vous disposez d'un délai de rétractation de 14 jours."],
)
def test_a_number_written_in_digits_is_the_number_said_in_words(quote: str) -> None:
    gated = gate_step(step(), output(point(PointStatus.PRESENT, cite(quote, 1, 0))), TIMELINE, RULES)
    [citation] = gated.points[0].citations
    assert citation.matched_text.endswith("quatorze jours.")
    assert gated.points[0].statut is PointStatus.PRESENT


def test_a_different_number_is_still_another_fact() -> None:
    gated = gate_step(
        step(), output(point(PointStatus.PRESENT, cite("un délai de rétractation de 30 jours", 1, 0))), TIMELINE, RULES
    )
    assert gated.points[0].statut is PointStatus.ABSENT
    assert gated.points[0].rule == "gating:no_valid_citation"


def test_a_comment_never_says_a_keyword_the_step_found_is_missing() -> None:
    said = point(PointStatus.ABSENT, text="Conservation 2 ans mentionnée")
    said = said.model_copy(
        update={
            "commentaire": "Le conseiller annonce l'enregistrement. "
            "Le mot-clé « conservation » est absent de l'appel ; la durée de 2 ans n'a pas été mentionnée."
        }
    )
    result = output(said).model_copy(
        update={"mots_cles_trouves": ["conservation"], "commentaire_global": "Conservation non mentionnée."}
    )
    gated = gate_step(step(points=("Conservation 2 ans mentionnée",)), result, TIMELINE, RULES)
    assert gated.points[0].commentaire == (
        "Le conseiller annonce l'enregistrement. Mot-clé « conservation » trouvé dans la transcription. "
        "la durée de 2 ans n'a pas été mentionnée."
    )
    assert gated.commentaire_global.startswith("Mot-clé « conservation » trouvé dans la transcription.")


def test_a_comment_saying_a_keyword_not_found_by_the_step_is_missing_is_kept() -> None:
    from domain.audits.comments import reconcile

    comment = "Le mot-clé « ORIAS » est absent. Le numéro est donné plus loin."
    assert reconcile(comment, ["conservation"]) == comment
    assert reconcile("Le cabinet est nommé : ORIAS cité.", ["ORIAS"]) == "Le cabinet est nommé : ORIAS cité."
