"""Hand-made timelines and scorecards for the LLM auditor and transcript tool tests."""

from __future__ import annotations

from domain.audits.scorecard import ScorecardSpec, Severity, StepSpec
from domain.audits.timeline import TimedWord, Timeline, TimelineChunk, TimelineRecording

Turn = tuple[str, str]  # (speaker, text)


def recording(
    index: int, turns: list[Turn], *, call_id: str | None = None, turn_seconds: float = 10.0
) -> TimelineRecording:
    call = call_id or f"call{index}"
    chunks = []
    for position, (speaker, text) in enumerate(turns):
        start = position * turn_seconds
        words = tuple(TimedWord(word, start + i * 0.3, start + i * 0.3 + 0.25) for i, word in enumerate(text.split()))
        chunks.append(
            TimelineChunk(
                f"{call}:{position}", call, index, position, speaker, start, start + turn_seconds - 1, text, words
            )
        )
    return TimelineRecording(
        recording_index=index,
        call_id=call,
        recording_url=f"https://recordings.example.invalid/{call}.wav",
        recording_date="25/09/2025",
        recording_time=f"1{index}:05",
        start_time=f"2025-09-25T1{index}:05:00+00:00",
        from_number="33600000000",
        to_number="33400000000",
        duration_seconds=len(turns) * turn_seconds,
        chunks=tuple(chunks),
    )


def timeline(*recordings: list[Turn], fiche_id: str = "1000001") -> Timeline:
    return Timeline(fiche_id, tuple(recording(i, turns) for i, turns in enumerate(recordings)))


SALE_CALL: list[Turn] = [
    ("speaker_0", "Bonjour madame Roux, je suis Paul Martin, conseiller chez Net Courtage Assurance."),
    ("speaker_1", "Bonjour monsieur."),
    ("speaker_0", "Notre numéro ORIAS est le zéro sept zéro zéro deux six sept huit."),
    ("speaker_0", "Je vous informe que cet appel est enregistré, vous pouvez vous y opposer."),
    ("speaker_1", "D'accord, pas de souci."),
    ("speaker_0", "La formule couvre l'hospitalisation à cent cinquante pour cent et l'optique."),
    ("speaker_0", "Les exclusions concernent la chirurgie esthétique et les cures thermales."),
    ("speaker_1", "Et combien ça coûte par mois ?"),
    ("speaker_0", "La cotisation est de quarante-deux euros par mois, frais de dossier compris."),
    ("speaker_0", "Vous disposez d'un délai de rétractation de quatorze jours."),
]
FOLLOW_UP: list[Turn] = [
    ("speaker_0", "Bonjour, je vous rappelle pour la signature électronique du contrat."),
    ("speaker_1", "Oui je viens de signer le document."),
]


def long_timeline(turns: int = 400) -> Timeline:
    """A call long enough (well above 1024 tokens) for prompt caching to apply."""
    padding = [
        ("speaker_0" if i % 2 else "speaker_1", f"Phrase de remplissage numéro {i} sur la mutuelle santé.")
        for i in range(turns)
    ]
    return timeline(SALE_CALL + padding, FOLLOW_UP)


def scorecard(*, steps: int = 3) -> ScorecardSpec:
    catalogue = [
        StepSpec(
            position=1,
            name="Présentation cabinet et agent",
            description="L'agent se présente et présente le cabinet.",
            prompt="Vérifiez l'identité de l'agent, le cabinet et le numéro ORIAS.",
            control_points=("Identité de l'agent", "Mention du cabinet", "Numéro ORIAS"),
            keywords=("ORIAS", "conseiller", "Net Courtage"),
            severity=Severity.CRITICAL,
            is_critical=True,
            weight=10,
        ),
        StepSpec(
            position=2,
            name="Enregistrement de l'appel",
            description="Le client est informé de l'enregistrement.",
            prompt="Vérifiez l'annonce de l'enregistrement et le droit d'opposition.",
            control_points=("Appel enregistré", "Droit d'opposition"),
            keywords=("enregistré", "opposer"),
            severity=Severity.HIGH,
            weight=7,
        ),
        StepSpec(
            position=3,
            name="Garanties et exclusions",
            description="Les garanties et exclusions du contrat sont présentées.",
            prompt="Vérifiez la présentation des garanties et des exclusions.",
            control_points=("Garanties présentées", "Exclusions présentées"),
            keywords=("hospitalisation", "exclusions"),
            severity=Severity.HIGH,
            weight=8,
            verify_product_info=True,
        ),
    ]
    return ScorecardSpec(
        scorecard_id=1,
        version_id=1,
        version=1,
        name="Audit test",
        description="Scorecard de test",
        system_prompt="Vous êtes un auditeur qualité de ventes de complémentaire santé.",
        steps=tuple(catalogue[:steps]),
    )
