"""Recording audio: valid WAV files as long as their transcripts, served in any byte range."""

from __future__ import annotations

import io
import random
import wave
from datetime import date

import pytest

from callaudit.demo_crm.audio import HEADER_SIZE, plan_audio
from callaudit.demo_crm.calls import build_transcript
from callaudit.demo_crm.fiches import build_fiche

DAY = date(2025, 9, 25)


def render(index: int, rate: int, recording: int = 0) -> tuple[bytes, float, int]:
    core = build_fiche(17, DAY, index, 12)
    transcript = build_transcript(core, core.recordings[recording])
    plan = plan_audio(transcript.words, transcript.duration_seconds, rate)
    data = b"".join(plan.iter_bytes())
    assert len(data) == plan.size
    return data, transcript.duration_seconds, plan.size


@pytest.mark.parametrize("rate", [8000, 16000])
def test_wav_is_readable_and_as_long_as_the_transcript(rate: int) -> None:
    data, duration, _ = render(0, rate)
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, rate)
        assert abs(wav.getnframes() / rate - duration) < 0.1
        frames = wav.readframes(wav.getnframes())
    assert any(frames), "words are audible"
    assert frames.count(b"\x00") > len(frames) // 10, "pauses are silent"


def test_audio_is_deterministic() -> None:
    assert render(1, 8000)[0] == render(1, 8000)[0]


def test_any_byte_range_matches_the_whole_file() -> None:
    core = build_fiche(17, DAY, 2, 12)
    transcript = build_transcript(core, core.sale_call)
    plan = plan_audio(transcript.words, transcript.duration_seconds, 8000)
    whole = b"".join(plan.iter_bytes())
    rng = random.Random(0)
    bounds = [(0, 10), (0, HEADER_SIZE + 1), (HEADER_SIZE - 1, HEADER_SIZE + 3), (plan.size - 5, plan.size)]
    for _ in range(50):
        start = rng.randrange(plan.size)
        bounds.append((start, rng.randrange(start, plan.size + 1)))
    for start, stop in bounds:
        assert b"".join(plan.iter_bytes(start, stop)) == whole[start:stop], (start, stop)
