"""Lines the recogniser ran together, found on the evaluation corpus's development half
(`benchmarks/audit_errors.py`); each case was judged wrongly by `heuristic-8` / `utterances-8`."""

from __future__ import annotations

import asyncio

from domain.audits.auditor import TranscriptMode
from domain.audits.gating import GatingRules, gate_step
from domain.audits.heuristic import HeuristicAuditor
from domain.audits.schema import PointStatus
from domain.audits.timeline import Role, Timeline
from domain.language.utterances import parse_timeline
from tests.fixtures.factories.timelines import scorecard, step, timeline

AGENT, CLIENT = "speaker_1", "speaker_0"
ROLES: dict[str, Role] = {AGENT: "agent", CLIENT: "client"}
RECORDING = step(1, points=("Annoncer que l'appel est enregistré",), is_critical=True)
CARD = scorecard(RECORDING)


def call(*turns: tuple[str, str]) -> Timeline:
    return timeline(list(turns), roles=ROLES)


def test_a_question_run_on_after_a_statement_does_not_make_it_a_question() -> None:
    # the parser made "vous" of the next line an object of "qualité": one clause, a question by its "?"
    fiche = call(
        (AGENT, "je vous précise que l'appel est enregistré c'est pour des raisons de qualité vous avez "
                "un traitement régulier ?"),
    )  # fmt: skip
    said = parse_timeline(fiche).utterances
    assert [u.question for u in said if "enregistrer" in u.lemmas] == [False]
    assert [u.question for u in said if "traitement" in u.lemmas] == [True]
    analysis = asyncio.run(HeuristicAuditor().analyze_step(CARD, RECORDING, fiche, mode=TranscriptMode.PROMPT))
    gated = gate_step(RECORDING, analysis.output, fiche, GatingRules(), assessments=analysis.assessments)
    assert gated.stats.citations_removed == 0
    assert [p.statut for p in analysis.output.points_controle] == [PointStatus.PRESENT]


def test_a_subject_pronoun_the_parser_mislabels_starts_a_line_only_before_its_verb() -> None:
    # "il est" read as a fixed expression attached to "faut": still the next line's subject and verb
    fiche = call((AGENT, "il me faut votre numéro d'adhérent il est sur votre attestation"))
    [need, where] = parse_timeline(fiche).utterances
    assert "attestation" not in need.lemmas
    assert "attestation" in where.lemmas
    # a pronoun inside a relative clause or after an object pronoun opens no line
    for text in ("le contrat que vous avez est bon", "alors on vous envoie le contrat aujourd'hui"):
        assert len(parse_timeline(call((AGENT, text))).utterances) == 1
