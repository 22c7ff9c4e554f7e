"""Conditional control points: the condition's own clause, and what the call says of it, decide
NON_APPLICABLE vs ABSENT. Each heuristic case was judged NON_APPLICABLE by `heuristic-5`, whatever
the call said of the condition."""

from __future__ import annotations

import asyncio

import pytest

from domain.audits.auditor import TranscriptMode
from domain.audits.conditions import Atom, Condition, Stance, condition_clause, read_condition, stance
from domain.audits.gating import GatedStep, GatingRules, gate_step
from domain.audits.heuristic import UNKNOWN_CONDITION_CONFIDENCE, HeuristicAuditor, Rule, family
from domain.audits.points import _condition_key, build_queries
from domain.audits.review import LOW_CONFIDENCE, review_flag
from domain.audits.schema import PointStatus
from domain.audits.scorecard import StepSpec
from domain.audits.timeline import Role, Timeline
from domain.language.utterances import parse_timeline
from tests.fixtures.factories.timelines import scorecard, step, timeline

AGENT, CLIENT = "speaker_1", "speaker_0"
ROLES: dict[str, Role] = {AGENT: "agent", CLIENT: "client"}

CONTRACT = step(
    1,
    points=("Explication 100% Santé si responsable", "Explication limites si non responsable"),
    is_critical=True,
)
CARE_HOME = step(2, points=("Accompagnement dédié en cas de résidence en EHPAD",), is_critical=True)
CARD = scorecard(CONTRACT, CARE_HOME)


def call(*turns: tuple[str, str]) -> Timeline:
    return timeline(list(turns), roles=ROLES)


def same_word(key: str, lemma: str, surface: str) -> bool:
    return key in (lemma, surface) or family(key, lemma)


def told(point: str, fiche: Timeline) -> Stance:
    clause = condition_clause(point)
    assert clause is not None
    condition = read_condition(clause[1], _condition_key)
    assert condition is not None
    return stance(condition, parse_timeline(fiche), same_word)


def audit(card_step: StepSpec, fiche: Timeline) -> GatedStep:
    analysis = asyncio.run(HeuristicAuditor().analyze_step(CARD, card_step, fiche, mode=TranscriptMode.PROMPT))
    gated = gate_step(card_step, analysis.output, fiche, GatingRules(), assessments=analysis.assessments)
    assert gated.stats.citations_removed == 0
    return gated


def analyse(card_step: StepSpec, fiche: Timeline) -> tuple[list[PointStatus], list[str | None], list[float | None]]:
    gated = audit(card_step, fiche)
    return [p.statut for p in gated.points], [p.rule for p in gated.points], [p.confidence for p in gated.points]


# -- reading the condition from the point's text


@pytest.mark.parametrize(
    ("point", "condition"),
    [
        ("Explication 100% Santé si responsable", ((Atom("responsable", False),),)),
        ("Explication limites si non responsable", ((Atom("responsable", True),),)),
        ("Relance si pas de devis", ((Atom("devis", True),),)),
        (
            "Info Madelin si indépendant + non responsable",
            ((Atom("independant", False),), (Atom("responsable", True),)),
        ),
        ("Arrêt de la vente si CSS/CMU détecté", ((Atom("css", False), Atom("cmu", False)),)),
        ("Arrêt en cas d'échec", ((Atom("echec", False),),)),
    ],
)
def test_a_condition_is_its_own_clause_with_its_own_negation(
    point: str, condition: tuple[tuple[Atom, ...], ...]
) -> None:
    clause = condition_clause(point)
    assert clause is not None
    assert read_condition(clause[1], _condition_key) == Condition(condition)


@pytest.mark.parametrize(
    "point", ["Auditif abordé si pertinent", "Options dédiées proposées si oui", "Frais expliqués s'il y a lieu"]
)
def test_a_condition_that_only_says_if_it_applies_cannot_be_told_from_the_call(point: str) -> None:
    clause = condition_clause(point)
    assert clause is not None
    assert read_condition(clause[1], _condition_key) is None


def test_an_example_phrase_in_quotes_is_no_condition() -> None:
    card = scorecard(step(1, points=("Rappeler le droit de refuser l'appel (« si vous ne le souhaitez pas »)",)))
    [query] = build_queries(card, card.steps[0])
    assert not query.conditional  # heuristic-5 read the quoted "si" as a condition
    assert query.condition is None


# -- what the call says of it


def test_a_condition_stated_by_either_speaker_is_met() -> None:
    point = "Explication 100% Santé si responsable"
    assert told(point, call((AGENT, "Le contrat que je vous propose est responsable."))) is Stance.MET
    assert told(point, call((CLIENT, "Mon contrat actuel est responsable, je crois savoir."))) is Stance.MET


@pytest.mark.parametrize(
    "turns",
    [
        [(AGENT, "C'est un contrat non responsable, madame.")],
        [(CLIENT, "Il n'est pas responsable, mon contrat.")],
        [(AGENT, "Votre contrat est-il responsable ?"), (CLIENT, "Non, je ne crois pas.")],
    ],
)
def test_a_condition_said_negated_is_not_met(turns: list[tuple[str, str]]) -> None:
    assert told("Explication 100% Santé si responsable", call(*turns)) is Stance.NOT_MET


def test_a_supposition_a_question_without_answer_or_hearsay_tells_nothing() -> None:
    fiche = call(
        (AGENT, "Si c'était un contrat responsable, vous auriez le panier de soins."),
        (CLIENT, "Ma voisine dit que le sien est responsable."),
        (AGENT, "Vous savez si votre contrat est responsable ?"),
        (CLIENT, "Je vais regarder mes papiers."),
    )
    assert told("Explication 100% Santé si responsable", fiche) is Stance.UNKNOWN


def test_statements_both_ways_leave_the_condition_unknown() -> None:
    fiche = call(
        (AGENT, "Le contrat est responsable."),
        (CLIENT, "Pourtant mon courtier m'avait écrit qu'il n'est pas responsable."),
        (AGENT, "Il n'est pas responsable, vous avez raison."),
    )
    assert told("Explication 100% Santé si responsable", fiche) is Stance.UNKNOWN


# -- the verdicts


def test_a_condition_met_and_the_point_missing_is_absent() -> None:
    statuses, rules, _ = analyse(CONTRACT, call((AGENT, "Votre nouveau contrat est bien responsable, madame.")))
    assert statuses == [PointStatus.ABSENT, PointStatus.NON_APPLICABLE]  # heuristic-5: both NON_APPLICABLE
    assert rules == [Rule.CONDITION_MET, Rule.CONDITION_NOT_MET]


def test_a_condition_said_negated_by_the_client_is_not_applicable_and_its_opposite_applies() -> None:
    fiche = call((AGENT, "Votre contrat actuel, il est de quel type ?"), (CLIENT, "Il n'est pas responsable."))
    statuses, rules, _ = analyse(CONTRACT, fiche)
    assert statuses == [PointStatus.NON_APPLICABLE, PointStatus.ABSENT]
    assert rules == [Rule.CONDITION_NOT_MET, Rule.CONDITION_MET]


def test_a_point_said_with_its_condition_met_is_present() -> None:
    fiche = call((AGENT, "Le contrat est responsable, donc il vous donne accès au 100 % Santé sur les lunettes."))
    statuses, _, _ = analyse(CONTRACT, fiche)
    assert statuses[0] is PointStatus.PRESENT


def test_a_condition_the_call_does_not_tell_keeps_not_applicable_but_flags_a_critical_step() -> None:
    fiche = call((AGENT, "Bonjour madame, je vous appelle au sujet de votre devis de mutuelle."))
    statuses, rules, confidences = analyse(CARE_HOME, fiche)
    assert statuses == [PointStatus.NON_APPLICABLE]
    assert rules == [Rule.CONDITION_UNKNOWN]
    assert confidences == [UNKNOWN_CONDITION_CONFIDENCE]
    assert UNKNOWN_CONDITION_CONFIDENCE < LOW_CONFIDENCE
    assert review_flag([audit(CARE_HOME, fiche)]).needs_review


def test_a_care_home_the_client_says_makes_the_point_apply() -> None:
    fiche = call((CLIENT, "Vous savez, je vis en EHPAD depuis l'an dernier."), (AGENT, "Je note, madame."))
    statuses, rules, _ = analyse(CARE_HOME, fiche)
    assert statuses == [PointStatus.ABSENT]
    assert rules == [Rule.CONDITION_MET]
