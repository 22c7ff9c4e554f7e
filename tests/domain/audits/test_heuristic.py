"""The heuristic auditor, one failure class of `audit-quality-findings` per test: each case was judged
wrongly by the keyword search it replaces (`heuristic-1`), and every citation it makes passes gating."""

from __future__ import annotations

import asyncio

import pytest

from domain.audits.auditor import TranscriptMode
from domain.audits.gating import GatingRules, gate_step
from domain.audits.heuristic import HeuristicAuditor, Rule
from domain.audits.schema import ControlPointResult, PointStatus, StepOutput
from domain.audits.scorecard import SpeakerRule, StepSpec
from domain.audits.timeline import Role, Timeline
from tests.fixtures.factories.timelines import scorecard, step, timeline

AGENT, CLIENT = "speaker_1", "speaker_0"  # the agent is not the first label: roles come from the chunks
ROLES: dict[str, Role] = {AGENT: "agent", CLIENT: "client"}

RECORDING = step(
    1,
    points=("Annonce 'appel enregistré'", "Conservation 2 ans mentionnée", "Droit d'opposition mentionné"),
    keywords=("enregistré", "conservation", "2 ans", "opposition"),
    is_critical=True,
)
FEES = step(2, points=("Frais de dossier mentionnés",), keywords=("frais",))
SIGNING = step(3, points=("Signature électronique expliquée",))
RENEWAL = step(
    4,
    points=("Compagnie actuelle identifiée", "Statut du renouvellement"),
    prompt="Vérifier que le conseiller interroge sur:\n- La compagnie actuelle\n- Si le contrat a été renouvelé",
)
CONSENT = step(5, points=("Accord du client pour souscrire",), keywords=("accord",), speakers=(SpeakerRule.CLIENT,))
MANNER = step(6, points=("Clarté et pédagogie", "Options dédiées proposées si oui"))
CARD = scorecard(RECORDING, FEES, SIGNING, RENEWAL, CONSENT, MANNER)


def call(*turns: tuple[str, str]) -> Timeline:
    return timeline(list(turns), roles=ROLES)


def analyse(card_step: StepSpec, fiche: Timeline) -> tuple[StepOutput, list[str]]:
    auditor = HeuristicAuditor()
    analysis = asyncio.run(auditor.analyze_step(CARD, card_step, fiche, mode=TranscriptMode.PROMPT))
    assert analysis.usage.total_tokens == 0
    gated = gate_step(card_step, analysis.output, fiche, GatingRules(), assessments=analysis.assessments)
    assert gated.stats.citations_removed == 0, "every citation of the heuristic auditor must pass gating"
    assert [p.statut for p in gated.points] == [p.statut for p in analysis.output.points_controle]
    assert all(0.0 <= a.confidence <= 1.0 for a in analysis.assessments)
    return analysis.output, [a.rule for a in analysis.assessments]


def statuses(out: StepOutput) -> list[PointStatus]:
    return [p.statut for p in out.points_controle]


def point(out: StepOutput, index: int) -> ControlPointResult:
    return out.points_controle[index - 1]


def test_a_word_family_counts_as_the_word() -> None:
    out, rules = analyse(SIGNING, call((AGENT, "Je vous envoie le lien pour signer électroniquement votre adhésion.")))
    assert statuses(out) == [PointStatus.PRESENT]
    assert rules == [Rule.EVIDENCE]
    assert point(out, 1).citations[0].speaker == AGENT


def test_numbers_in_words_meet_a_point_written_in_digits() -> None:
    out, _ = analyse(
        RECORDING, call((AGENT, "Cet enregistrement sera conservé pendant deux ans par notre cabinet, monsieur."))
    )
    assert point(out, 2).statut is PointStatus.PRESENT


def test_the_clients_words_do_not_meet_an_agent_point() -> None:
    out, rules = analyse(
        RECORDING,
        call(
            (AGENT, "Vous êtes chez eux depuis longtemps ?"),
            (CLIENT, "Oui, ça fait deux ans maintenant, la conservation de mon dossier chez eux est enregistrée."),
        ),
    )
    assert point(out, 2).statut is PointStatus.ABSENT
    assert rules[1] == Rule.WRONG_SPEAKER_ONLY
    assert "client" in point(out, 2).commentaire


def test_hearsay_is_not_an_announcement() -> None:
    out, rules = analyse(
        RECORDING, call((AGENT, "Ma collègue m'a dit que les appels avec les clients étaient enregistrés."))
    )
    assert point(out, 1).statut is PointStatus.ABSENT
    assert rules[0] == Rule.NOT_AS_FACT_ONLY


def test_a_negated_mention_is_not_a_mention() -> None:
    out, _ = analyse(FEES, call((AGENT, "Je ne vous ai pas encore parlé des frais de dossier, madame.")))
    assert statuses(out) == [PointStatus.ABSENT]
    said, _ = analyse(FEES, call((AGENT, "Il y a des frais de dossier de vingt euros, prélevés une seule fois.")))
    assert statuses(said) == [PointStatus.PRESENT]


def test_a_deferral_or_an_offer_is_not_a_mention() -> None:
    later, _ = analyse(FEES, call((AGENT, "Les frais de dossier, on verra ça plus tard si vous le voulez bien.")))
    offer, _ = analyse(FEES, call((AGENT, "Si vous voulez, je peux vous détailler les frais de dossier.")))
    assert statuses(later) == statuses(offer) == [PointStatus.ABSENT]


def test_a_question_meets_a_point_met_by_asking() -> None:
    out, _ = analyse(
        RENEWAL,
        call(
            (AGENT, "Et votre contrat actuel, il a été renouvelé en janvier ?"),
            (CLIENT, "Oui, tous les ans en janvier."),
        ),
    )
    assert point(out, 2).statut is PointStatus.PRESENT
    assert point(out, 2).citations[0].speaker == AGENT


def test_a_question_does_not_meet_a_point_met_by_telling() -> None:
    out, _ = analyse(FEES, call((AGENT, "Vous voulez que je vous dise les frais de dossier ?")))
    assert statuses(out) == [PointStatus.ABSENT]


def test_the_clients_yes_to_the_agents_question_is_consent() -> None:
    out, rules = analyse(
        CONSENT,
        call(
            (AGENT, "Vous êtes d'accord pour souscrire à cette formule aujourd'hui ?"),
            (CLIENT, "Oui d'accord, allons-y."),
        ),
    )
    assert statuses(out) == [PointStatus.PRESENT]
    assert rules == [Rule.ANSWER]
    assert point(out, 1).citations[0].speaker == CLIENT


def test_the_agents_filler_is_not_the_clients_consent() -> None:
    out, _ = analyse(
        CONSENT,
        call(
            (CLIENT, "Je vais réfléchir à la formule, je vous rappelle."),
            (AGENT, "D'accord, d'accord, pas de souci pour l'accord, on souscrira plus tard."),
        ),
    )
    assert statuses(out) == [PointStatus.ABSENT]


def test_manner_is_not_assessed_and_a_condition_the_call_does_not_tell_is_not_applicable() -> None:
    out, rules = analyse(MANNER, call((AGENT, "Bonjour madame, je vous appelle pour votre devis de mutuelle.")))
    assert statuses(out) == [PointStatus.NON_APPLICABLE, PointStatus.NON_APPLICABLE]
    assert rules == [Rule.NOT_ASSESSABLE, Rule.CONDITION_UNKNOWN]


def test_an_absent_points_comment_never_says_a_found_keyword_is_missing() -> None:
    out, _ = analyse(
        RECORDING, call((CLIENT, "Je m'oppose à ce que mes données soient conservées, c'est enregistré ?"))
    )
    assert out.mots_cles_trouves  # the step's keywords are in the call...
    for result in out.points_controle:
        assert result.statut is PointStatus.ABSENT  # ...in the client's mouth only
        assert "ne contient" not in result.commentaire
        assert not any(f"« {k} »" in result.commentaire for k in out.mots_cles_trouves)


def test_an_empty_timeline_gives_absent_points() -> None:
    out, rules = analyse(FEES, Timeline("F1", ()))
    assert statuses(out) == [PointStatus.ABSENT]
    assert rules == [Rule.NO_EVIDENCE]


@pytest.mark.parametrize("text", ["Cet appel est enregistré pour la qualité.", "cet appel est enregistre"])
def test_accents_punctuation_and_case_do_not_matter(text: str) -> None:
    out, _ = analyse(RECORDING, call((AGENT, text)))
    assert point(out, 1).statut is PointStatus.PRESENT
