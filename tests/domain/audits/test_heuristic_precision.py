"""Precision failure classes of the heuristic auditor found on the evaluation corpus's development half
(`benchmarks/audit_errors.py`); each case was judged wrongly by `heuristic-7` / `utterances-7`."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from domain.audits.auditor import TranscriptMode
from domain.audits.gating import GatingRules, gate_step
from domain.audits.heuristic import HeuristicAuditor, Rule, judge, judge_scorecard, judge_together
from domain.audits.points import PointKind, PointQuery, QueryTerm
from domain.audits.schema import PointStatus
from domain.audits.scorecard import SpeakerRule, StepSpec
from domain.audits.timeline import Role, Timeline
from domain.language.utterances import parse_timeline
from tests.fixtures.factories.timelines import scorecard, step, timeline

AGENT, CLIENT = "speaker_1", "speaker_0"
ROLES: dict[str, Role] = {AGENT: "agent", CLIENT: "client"}

HEALTH = step(1, points=("Explication 100% Santé si responsable",), is_critical=True)
SCHEMES = step(2, points=("Question CSS/CMU posée",), is_critical=True)
CARD = scorecard(HEALTH, SCHEMES)


def call(*turns: tuple[str, str]) -> Timeline:
    return timeline(list(turns), roles=ROLES)


def analyse(card_step: StepSpec, fiche: Timeline) -> list[PointStatus]:
    analysis = asyncio.run(HeuristicAuditor().analyze_step(CARD, card_step, fiche, mode=TranscriptMode.PROMPT))
    gated = gate_step(card_step, analysis.output, fiche, GatingRules(), assessments=analysis.assessments)
    assert gated.stats.citations_removed == 0  # quotes stay verbatim, hesitations included
    return [p.statut for p in analysis.output.points_controle]


def test_whoever_says_x_says_y_is_a_statement_not_reported_speech() -> None:
    # "qui dit X dit Y" (X implies Y): the relative "qui" has no antecedent, nobody's words are reported
    rule = call((AGENT, "votre contrat est responsable et qui dit contrat responsable dit 100 % santé"))
    assert not any(u.reported for u in parse_timeline(rule).utterances)
    assert analyse(HEALTH, rule) == [PointStatus.PRESENT]
    hearsay = call((AGENT, "ma voisine qui dit que le 100 % santé rembourse tout"))
    assert parse_timeline(hearsay).utterances[0].reported


def test_a_hesitation_does_not_cut_a_question_in_two() -> None:
    # the tagger read "euh" as a word and cut "est | -ce que vous euh avez la CSS": a statement, not asked
    asked = call((AGENT, "est-ce que vous euh avez la CSS"), (CLIENT, "non"))
    [utterance, _] = parse_timeline(asked).utterances
    assert utterance.question
    assert analyse(SCHEMES, asked) == [PointStatus.PRESENT]
    # a hesitation and a repeated subject after "et": the question ran on into a statement
    repeated = call((AGENT, "d'accord et est-ce que vous hum vous avez la CSS"), (CLIENT, "oui"))
    said = [u for u in parse_timeline(repeated).utterances if "css" in u.lemmas]
    assert [u.question for u in said] == [True]


OWN_WORD = QueryTerm("preavis", 1.0, None, True)


def _point(index: int, *terms: QueryTerm) -> PointQuery:
    return PointQuery(1, index, f"point {index}", terms, None, PointKind.INFORM, False, None, True, False,
                      SpeakerRule.AGENT)  # fmt: skip


def test_a_siblings_own_word_does_not_meet_a_point_through_its_prompt_words() -> None:
    # "préavis" is the first point's own word and only a prompt word of the second, whose own is "délai"
    notice = _point(1, OWN_WORD)
    delays = _point(2, QueryTerm("delai", 0.5, None, True), QueryTerm("preavis", 0.4, None, False))
    said = parse_timeline(call((AGENT, "le préavis est de un mois")))
    assert [v.status for v in judge_together([notice, delays], said)] == [PointStatus.PRESENT, PointStatus.ABSENT]
    assert judge_together([notice, delays], said)[1].rule is Rule.OTHER_POINT
    assert judge(delays, said).status is PointStatus.PRESENT  # judged alone, as before
    both = parse_timeline(call((AGENT, "les délais de préavis sont respectés")))
    assert [v.status for v in judge_together([notice, delays], both)] == [PointStatus.PRESENT] * 2


def test_a_word_two_points_name_in_their_own_text_serves_both() -> None:
    notice = _point(1, OWN_WORD)
    delays = _point(2, QueryTerm("delai", 0.5, None, True), OWN_WORD)
    said = parse_timeline(call((AGENT, "le préavis est de un mois")))
    assert [v.status for v in judge_together([notice, delays], said)] == [PointStatus.PRESENT] * 2


def test_a_word_another_steps_point_says_much_more_strongly_is_not_evidence_through_a_borrowed_term() -> None:
    # "couvert" is a prompt word of the exclusions point and an own word of the effective date point,
    # which the line meets with two own words: the line is the date's, not the exclusions'
    def point(step_position: int, *terms: QueryTerm) -> PointQuery:
        return replace(_point(1, *terms), step_position=step_position)

    exclusions = point(1, QueryTerm("exclusion", 1.0, None, True), QueryTerm("couvert", 0.4, None, False))
    start = point(2, QueryTerm("couvert", 0.5, None, True), QueryTerm("septembre", 0.5, None, True))
    said = parse_timeline(call((AGENT, "vous serez couvert dès le premier septembre")))
    assert judge_together([exclusions], said)[0].status is PointStatus.PRESENT  # judged alone, as before
    [[lost], [kept]] = judge_scorecard([[exclusions], [start]], said)
    assert (lost.status, lost.rule, kept.status) == (PointStatus.ABSENT, Rule.OTHER_POINT, PointStatus.PRESENT)
    # the word is the point's own, or the other step's match is not twice as strong: it serves both
    named = point(1, QueryTerm("exclusion", 0.6, None, True), QueryTerm("couvert", 0.4, None, True))
    weaker = point(2, QueryTerm("couvert", 0.5, None, True), QueryTerm("octobre", 0.5, None, True))
    for first, second in ((named, start), (exclusions, weaker)):
        assert [v[0].status for v in judge_scorecard([[first], [second]], said)] == [PointStatus.PRESENT] * 2
