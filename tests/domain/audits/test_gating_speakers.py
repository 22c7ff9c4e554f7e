"""Gating keeps only the words of the role whose words count for the point (`StepSpec.speaker_rule`)."""

from __future__ import annotations

import dataclasses

import pytest

from domain.audits.gating import WRONG_SPEAKER_NOTE, GatingRules, RejectReason, gate_step
from domain.audits.schema import PointStatus
from domain.audits.scorecard import SpeakerRule, StepSpec
from domain.audits.speakers import speaker_allowed
from domain.audits.timeline import Role, Timeline
from tests.fixtures.factories.timelines import cite, output, point, step, timeline

RULES = GatingRules(enabled=True, min_quote_chars=12)
TURNS = [
    ("speaker_0", "Ça fait deux ans que je suis chez Harmonie, ils conservent tout."),  # the client
    ("speaker_1", "Je vous informe que vos données sont conservées deux ans."),  # the agent
    ("speaker_0", "Oui je suis d'accord pour adhérer à cette formule."),
]


def _with_roles(roles: dict[str, Role]) -> Timeline:
    base = timeline(TURNS)
    (recording,) = base.recordings
    chunks = tuple(dataclasses.replace(c, role=roles.get(c.speaker, "unknown")) for c in recording.chunks)
    return dataclasses.replace(base, recordings=(dataclasses.replace(recording, chunks=chunks, role_confidence=0.9),))


KNOWN = _with_roles({"speaker_0": "client", "speaker_1": "agent"})
UNKNOWN = _with_roles({})


def _step(*rules: SpeakerRule) -> StepSpec:
    return dataclasses.replace(step(points=tuple(f"p{i}" for i in range(len(rules)))), point_speakers=rules)


def test_the_clients_words_do_not_prove_what_the_agent_must_say() -> None:
    said_by_client = point(PointStatus.PRESENT, cite("deux ans que je suis chez Harmonie", 0, 0))
    gated = gate_step(_step(SpeakerRule.AGENT), output(said_by_client), KNOWN, RULES)

    [result] = gated.points
    assert result.statut is PointStatus.ABSENT
    assert result.downgraded
    assert [r.reason for r in result.rejected] == [RejectReason.WRONG_SPEAKER]
    assert WRONG_SPEAKER_NOTE.format(rule="paroles du conseiller") in result.commentaire
    assert gated.stats.removed_by_reason == {"wrong_speaker": 1}
    assert gated.stats.citations_valid == 0


def test_the_agents_words_prove_an_agent_point_and_carry_the_role() -> None:
    said_by_agent = point(PointStatus.PRESENT, cite("vos données sont conservées deux ans", 0, 1))
    gated = gate_step(_step(SpeakerRule.AGENT), output(said_by_agent), KNOWN, RULES)

    [citation] = gated.points[0].citations
    assert gated.points[0].statut is PointStatus.PRESENT
    assert citation.role == "agent"


def test_consent_needs_the_clients_words_and_keeps_the_valid_ones() -> None:
    consent = point(
        PointStatus.PRESENT,
        cite("vos données sont conservées deux ans", 0, 1),  # the agent: not consent
        cite("je suis d'accord pour adhérer", 0, 2),
    )
    gated = gate_step(_step(SpeakerRule.CLIENT), output(consent), KNOWN, RULES)

    [result] = gated.points
    assert result.statut is PointStatus.PRESENT
    assert [c.role for c in result.citations] == ["client"]
    assert [r.reason for r in result.rejected] == [RejectReason.WRONG_SPEAKER]


def test_each_point_is_judged_by_its_own_rule() -> None:
    client_quote = cite("je suis d'accord pour adhérer", 0, 2)
    result = output(point(PointStatus.PRESENT, client_quote), point(PointStatus.PRESENT, client_quote))
    gated = gate_step(_step(SpeakerRule.AGENT, SpeakerRule.ANY), result, KNOWN, RULES)

    assert [p.statut for p in gated.points] == [PointStatus.ABSENT, PointStatus.PRESENT]


def test_unknown_roles_and_disabled_gating_reject_nobody() -> None:
    said_by_client = point(PointStatus.PRESENT, cite("deux ans que je suis chez Harmonie", 0, 0))
    unknown = gate_step(_step(SpeakerRule.AGENT), output(said_by_client), UNKNOWN, RULES)
    disabled = gate_step(
        _step(SpeakerRule.AGENT),
        output(said_by_client),
        KNOWN,
        GatingRules(enabled=False),
    )

    assert unknown.points[0].statut is PointStatus.PRESENT
    assert disabled.points[0].statut is PointStatus.PRESENT
    assert disabled.points[0].citations[0].role == "client"


def test_a_step_without_rules_counts_the_agents_words() -> None:
    said_by_client = point(PointStatus.PRESENT, cite("deux ans que je suis chez Harmonie", 0, 0))
    gated = gate_step(step(), output(said_by_client), KNOWN, RULES)

    assert gated.points[0].statut is PointStatus.ABSENT


@pytest.mark.parametrize(
    ("rule", "role", "allowed"),
    [
        (SpeakerRule.AGENT, "agent", True),
        (SpeakerRule.AGENT, "client", False),
        (SpeakerRule.CLIENT, "agent", False),
        (SpeakerRule.CLIENT, "client", True),
        (SpeakerRule.ANY, "client", True),
        (SpeakerRule.AGENT, "unknown", True),
    ],
)
def test_speaker_allowed(rule: SpeakerRule, role: Role, allowed: bool) -> None:
    assert speaker_allowed(rule, role) is allowed
