"""Timelines of the demo CRM simulator's calls, built in-process (no HTTP) as the product stores them.

For the benchmarks that need realistic call lengths and turn counts (tokens, cost, parse time),
not labels: the simulator's phrases were written beside the first auditor, so agreement is measured
on the held-apart corpus of `benchmarks/evaluation/` instead (`audit_quality.py`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from callaudit.demo_crm.calls import build_transcript
from callaudit.demo_crm.fiches import FicheCore, build_fiche
from domain.audits.scorecard import ScorecardSpec
from domain.audits.timeline import Timeline, TimelineRecording, recording_chunks
from domain.scorecards.io import read_document
from domain.transcripts.chunking import Word, build_chunks

DEMO_SCORECARD = Path(__file__).resolve().parent.parent / "domain" / "audits" / "demo_scorecard.json"
SEED = 42
FICHES_PER_DAY = 12
FIRST_DAY = date(2026, 2, 2)
SIM_URL = "http://127.0.0.1:8090"
PARIS = ZoneInfo("Europe/Paris")


def demo_scorecard() -> ScorecardSpec:
    draft = read_document(json.loads(DEMO_SCORECARD.read_text(encoding="utf-8")))
    return ScorecardSpec(0, 0, 1, draft.name, draft.description, draft.system_prompt, draft.steps)


def timeline(core: FicheCore) -> Timeline:
    recordings = []
    for index, rec in enumerate(core.recordings):
        transcript = build_transcript(core, rec)
        words = [Word(w.text, w.start, w.end, w.speaker) for w in transcript.words]
        local = rec.start.astimezone(PARIS)
        recordings.append(
            TimelineRecording(
                recording_index=index,
                call_id=rec.call_id,
                recording_url=rec.url(SIM_URL),
                recording_date=local.strftime("%d/%m/%Y"),
                recording_time=local.strftime("%H:%M"),
                start_time=rec.start.isoformat(),
                from_number=rec.from_number,
                to_number=rec.to_number,
                duration_seconds=float(rec.duration_seconds),
                chunks=recording_chunks(index, build_chunks(rec.call_id, words), words),
            )
        )
    return Timeline(fiche_id=core.fiche_id, recordings=tuple(recordings))


def timelines(fiches: int, *, seed: int = SEED) -> Iterator[Timeline]:
    """`fiches` fiches of consecutive sales days of the simulator, as timelines."""
    for n in range(fiches):
        day = FIRST_DAY + timedelta(days=n // FICHES_PER_DAY)
        yield timeline(build_fiche(seed, day, n % FICHES_PER_DAY, FICHES_PER_DAY))
