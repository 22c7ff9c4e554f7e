"""A fake `Pipeline` over the real database, recording ports, and a schedule builder for runner tests.

The fake stages write what the real ones write (fiche details, transcription status, audits linked
to the run), driven by a plan per fiche, so the runner's accounting is tested without the CRM, STT
or LLM; the real stages are covered end to end in `tests/audits/test_automation_schedules.py`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from domain.models import Audit, Fiche, FicheTranscription, Scorecard
from domain.models.automation import AutomationSchedule
from domain.schedules.notifications import EmailNotice, WebhookNotice
from domain.schedules.runner import AutomationRunner, RunSettings
from domain.schedules.store import create_run
from tests.scorecards.factory import add_scorecard

DAY = dt.date(2026, 3, 2)


@dataclass
class Plan:
    """What happens to one fiche in the fake CRM / STT / auditor."""

    day: dt.date = DAY
    groupe: str | None = "NCA R1"
    group_id: str | None = "4"
    recordings: int = 2
    details: str = "fetched"  # or "failed", "not_found"
    transcription: str = "complete"  # or "partial", "failed"
    audit_fails: int = 0  # how many audit attempts fail before one succeeds
    listed_groupe: bool = False  # whether the sales list already carries the groupe


@dataclass
class FakePipeline:
    engine: Engine
    plans: dict[str, Plan]
    run_id: int = 0
    schedule_id: int = 0
    calls: list[tuple[str, Any]] = field(default_factory=list)
    audit_attempts: dict[tuple[str, int], int] = field(default_factory=dict)

    def seed(self) -> None:
        """The sales list of every day: summaries (with the groupe only when the list carries it)."""
        with Session(self.engine) as session, session.begin():
            for fiche_id, plan in self.plans.items():
                session.add(
                    Fiche(
                        fiche_id=fiche_id,
                        sales_date=plan.day,
                        fetch_status="summary",
                        groupe=plan.groupe if plan.listed_groupe else None,
                        crm_group_id=plan.group_id if plan.listed_groupe else None,
                    )
                )

    def sync_day(self, day: dt.date) -> None:
        self.calls.append(("sync_day", day))

    def fetch_details(self, fiche_ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
        self.calls.append(("fetch_details", list(fiche_ids)))
        out: dict[str, tuple[str, str | None]] = {}
        with Session(self.engine) as session, session.begin():
            for fiche_id in fiche_ids:
                plan = self.plans[fiche_id]
                if plan.details != "fetched":
                    out[fiche_id] = (plan.details, "CRM answered 500" if plan.details == "failed" else None)
                    continue
                fiche = session.scalars(select(Fiche).where(Fiche.fiche_id == fiche_id)).one()
                fiche.fetch_status, fiche.recordings_count = "details", plan.recordings
                fiche.groupe, fiche.crm_group_id = plan.groupe, plan.group_id
                out[fiche_id] = ("fetched", None)
        return out

    def transcribe(self, fiche_ids: Sequence[str], *, force: bool, priority: str) -> dict[str, int]:
        self.calls.append(("transcribe", (list(fiche_ids), force, priority)))
        with Session(self.engine) as session, session.begin():
            for fiche_id in fiche_ids:
                plan = self.plans[fiche_id]
                row = session.get(FicheTranscription, fiche_id) or FicheTranscription(fiche_id=fiche_id)
                row.status = plan.transcription
                row.reason = None if plan.transcription == "complete" else "1 recording failed: provider 503"
                row.recordings_total = plan.recordings
                session.add(row)
        return {f: self.plans[f].recordings for f in fiche_ids}

    def audit(self, fiche_ids: Sequence[str], *, scorecard_id: int, use_rlm: bool) -> None:
        self.calls.append(("audit", (list(fiche_ids), scorecard_id, use_rlm)))
        with Session(self.engine) as session, session.begin():
            version_id = session.get_one(Scorecard, scorecard_id).current_version_id
            assert version_id is not None
            for fiche_id in fiche_ids:
                key = (fiche_id, scorecard_id)
                self.audit_attempts[key] = attempt = self.audit_attempts.get(key, 0) + 1
                failed = attempt <= self.plans[fiche_id].audit_fails
                session.add(
                    Audit(
                        fiche_id=fiche_id,
                        scorecard_id=scorecard_id,
                        scorecard_version_id=version_id,
                        version=attempt,
                        is_latest=False,
                        status="failed" if failed else "completed",
                        error="LLM timeout" if failed else None,
                        trigger_source="automation",
                        automation_run_id=self.run_id,
                        automation_schedule_id=self.schedule_id,
                        auditor="heuristic",
                        prompt_version="test",
                        use_rlm=use_rlm,
                    )
                )


@dataclass
class RecordingNotifier:
    emails: list[EmailNotice] = field(default_factory=list)
    webhooks: list[WebhookNotice] = field(default_factory=list)
    sent_keys: set[str] = field(default_factory=set)

    def send_email(self, notice: EmailNotice) -> None:
        if notice.key not in self.sent_keys:  # the port's contract: a key is delivered once
            self.sent_keys.add(notice.key)
            self.emails.append(notice)

    def send_webhook(self, notice: WebhookNotice) -> None:
        if notice.key not in self.sent_keys:
            self.sent_keys.add(notice.key)
            self.webhooks.append(notice)


@dataclass
class RecordingEvents:
    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def publish(self, event: str, payload: dict[str, Any]) -> None:
        self.published.append((event, payload))

    def names(self) -> list[str]:
        return [name for name, _ in self.published]


def scorecards(engine: Engine, count: int = 2, *, automatic: int = 0) -> list[int]:
    """`count` scorecards; the last `automatic` of them run automatically."""
    with Session(engine) as session, session.begin():
        made = [add_scorecard(session) for _ in range(count)]
        for scorecard in made[count - automatic :] if automatic else []:
            scorecard.run_automatically = True
        return [s.id for s in made]


def schedule(engine: Engine, **fields: Any) -> int:
    values: dict[str, Any] = {
        "name": "Ventes de la veille",
        "schedule_type": "MANUAL",
        "timezone": "Europe/Paris",
        "fiche_selection_mode": "date_range",
        "fiche_selection_date_range": "custom",
        "fiche_selection_custom_start_date": DAY,
        "fiche_selection_custom_end_date": DAY,
        "use_automatic_audits": False,
        "notify_emails": ["qualite@example.test"],
        "webhook_url": "https://hooks.example.test/a",
        **fields,
    }
    with Session(engine) as session, session.begin():
        row = AutomationSchedule(**values)
        session.add(row)
        session.flush()
        return row.id


def new_run(engine: Engine, schedule_id: int, **kwargs: Any) -> int:
    with Session(engine) as session, session.begin():
        return create_run(session, session.get_one(AutomationSchedule, schedule_id), trigger="manual", **kwargs)


@dataclass
class Harness:
    engine: Engine
    pipeline: FakePipeline
    events: RecordingEvents
    notifier: RecordingNotifier
    now: dt.datetime = dt.datetime(2026, 3, 3, 6, 0, tzinfo=dt.UTC)

    def runner(self, run_id: int, schedule_id: int) -> AutomationRunner:
        self.pipeline.run_id, self.pipeline.schedule_id = run_id, schedule_id
        return AutomationRunner(
            run_id,
            sessions=sessionmaker(self.engine, expire_on_commit=False),
            pipeline=self.pipeline,
            events=self.events,
            notifier=lambda session: self.notifier,
            settings=RunSettings(max_recordings_per_fiche=50, batch_size=2),
            clock=lambda: self.now,
            dagster_run_id="dagster-run-1",
        )

    def run(self, schedule_id: int, **kwargs: Any) -> int:
        run_id = new_run(self.engine, schedule_id, **kwargs)
        self.runner(run_id, schedule_id).execute()
        return run_id


def harness(engine: Engine, plans: dict[str, Plan]) -> Harness:
    pipeline = FakePipeline(engine, plans)
    pipeline.seed()
    return Harness(engine, pipeline, RecordingEvents(), RecordingNotifier())
