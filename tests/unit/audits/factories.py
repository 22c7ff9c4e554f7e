"""Small builders of timelines, step specs and auditor outputs for the audit engine's unit tests."""

from __future__ import annotations

from domain.audits.schema import Citation, Conformity, ControlPointResult, Level, PointStatus, StepOutput
from domain.audits.scorecard import ScorecardSpec, SpeakerRule, StepSpec
from domain.audits.timeline import Role, TimedWord, Timeline, TimelineChunk, TimelineRecording

WORD_SECONDS = 0.5
TURN_GAP = 1.0


def recording(
    index: int, *turns: tuple[str, str], start: float = 0.0, roles: dict[str, Role] | None = None
) -> TimelineRecording:
    """A recording of (speaker, text) turns, one chunk each; every word lasts 0.5 s, turns 1 s apart.
    `roles` maps speakers to `agent` / `client` (else every chunk's role is unknown)."""
    call_id = f"call{index}"
    clock = start
    chunks = []
    for turn_index, (speaker, text) in enumerate(turns):
        words = []
        for word in text.split():
            words.append(TimedWord(word, clock, clock + WORD_SECONDS - 0.1))
            clock += WORD_SECONDS
        chunks.append(
            TimelineChunk(
                chunk_id=f"{call_id}:{turn_index}",
                call_id=call_id,
                recording_index=index,
                chunk_index=turn_index,
                speaker=speaker,
                start=words[0].start,
                end=words[-1].end,
                text=text,
                words=tuple(words),
                role=(roles or {}).get(speaker, "unknown"),
            )
        )
        clock += TURN_GAP
    return TimelineRecording(
        recording_index=index,
        call_id=call_id,
        recording_url=f"https://records.example/{call_id}.wav",
        recording_date="02/02/2026",
        recording_time="10:15",
        start_time="2026-02-02T09:15:00+00:00",
        from_number="33600000000",
        to_number="33100000000",
        duration_seconds=clock,
        chunks=tuple(chunks),
    )


def timeline(*recordings: list[tuple[str, str]], roles: dict[str, Role] | None = None) -> Timeline:
    return Timeline("F1", tuple(recording(i, *turns, roles=roles) for i, turns in enumerate(recordings)))


def cite(texte: str, recording_index: int = 0, chunk_index: int = 0) -> Citation:
    """A citation as an auditor writes it; the metadata it claims is deliberately wrong."""
    return Citation(
        texte=texte,
        minutage="99:99",
        minutage_secondes=9999.0,
        speaker="speaker_9",
        recording_index=recording_index,
        chunk_index=chunk_index,
        recording_date="N/A",
        recording_time="N/A",
        recording_url="N/A",
    )


def point(statut: PointStatus, *citations: Citation, text: str = "point") -> ControlPointResult:
    return ControlPointResult(
        point=text,
        statut=statut,
        commentaire="vu",
        citations=list(citations),
        minutages=["99:99"] if citations else [],
        erreur_transcription_notee=False,
        variation_phonetique_utilisee=None,
    )


def output(
    *points: ControlPointResult,
    score: int = 10,
    conforme: Conformity = Conformity.CONFORME,
    niveau: Level = Level.EXCELLENT,
) -> StepOutput:
    return StepOutput(
        traite=True,
        conforme=conforme,
        minutages=["99:99"],
        score=score,
        points_controle=list(points),
        mots_cles_trouves=[],
        commentaire_global="Analyse.",
        niveau_conformite=niveau,
        erreurs_transcription_tolerees=0,
    )


def step(
    position: int = 1,
    *,
    weight: int = 10,
    points: tuple[str, ...] = ("point",),
    keywords: tuple[str, ...] = (),
    is_critical: bool = False,
    name: str | None = None,
    prompt: str = "",
    speakers: tuple[SpeakerRule, ...] = (),
) -> StepSpec:
    return StepSpec(
        position=position,
        name=name or f"Étape {position}",
        description="",
        prompt=prompt,
        point_speakers=speakers,
        control_points=points,
        keywords=keywords,
        is_critical=is_critical,
        weight=weight,
    )


def scorecard(*steps: StepSpec) -> ScorecardSpec:
    return ScorecardSpec(1, 1, 1, "Grille", "", "", tuple(steps))
