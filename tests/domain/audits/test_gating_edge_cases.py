"""Review regressions of evidence gating: quotes that change the facts, span edges, repeated phrases, levels."""

from __future__ import annotations

from domain.audits.gating import (
    GatingRules,
    LocatedCitation,
    RejectedCitation,
    RejectReason,
    gate_step,
    locate_citation,
)
from domain.audits.matching import locate_quote, tokenise
from domain.audits.schema import Conformity, Level, PointStatus
from tests.fixtures.factories.timelines import cite, output, point, step, timeline

RULES = GatingRules(enabled=True, min_quote_chars=12)
AGENT, CLIENT = "speaker_0", "speaker_1"
SALE = timeline(
    [
        (AGENT, "Oui alors je vous confirme que votre cotisation mensuelle sera de 15000 euros par mois pour vous"),
        (CLIENT, "non je veux pas souscrire ce contrat aujourd'hui avec vous madame"),
    ]
)


def test_a_quote_with_another_number_is_not_in_the_transcript() -> None:
    # 13 tokens allow two token errors, but a changed amount is another fact, not recognition noise
    quote = "je vous confirme que votre cotisation mensuelle sera de 18000 euros par mois"
    outcome = locate_citation(cite(quote, 0, 0), SALE, 12)
    assert isinstance(outcome, RejectedCitation)
    assert outcome.reason is RejectReason.NOT_FOUND
    assert locate_quote(tokenise("sera de 15001 euros par mois pour vous"), ["sera", "de", "15000", "euros"]) is None


def test_a_quote_dropping_a_negation_is_not_in_the_transcript() -> None:
    outcome = locate_citation(cite("je veux souscrire ce contrat aujourd'hui avec vous madame", 0, 1), SALE, 12)
    assert isinstance(outcome, RejectedCitation)
    assert outcome.reason is RejectReason.NOT_FOUND


def test_an_exact_quote_with_numbers_and_negations_still_passes() -> None:
    outcome = locate_citation(cite("non je veux pas souscrire ce contrat", 0, 1), SALE, 12)
    assert isinstance(outcome, LocatedCitation)
    assert outcome.matched_text == "non je veux pas souscrire ce contrat"


def test_a_wrong_first_word_does_not_pull_the_previous_word_into_the_span() -> None:
    # "Bonjour" is not said; "alors" (0.5 s) must not become the start of the evidence
    outcome = locate_citation(cite("Bonjour je vous confirme que votre cotisation mensuelle sera", 0, 0), SALE, 12)
    assert isinstance(outcome, LocatedCitation)
    words = SALE.recordings[0].chunks[0].words
    assert outcome.matched_text == "je vous confirme que votre cotisation mensuelle sera"
    assert (outcome.start_seconds, outcome.end_seconds) == (words[2].start, words[9].end)


def test_a_noisy_quote_in_its_chunk_is_found_although_a_cleaner_repeat_follows() -> None:
    repeated = timeline(
        [
            (AGENT, "je vous informe que cet apel est enregistré et conservé deux ans"),
            (CLIENT, "d'accord"),
            (AGENT, "donc je vous informe que cet appel est enregistré et conservé deux ans"),
        ]
    )
    outcome = locate_citation(
        cite("je vous informe que cet appel est enregistré et conservé deux ans", 0, 0), repeated, 12
    )
    assert isinstance(outcome, LocatedCitation)
    assert (outcome.chunk_index, outcome.repointed) == (0, False)
    assert outcome.start_seconds == repeated.recordings[0].chunks[0].words[0].start


def test_gating_never_raises_the_level_the_auditor_gave() -> None:
    # the auditor says CONFORME but INSUFFISANT; the evidence gives PARTIEL (ACCEPTABLE): conformity is
    # lowered, the level must not go up
    result = output(
        point(PointStatus.PRESENT, cite("je vous confirme que votre cotisation", 0, 0)),
        point(PointStatus.ABSENT),
        score=10,
        conforme=Conformity.CONFORME,
        niveau=Level.INSUFFISANT,
    )
    gated = gate_step(step(points=("montant", "refus")), result, SALE, RULES)
    assert (gated.score, gated.conforme) == (5, Conformity.PARTIEL)
    assert gated.niveau_conformite is Level.INSUFFISANT
