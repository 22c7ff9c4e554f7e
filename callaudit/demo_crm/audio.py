"""A playable WAV for each call: a soft tone under every word, silence between them.

The audio carries no speech (the reference transcript is the truth), but it has the call's exact
duration and its rhythm, so downloads, sizes, duration checks, players and chunking behave as with
real recordings. Bytes are produced on demand for any byte range, in chunks, by tiling one
precomputed period per pitch: a 25-minute call is never held in memory and costs little CPU.
"""

from __future__ import annotations

import bisect
import functools
import math
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from callaudit.demo_crm.calls import SPEAKERS, Word

SAMPLE_WIDTH = 2
HEADER_SIZE = 44
CHUNK_BYTES = 1 << 16
_AMPLITUDE = 0.18 * 32767
_FADE_SECONDS = 0.01
_PERIODS_AT_8K: dict[str, tuple[int, ...]] = {SPEAKERS["agent"]: (36, 40, 44), SPEAKERS["client"]: (50, 56, 62)}
"""Pitches (in samples per period at 8 kHz): about 180-220 Hz for the agent, 130-160 Hz for the client."""


@dataclass(frozen=True)
class Tone:
    start: int
    frames: int
    period: int


@functools.lru_cache(maxsize=64)
def _waveforms(period: int, fade_frames: int) -> tuple[bytes, bytes, bytes]:
    """(fade-in, one period, fade-out) as 16-bit PCM; fades span whole periods so pieces join."""

    def sample(n: int) -> float:
        phase = 2 * math.pi * n / period
        return (math.sin(phase) + 0.3 * math.sin(2 * phase)) / 1.3 * _AMPLITUDE

    def pack(values: Sequence[float]) -> bytes:
        return struct.pack(f"<{len(values)}h", *(round(v) for v in values))

    fade_in = pack([sample(n) * n / fade_frames for n in range(fade_frames)])
    fade_out = pack([sample(n) * (1 - n / fade_frames) for n in range(fade_frames)])
    return fade_in, pack([sample(n) for n in range(period)]), fade_out


@dataclass(frozen=True)
class AudioPlan:
    """Where the tones of a call fall, in frames; enough to render any byte range of its WAV."""

    sample_rate: int
    total_frames: int
    tones: tuple[Tone, ...]

    @property
    def size(self) -> int:
        return HEADER_SIZE + self.total_frames * SAMPLE_WIDTH

    def header(self) -> bytes:
        data = self.total_frames * SAMPLE_WIDTH
        byte_rate = self.sample_rate * SAMPLE_WIDTH
        riff = struct.pack("<4sI4s", b"RIFF", 36 + data, b"WAVE")
        fmt = struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, self.sample_rate, byte_rate, SAMPLE_WIDTH, 16)
        return riff + fmt + struct.pack("<4sI", b"data", data)

    def _fade_frames(self, period: int) -> int:
        wanted = _FADE_SECONDS * self.sample_rate
        return period * math.ceil(wanted / period)

    def _tone_pcm(self, tone: Tone) -> bytes:
        fade = self._fade_frames(tone.period)
        fade_in, cycle, fade_out = _waveforms(tone.period, fade)
        return fade_in + cycle * ((tone.frames - 2 * fade) // tone.period) + fade_out

    def pcm(self, first: int, stop: int) -> bytes:
        """Samples of frames [first, stop)."""
        parts: list[bytes] = []
        cursor = first
        index = max(0, bisect.bisect_right(self.tones, first, key=lambda t: t.start) - 1)
        while index < len(self.tones) and cursor < stop:
            tone = self.tones[index]
            index += 1
            tone_end = tone.start + tone.frames
            if tone_end <= cursor:
                continue
            if tone.start >= stop:
                break
            if tone.start > cursor:
                parts.append(bytes((tone.start - cursor) * SAMPLE_WIDTH))
                cursor = tone.start
            until = min(tone_end, stop)
            offset = (cursor - tone.start) * SAMPLE_WIDTH
            parts.append(self._tone_pcm(tone)[offset : offset + (until - cursor) * SAMPLE_WIDTH])
            cursor = until
        parts.append(bytes((stop - cursor) * SAMPLE_WIDTH))
        return b"".join(parts)

    def iter_bytes(self, start: int = 0, stop: int | None = None) -> Iterator[bytes]:
        """The WAV file's bytes [start, stop), in chunks of at most `CHUNK_BYTES`."""
        stop = self.size if stop is None else min(stop, self.size)
        if start < HEADER_SIZE:
            yield self.header()[start:stop]
        position = max(start, HEADER_SIZE) - HEADER_SIZE
        data_stop = stop - HEADER_SIZE
        while position < data_stop:
            end = min(data_stop, position + CHUNK_BYTES)
            first_frame = position // SAMPLE_WIDTH
            block = self.pcm(first_frame, -(-end // SAMPLE_WIDTH))
            skip = position - first_frame * SAMPLE_WIDTH
            yield block[skip : skip + end - position]
            position = end


def plan_audio(words: Sequence[Word], duration_seconds: float, sample_rate: int) -> AudioPlan:
    """One tone per word, its pitch cycling per speaker (a hint of intonation), never overlapping."""
    total = round(duration_seconds * sample_rate)
    tones: list[Tone] = []
    for position, word in enumerate(words):
        periods = _PERIODS_AT_8K[word.speaker]
        period = periods[position % len(periods)] * sample_rate // 8000
        start = round(word.start * sample_rate)
        limit = round(words[position + 1].start * sample_rate) if position + 1 < len(words) else total
        frames = min(round(word.end * sample_rate), limit, total) - start
        frames -= frames % period
        fade = period * math.ceil(_FADE_SECONDS * sample_rate / period)
        if frames >= 2 * fade:
            tones.append(Tone(start, frames, period))
    return AudioPlan(sample_rate, total, tuple(tones))
