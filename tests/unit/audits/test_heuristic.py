"""The heuristic auditor on hand-built timelines, and the property that gating keeps all it cites."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any

import pytest

from domain.audits.auditor import TranscriptMode
from domain.audits.gating import GatingRules, gate_step
from domain.audits.heuristic import HeuristicAuditor, point_terms
from domain.audits.matching import normalise
from domain.audits.schema import Conformity, PointStatus, StepOutput
from domain.audits.scorecard import StepSpec
from domain.audits.timeline import Timeline

from .factories import scorecard, step, timeline

AGENT, CLIENT = "speaker_0", "speaker_1"
ORIAS = step(
    1,
    weight=8,
    points=("Nommer le cabinet de courtage ou le courtier", "Communiquer le numéro ORIAS du cabinet"),
    keywords=("courtage", "courtier", "ORIAS", "immatriculé"),
    is_critical=True,
)
COOLING_OFF = step(2, weight=10, points=("Informer le client de son droit de rétractation",), keywords=("14 jours",))
CARD = scorecard(ORIAS, COOLING_OFF)
CALL = timeline(
    [
        (AGENT, "Bonjour madame, je suis Paul, votre conseiller."),
        (CLIENT, "Bonjour."),
        (AGENT, "Nous sommes Santéo Courtage, courtier, notre numéro Orias c'est le 21 004 587."),
        (CLIENT, "D'accord."),
        (AGENT, "Je regarde votre dossier, une petite seconde. Vous préférez recevoir les documents par courrier ?"),
    ]
)


def analyse(card_step: StepSpec, call: Timeline) -> StepOutput:
    auditor = HeuristicAuditor()
    analysis = asyncio.run(auditor.analyze_step(CARD, card_step, call, mode=TranscriptMode.TOOLS))
    assert analysis.transcript_mode is TranscriptMode.TOOLS
    assert analysis.usage.total_tokens == 0
    assert not analysis.failed
    return analysis.output


def test_points_said_are_present_with_verbatim_citations() -> None:
    out = analyse(ORIAS, CALL)
    assert [p.statut for p in out.points_controle] == [PointStatus.PRESENT, PointStatus.PRESENT]
    citation = out.points_controle[1].citations[0]
    assert citation.texte == "Nous sommes Santéo Courtage, courtier, notre numéro Orias c'est le 21 004 587."
    assert (citation.recording_index, citation.chunk_index, citation.speaker) == (0, 2, AGENT)
    assert citation.minutage_secondes == CALL.recordings[0].chunks[2].words[0].start
    assert (out.conforme, out.score, out.traite) == (Conformity.CONFORME, 8, True)
    assert set(out.mots_cles_trouves) == {"courtage", "courtier", "ORIAS"}
    assert "heuristique" in out.commentaire_global


def test_a_point_not_said_is_absent_without_citation() -> None:
    out = analyse(COOLING_OFF, CALL)
    [result] = out.points_controle
    assert result.statut is PointStatus.ABSENT
    assert result.citations == []
    assert "Aucun passage" in result.commentaire
    assert (out.conforme, out.score, out.traite) == (Conformity.NON_CONFORME, 0, False)


def test_a_near_word_is_not_taken_for_the_term() -> None:
    # "courrier" is one letter from "courtier" but another word: alone it proves nothing
    call = timeline([(AGENT, "Vous préférez recevoir les documents par courrier ou par mail ?")])
    out = analyse(ORIAS, call)
    assert [p.statut for p in out.points_controle] == [PointStatus.ABSENT, PointStatus.ABSENT]


def test_accents_and_case_do_not_matter() -> None:
    call = timeline([(AGENT, "VOUS AVEZ UN DROIT DE RETRACTATION, c'est la loi.")])
    [result] = analyse(COOLING_OFF, call).points_controle
    assert result.statut is PointStatus.PRESENT
    assert not result.erreur_transcription_notee


def test_a_misheard_term_is_found_and_reported() -> None:
    call = timeline([(AGENT, "Vous avez un droit de rétraction de quatorze jours sur ce contrat.")])
    [result] = analyse(COOLING_OFF, call).points_controle
    assert result.statut in (PointStatus.PRESENT, PointStatus.PARTIEL)
    assert result.erreur_transcription_notee
    assert result.variation_phonetique_utilisee == "retraction → retractation"
    assert result.citations[0].texte == "Vous avez un droit de rétraction de quatorze jours sur ce contrat."


def test_step_keywords_alone_make_a_point_partial() -> None:
    card_step = step(3, weight=6, points=("Annoncer le montant",), keywords=("cotisation", "par mois"))
    call = timeline([(AGENT, "Votre cotisation sera de 42 euros par mois.")])
    out = HeuristicAuditor().analyze(scorecard(card_step), card_step, call)
    [result] = out.points_controle
    assert result.statut is PointStatus.PARTIEL
    assert (out.conforme, out.score) == (Conformity.PARTIEL, 3)


def test_terms_shared_by_steps_weigh_less() -> None:
    shared = step(1, points=("Parler des garanties dentaires",))
    own = step(2, points=("Présenter les garanties et les exclusions",))
    weights = {t.label: t.weight for t in point_terms(scorecard(shared, own), own, own.control_points[0])}
    assert weights["garanties"] < weights["exclusions"]


def test_a_quote_is_widened_to_the_minimum_length() -> None:
    call = timeline([(AGENT, "ORIAS."), (AGENT, "courtier oui")])
    card_step = step(1, points=("ORIAS",))
    auditor = HeuristicAuditor(min_quote_chars=30)
    [result] = auditor.analyze(scorecard(card_step), card_step, call).points_controle
    assert result.statut is PointStatus.ABSENT  # no chunk long enough to quote


def test_empty_timeline_gives_absent_points() -> None:
    out = analyse(ORIAS, timeline())
    assert [p.statut for p in out.points_controle] == [PointStatus.ABSENT, PointStatus.ABSENT]


@pytest.fixture(scope="module")
def simulated() -> Any:
    """The benchmark's labelled simulator corpus (benchmarks are scripts, not a package)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(Path(__file__).resolve().parents[3] / "benchmarks"))
        return importlib.import_module("audit_quality")


@pytest.mark.parametrize("fiche_index", range(6))
def test_every_citation_on_simulated_calls_passes_gating(simulated: Any, fiche_index: int) -> None:
    card, _ = simulated.load_scorecard()
    fiche = list(simulated.corpus(fiche_index + 1, typos=0.05))[fiche_index]
    auditor = HeuristicAuditor()
    for card_step in card.steps:
        out = auditor.analyze(card, card_step, fiche.timeline)
        gated = gate_step(card_step, out, fiche.timeline, GatingRules())
        assert gated.stats.citations_removed == 0
        assert gated.stats.points_downgraded == 0
        assert (gated.score, gated.conforme) == (out.score, out.conforme)
        for point, claimed in zip(gated.points, out.points_controle, strict=True):
            assert len(point.citations) == len(claimed.citations)
            for citation, quote in zip(point.citations, claimed.citations, strict=True):
                assert not citation.repointed
                assert normalise(citation.matched_text) == normalise(quote.texte)
                assert citation.start_seconds == quote.minutage_secondes
