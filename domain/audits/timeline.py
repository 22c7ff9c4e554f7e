"""A fiche's conversation as auditors see it: transcribed recordings in call order, each cut into
its speaker-turn chunks, with the words and their timings kept for locating quotes.

`recording_index` is the recording's 0-based position among the transcribed recordings (what the
prompt shows as "Enregistrement #k"); `chunk_index` is the chunk's `turn_index`, stable for a
recording. Stored citations keep `chunk_id` (`{call_id}:{turn_index}`), which never shifts when
another recording of the fiche is transcribed later.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from domain.transcripts.chunking import Chunk, Word, speech_words

Role = Literal["agent", "client", "unknown"]
"""Who a diarised speaker is in the conversation (`domain.transcripts.roles` infers it)."""


@dataclass(frozen=True)
class TimedWord:
    text: str
    start: float
    end: float


@dataclass(frozen=True)
class TimelineChunk:
    chunk_id: str
    call_id: str
    recording_index: int
    chunk_index: int
    speaker: str
    start: float
    end: float
    text: str
    words: tuple[TimedWord, ...]  # the chunk's words in order; `text` is them joined by spaces
    role: Role = "unknown"
    # The chunk's stored language analysis (`domain.language.analysis`), when it has one: not part
    # of what the chunk says, so left out of comparisons and of the timeline's version.
    analysis: dict[str, Any] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class TimelineRecording:
    recording_index: int
    call_id: str
    recording_url: str
    recording_date: str | None  # DD/MM/YYYY (telephony clock)
    recording_time: str | None  # HH:MM
    start_time: str | None  # ISO 8601
    from_number: str | None
    to_number: str | None
    duration_seconds: float | None
    chunks: tuple[TimelineChunk, ...]
    role_confidence: float | None = None  # of the speaker -> role mapping of this recording


@dataclass(frozen=True)
class Timeline:
    fiche_id: str
    recordings: tuple[TimelineRecording, ...]

    @property
    def total_chunks(self) -> int:
        return sum(len(r.chunks) for r in self.recordings)

    @property
    def is_empty(self) -> bool:
        return self.total_chunks == 0

    def chunks(self) -> Iterator[TimelineChunk]:
        for recording in self.recordings:
            yield from recording.chunks

    def recording(self, recording_index: int) -> TimelineRecording | None:
        if 0 <= recording_index < len(self.recordings):
            return self.recordings[recording_index]
        return None

    def chunk(self, recording_index: int, chunk_index: int) -> TimelineChunk | None:
        recording = self.recording(recording_index)
        if recording is None or not 0 <= chunk_index < len(recording.chunks):
            return None
        return recording.chunks[chunk_index]

    def with_analyses(self, analyses: dict[str, dict[str, Any]]) -> Timeline:
        """The same timeline with chunks' stored language analyses (`chunk_id`: JSON) attached."""
        return dataclasses.replace(
            self,
            recordings=tuple(
                dataclasses.replace(
                    r, chunks=tuple(dataclasses.replace(c, analysis=analyses.get(c.chunk_id)) for c in r.chunks)
                )
                for r in self.recordings
            ),
        )

    @property
    def version(self) -> str:
        """A digest of what auditors read: same chunks, speakers' roles and texts, same version (audits
        are skipped); roles count because gating judges evidence by them."""
        digest = hashlib.sha256()
        for chunk in self.chunks():
            digest.update(
                f"{chunk.chunk_id}\x1f{chunk.speaker}\x1f{chunk.role}\x1f{chunk.start:.2f}\x1f{chunk.text}\x1e".encode()
            )
        return digest.hexdigest()[:16]


def recording_chunks(recording_index: int, chunks: Sequence[Chunk], words: Iterable[Word]) -> tuple[TimelineChunk, ...]:
    """A recording's timeline chunks with their words: chunking cut `speech_words` in order into
    chunks of `word_count` words each (`domain.transcripts.chunking.build_chunks`)."""
    ordered = speech_words(words)
    out: list[TimelineChunk] = []
    cursor = 0
    for chunk in chunks:
        span = ordered[cursor : cursor + chunk.word_count]
        cursor += chunk.word_count
        out.append(
            TimelineChunk(
                chunk_id=chunk.chunk_id,
                call_id=chunk.call_id,
                recording_index=recording_index,
                chunk_index=chunk.turn_index,
                speaker=chunk.speaker,
                start=chunk.start,
                end=chunk.end,
                text=chunk.text,
                words=tuple(TimedWord(w.text.strip(), w.start, w.end) for w in span),
            )
        )
    return tuple(out)


def mmss(seconds: float) -> str:
    """`75.4` -> `01:15` (minutes may exceed 59 for long calls)."""
    total = max(0, int(seconds))
    return f"{total // 60:02d}:{total % 60:02d}"


_ROLE_WORD = {"agent": "conseiller", "client": "client"}


def _speaker(chunk: TimelineChunk) -> str:
    """`speaker_1 (conseiller)`; the bare label when the role is unknown."""
    role = _ROLE_WORD.get(chunk.role)
    return f"{chunk.speaker} ({role})" if role else chunk.speaker


@functools.cache
def _load_encoding() -> Any:
    import quicktok

    return quicktok.get_encoding("o200k_base")


#: A day's audit run loads the encoding on a thread while it waits for its first transcript
#: (`warm_token_count`); the first count waits for that load rather than making a second.
_loading = threading.Lock()


def _encoding() -> Any:
    with _loading:
        return _load_encoding()


def warm_token_count() -> None:
    """Load the encoding `count_tokens` uses (0.6 s of CPU the first time in a process)."""
    _encoding()


def count_tokens(text: str) -> int:
    """`text` in o200k_base tokens (the GPT-4o / GPT-5 encoding), counted offline; special tokens as text."""
    return len(_encoding().encode_ordinary(text))


def timeline_tokens(timeline: Timeline) -> int:
    """The size of the prompt-mode timeline in o200k_base tokens (counted offline)."""
    return count_tokens(render_timeline(timeline))


def render_timeline(timeline: Timeline) -> str:
    """The timeline text of prompt mode (reference §7.2): numbered recordings and chunks with times,
    each chunk's speaker with its role when known.

    Deterministic for a given timeline, so every step of an audit shares it byte for byte as prompt prefix.
    """
    lines = ["=== CHRONOLOGIE COMPLÈTE DE LA CONVERSATION ===", ""]
    for recording in timeline.recordings:
        lines += [
            f"Enregistrement #{recording.recording_index + 1}",
            f"Date: {recording.recording_date or 'N/A'}",
            f"Heure: {recording.recording_time or 'N/A'}",
            f"Call ID: {recording.call_id}",
            f"De {recording.from_number or 'N/A'} → Vers {recording.to_number or 'N/A'}",
            f"Durée: {int(recording.duration_seconds) if recording.duration_seconds is not None else 'N/A'}s",
            f"Total Chunks: {len(recording.chunks)}",
        ]
        if recording.role_confidence is not None:
            lines.append(f"Rôles des locuteurs (confiance): {recording.role_confidence:.2f}")
        lines.append("")
        for chunk in recording.chunks:
            lines += [
                f"─── Chunk {chunk.chunk_index + 1} ───",
                f"Temps: {chunk.start:.1f}s - {chunk.end:.1f}s ({mmss(chunk.start)})",
                f"Speakers: {_speaker(chunk)}",
                f"{chunk.speaker}: {chunk.text}",
                "",
            ]
    lines.append("=== FIN DE LA CHRONOLOGIE ===")
    return "\n".join(lines)
