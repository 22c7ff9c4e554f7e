"""Two runs transcribing the same fiches at once: one provider call and one download per recording.

Both runs succeed: the second waits on each recording's claim, then finds it transcribed by the
first (before claims, both paid the provider and one run failed on `uq_transcripts_recording_id`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import dagster as dg
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from assets.fiches import fiche_details, sales_fiches
from assets.transcripts import transcribe_fiches
from domain.models import Fiche, FicheTranscription, Recording, Transcript
from resources.stt.resource import SttResource
from services.transcription import TranscriptionReport
from tests.fixtures.crm_simulator import Simulator
from tests.fixtures.standins.stt_upstream import serve_upstream

DAY = "2026-03-02"


def test_two_concurrent_runs_make_one_provider_call_per_recording(
    crm_resources: dict[str, Any], simulator: Simulator, sync_engine: Engine
) -> None:
    assert dg.materialize([sales_fiches, fiche_details], partition_key=DAY, resources=crm_resources).success
    with Session(sync_engine) as session:
        fiche_ids = list(session.scalars(select(Fiche.fiche_id).where(Fiche.recordings_count > 0)))
        recordings = session.scalar(select(func.count()).select_from(Recording).where(Recording.recording_url != ""))
    assert fiche_ids
    assert recordings
    simulator.reset()

    with serve_upstream(latency=0.2) as (base, stats):
        stt = SttResource(
            provider="openai",
            openai_api_key="k",
            openai_base_url=f"{base}/v1",
            concurrency=4,
            audio_allowed_origins=[simulator.base_url],  # the simulator serves the audio on loopback
        )

        def run(name: str) -> TranscriptionReport:
            return transcribe_fiches(stt, crm_resources["redis"], crm_resources["database"], fiche_ids, run_id=name)

        with ThreadPoolExecutor(max_workers=2) as pool:
            first, second = pool.map(run, ["run-a", "run-b"])

    for report in (first, second):
        assert {f.status for f in report.fiches} == {"complete"}, report.failures
    assert first.transcribed + second.transcribed == recordings
    assert first.skipped + second.skipped >= recordings  # what one run did, the other counted as done
    assert sum(stats.calls.values()) == recordings
    assert set(stats.calls.values()) == {1}
    downloads = simulator.stats()["endpoints"]["/records/{acct}/{filename}"]["requests"]
    assert downloads == recordings
    with Session(sync_engine) as session:
        assert session.scalar(select(func.count()).select_from(Transcript)) == recordings
        statuses = set(session.scalars(select(FicheTranscription.status)))
    assert statuses == {"complete"}
