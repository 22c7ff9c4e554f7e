"""Speaker roles from what each diarised speaker says, never from the label."""

from __future__ import annotations

import datetime as dt

import pytest

from callaudit.demo_crm.calls import SPEAKERS, build_transcript
from callaudit.demo_crm.fiches import build_fiche
from domain.audits.timeline import TimelineChunk, TimelineRecording
from domain.transcripts.roles import assign_roles, confidence_of, infer_roles

FIRM = ("Mutuelle Horizon",)

OUTBOUND = [
    ("A", "Allô ?"),
    ("B", "Bonjour madame Roux, je suis Julie Martin, conseillère chez Mutuelle Horizon."),
    ("A", "Oui bonjour."),
    ("B", "Je vous informe que cet appel est enregistré. Vous êtes bien née en 1962 ?"),
    ("A", "Oui c'est ça."),
    ("B", "Quelle est votre mutuelle actuelle ? Vous payez combien par mois ?"),
    ("A", "Je suis chez Harmonie, je paie quatre-vingts euros."),
    ("B", "Je vous propose notre formule Confort, je vais vous envoyer le devis par mail."),
    ("A", "D'accord."),
]


def _relabel(turns: list[tuple[str, str]], labels: dict[str, str]) -> list[tuple[str, str]]:
    return [(labels[speaker], text) for speaker, text in turns]


@pytest.mark.parametrize(
    ("labels", "agent", "client"),
    [
        ({"A": "speaker_0", "B": "speaker_1"}, "speaker_1", "speaker_0"),
        ({"A": "speaker_1", "B": "speaker_0"}, "speaker_0", "speaker_1"),
    ],
)
def test_outbound_call_agent_found_whatever_the_label(labels: dict[str, str], agent: str, client: str) -> None:
    result = infer_roles(_relabel(OUTBOUND, labels), advisor_name="Julie MARTIN", firm_names=FIRM, direction="out")

    assert result.roles == {labels["A"]: "client", labels["B"]: "agent"}
    assert result.role_of(agent) == "agent"
    assert result.role_of(client) == "client"
    assert result.confidence >= 0.9
    assert any(cue.startswith(f"{agent}: gives the advisor's name") for cue in result.cues)
    assert any(cue.startswith(f"{client}: answers the call with a bare") for cue in result.cues)


def test_inbound_call_answered_with_company_greeting() -> None:
    turns = [
        ("speaker_0", "Mutuelle Horizon bonjour, Karim à votre écoute."),
        ("speaker_1", "Oui bonjour, j'ai reçu un courrier pour ma mutuelle et je voulais savoir ce que c'est ?"),
        ("speaker_0", "Je regarde votre dossier. Pouvez-vous me confirmer votre date de naissance ?"),
        ("speaker_1", "Le 3 mars 1970."),
    ]

    result = infer_roles(turns, firm_names=FIRM, direction="in")

    assert result.roles == {"speaker_0": "agent", "speaker_1": "client"}
    assert "speaker_0: answers with a company greeting" in result.cues


def test_a_client_calling_in_is_not_taken_for_the_agent() -> None:
    # No firm configured: "<Nom> Courtage, j'écoute" is still how a firm answers; the client "calls
    # about a message", asks who is calling, and is with another insurer.
    turns = [
        ("speaker_0", "Atlantique Courtage, euh j'écoute ?"),
        ("speaker_1", "oui bonjour, je vous appelle parce que j'ai reçu un message, c'est de la part de qui ?"),
        ("speaker_0", "Je suis chez Cabinet Lemaire Courtage, je rappelle monsieur Da Silva ?"),
        ("speaker_1", "oui c'est moi, je suis chez Harmonie en ce moment"),
    ]

    result = infer_roles(turns)

    assert result.roles == {"speaker_0": "agent", "speaker_1": "client"}
    assert "speaker_0: answers with a company greeting" in result.cues
    assert not any(cue.startswith("speaker_1: introduces") for cue in result.cues)


def test_misspelled_advisor_name_is_still_recognised() -> None:
    # ASR wrote "Juli Martain" for Julie Martin; no firm configured, no other introduction phrase.
    turns = [
        ("speaker_0", "Oui allô."),
        ("speaker_1", "Bonjour, ici Juli Martain, c'est au sujet de la demande que vous avez faite hier."),
        ("speaker_0", "Ah oui, très bien."),
    ]

    named = infer_roles(turns, advisor_name="Julie Martin")
    anonymous = infer_roles(turns)

    assert named.roles == {"speaker_0": "client", "speaker_1": "agent"}
    assert "speaker_1: gives the advisor's name" in named.cues
    assert named.confidence > anonymous.confidence


def test_client_greeting_the_advisor_by_name_is_not_the_advisor() -> None:
    turns = [
        ("speaker_0", "Bonjour madame Martin, je vous rappelle comme convenu."),
        ("speaker_1", "Bonjour, merci de votre rappel, je vous écoute, vous aviez une question sur votre contrat ?"),
    ]

    result = infer_roles(turns, advisor_name="Julie Martin")

    assert "speaker_0: says the advisor's name" not in result.cues
    assert "speaker_0: gives the advisor's name" not in result.cues


def test_client_who_asks_many_questions_stays_the_client() -> None:
    turns = [
        ("speaker_0", "Bonjour, je m'appelle Paul Girard, je vous appelle de la part de Mutuelle Horizon."),
        ("speaker_1", "Ah bon ? C'est pour quoi ? Vous avez eu mon numéro comment ?"),
        ("speaker_0", "Vous avez fait une demande de devis sur notre site."),
        ("speaker_1", "Et ça coûte combien ? Les lunettes sont remboursées ? Et le dentaire ? Il y a un délai ?"),
        ("speaker_0", "La formule coûte quarante euros, l'optique est couverte à cent pour cent."),
        ("speaker_1", "Et si je veux résilier ? Je dois prévenir ma mutuelle ?"),
        ("speaker_0", "Nous nous occupons de la résiliation pour vous."),
    ]

    result = infer_roles(turns, firm_names=FIRM)

    assert result.roles == {"speaker_0": "agent", "speaker_1": "client"}
    assert any(cue.startswith("speaker_1: question share") for cue in result.cues)


def test_single_speaker_voicemail_left_by_the_agent() -> None:
    turns = [
        (
            "speaker_0",
            "Bonjour monsieur Durand, c'est Julie Martin de Mutuelle Horizon, je vous rappelle au sujet de votre "
            "devis, vous pouvez me joindre au zéro un vingt-trois.",
        )
    ]

    result = infer_roles(turns, advisor_name="Julie Martin", firm_names=FIRM)

    assert result.roles == {"speaker_0": "agent"}
    assert result.confidence > 0.8


def test_single_speaker_without_cues_stays_unknown() -> None:
    result = infer_roles([("speaker_0", "Vous êtes bien sur la messagerie, laissez un message après le bip.")])

    assert result.roles == {"speaker_0": "unknown"}
    assert result.confidence == 0.0


def test_no_decisive_cue_leaves_both_unknown() -> None:
    result = infer_roles([("speaker_0", "Oui."), ("speaker_1", "Oui.")])

    assert result.roles == {"speaker_0": "unknown", "speaker_1": "unknown"}
    assert result.confidence == 0.0
    assert "no decisive cue" in result.cues


def test_empty_recording_has_no_roles() -> None:
    assert infer_roles([("speaker_0", "  ")]).roles == {}


def test_third_speaker_introducing_themselves_is_a_second_agent() -> None:
    turns = [
        *OUTBOUND,
        ("C", "Bonjour madame, je suis Marc, conseiller juridique chez Mutuelle Horizon, je reprends la suite."),
        ("A", "Bonjour monsieur."),
    ]

    result = infer_roles(turns, advisor_name="Julie Martin", firm_names=FIRM, direction="out")

    assert result.roles == {"A": "client", "B": "agent", "C": "agent"}


def test_confidence_grows_with_the_margin() -> None:
    assert confidence_of(0) == 0.5
    assert confidence_of(1) < confidence_of(2) < confidence_of(4) < 1.0


def test_assign_roles_sets_every_chunk_and_the_confidence() -> None:
    chunks = tuple(
        TimelineChunk(f"c1:{i}", "c1", 0, i, speaker, float(i), float(i) + 1, text, ())
        for i, (speaker, text) in enumerate(_relabel(OUTBOUND, {"A": "speaker_0", "B": "speaker_1"}))
    )
    recording = TimelineRecording(0, "c1", "", None, None, None, None, None, None, chunks)

    assigned = assign_roles(recording, advisor_name="Julie Martin", firm_names=FIRM)

    assert [c.role for c in assigned.chunks] == ["client" if c.speaker == "speaker_0" else "agent" for c in chunks]
    assert assigned.role_confidence is not None
    assert assigned.role_confidence >= 0.9
    assert recording.chunks[0].role == "unknown"  # the input is left as it was


def test_the_simulators_calls_map_right_whichever_label_the_agent_has() -> None:
    """The demo simulator's calls (its agent is `speaker_0`), and the same calls with the labels swapped."""
    truth = {label: role for role, label in SPEAKERS.items()}
    swap = {"speaker_0": "speaker_1", "speaker_1": "speaker_0"}
    decided = total = 0
    for index in range(20):
        core = build_fiche(7, dt.date(2026, 3, 2), index, 20)
        advisor = f"{core.agent.person.prenom} {core.agent.person.nom}"
        for rec in core.recordings:
            turns = [(t.speaker, t.text) for t in build_transcript(core, rec).turns]
            for relabel in ({}, swap):
                result = infer_roles(
                    [(relabel.get(s, s), text) for s, text in turns], advisor_name=advisor, direction=rec.direction
                )
                expected = {relabel.get(s, s): truth[s] for s, _ in turns}
                total += 1
                if result.confidence > 0:
                    decided += 1
                    assert result.roles == expected, (rec.kind, result.cues)
    assert decided >= 0.9 * total
