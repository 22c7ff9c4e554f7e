"""A day's audit run drains the day: it takes fiches as their transcription completes, and two runs of
one day share it, each fiche audited once, neither failing."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from domain import stages
from domain.audits import timeline
from domain.audits.gating import GatingRules
from domain.audits.store import Trigger
from domain.models import Audit, FicheTranscription
from resources.database import sync_session_factory
from services.auditing import AuditEngine, AuditReport, Outcome
from services.drain import Feed
from tests.fixtures.audit_day import DAY
from tests.fixtures.audit_runs import FailingStep, scorecard_spec

SALES_DAY = dt.date.fromisoformat(DAY)


def _engine(sync_engine: Engine, run_id: str) -> AuditEngine:
    # Every step takes 0.2 s (`FailingStep` with no broken step): runs started together overlap.
    auditor: Any = FailingStep(broken=0)  # the Auditor protocol, met structurally as in test_engine
    trigger = Trigger(source="asset", run_id=run_id)
    return AuditEngine(auditor, sync_session_factory(sync_engine), None, rules=GatingRules(), trigger=trigger)


def _ready(sync_engine: Engine) -> list[str]:
    with Session(sync_engine) as session:
        return stages.fiche_ids(session, stages.transcribed(SALES_DAY))


def _audit_runs(sync_engine: Engine) -> Counter[str]:
    with Session(sync_engine) as session:
        return Counter(session.scalars(select(Audit.fiche_id)))


def test_two_overlapping_runs_of_a_day_both_succeed_and_audit_each_fiche_once(
    transcribed_day: list[str], scorecard_id: int, sync_engine: Engine
) -> None:
    spec = scorecard_spec(sync_engine, scorecard_id)
    live = {"run-a", "run-b"}  # both Dagster runs in progress for the whole test
    feed = Feed(lambda: _ready(sync_engine), lambda: False, poll_seconds=0.05, run_active=lambda run: run in live)

    async def both() -> list[AuditReport]:
        runs = [_engine(sync_engine, run) for run in sorted(live)]
        return list(await asyncio.gather(*(r.audit_fiches(feed, spec) for r in runs)))

    first, second = asyncio.run(both())
    assert transcribed_day
    assert _audit_runs(sync_engine) == Counter(dict.fromkeys(transcribed_day, 1))
    for report in (first, second):
        assert sorted(f.fiche_id for f in report.fiches) == transcribed_day
        assert {f.outcome for f in report.fiches} <= {Outcome.COMPLETED, Outcome.UNCHANGED}
    # Neither run did all the work: they overlapped, and the one that waited reports the other's audit.
    assert 0 < len(first.completed) < len(transcribed_day)
    assert len(first.completed) + len(second.completed) == len(transcribed_day)


def test_a_fiche_whose_transcription_completes_while_the_run_is_active_is_audited_by_it(
    transcribed_day: list[str], scorecard_id: int, sync_engine: Engine
) -> None:
    late = transcribed_day[-1]
    with Session(sync_engine) as session, session.begin():
        session.execute(update(FicheTranscription).where(FicheTranscription.fiche_id == late).values(status="running"))
    looks = 0

    def transcription_run_active() -> bool:
        """The day's transcription run: it completes the late fiche at its third look, then ends."""
        nonlocal looks
        looks += 1
        if looks == 3:
            with Session(sync_engine) as session, session.begin():
                session.execute(
                    update(FicheTranscription).where(FicheTranscription.fiche_id == late).values(status="complete")
                )
        return looks <= 3

    feed = Feed(lambda: _ready(sync_engine), transcription_run_active, poll_seconds=0.05)
    report = asyncio.run(_engine(sync_engine, "run-a").audit_fiches(feed, scorecard_spec(sync_engine, scorecard_id)))
    assert {f.fiche_id: f.outcome for f in report.fiches} == dict.fromkeys(transcribed_day, Outcome.COMPLETED)
    with Session(sync_engine) as session:
        run_of_late = session.scalars(select(Audit.run_id).where(Audit.fiche_id == late)).one()
    assert run_of_late == "run-a"
    assert looks > 3


def test_a_day_run_loads_the_token_encoding_while_it_waits_for_its_first_transcript(
    scorecard_id: int, sync_engine: Engine
) -> None:
    """Not on the first audit's path (decision 115): upstream stays at work, nothing ready, until the
    encoding is loaded (or a bounded number of looks went by without it)."""
    timeline._load_encoding.cache_clear()
    spec = scorecard_spec(sync_engine, scorecard_id)
    looks: list[bool] = []

    def upstream_active() -> bool:
        looks.append(timeline._load_encoding.cache_info().currsize == 1)
        return not looks[-1] and len(looks) < 2000

    feed = Feed(list, upstream_active, poll_seconds=0.01, idle_poll_seconds=0.01)
    engine = _engine(sync_engine, "run-a")
    engine.prompt_token_budget = 100_000
    report = asyncio.run(engine.audit_fiches(feed, spec))
    assert report.fiches == []
    assert looks[-1], f"the encoding was not loaded in {len(looks)} looks with nothing to audit"
