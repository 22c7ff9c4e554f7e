"""Automation e-mails leave through the delivery outbox, once per notice key however often a run retries."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from domain.models.automation import AutomationNotification, AutomationRun, RunStatus
from domain.models.outbox import DeliveryChannel, OutboxDelivery
from domain.schedules.notifications import RunSummary, TableNotifier, render_email
from domain.schedules.results import Tally
from tests.automation.harness import schedule

pytestmark = pytest.mark.usefixtures("clean_tables")


def _run(engine: Engine) -> int:
    schedule_id = schedule(engine)
    with Session(engine) as session, session.begin():
        run = AutomationRun(schedule_id=schedule_id, status="completed", trigger="manual")
        session.add(run)
        session.flush()
        return run.id


def test_an_automation_email_is_queued_in_the_outbox_once_per_key(sync_engine: Engine) -> None:
    run_id = _run(sync_engine)
    summary = RunSummary(run_id, 1, "Audit quotidien", RunStatus.COMPLETED, 4200, Tally(), [])
    notice = render_email(summary, "qualite@example.fr")
    for _ in range(2):  # the run retried: the same notice is handed over again
        with Session(sync_engine) as session, session.begin():
            TableNotifier(session, run_id).send_email(notice)
    with Session(sync_engine) as session:
        mails = list(
            session.scalars(select(OutboxDelivery).where(OutboxDelivery.channel == DeliveryChannel.MAIL.value))
        )
        assert session.scalar(select(func.count()).select_from(AutomationNotification)) == 1
    [mail] = mails
    assert mail.event_type == "mail.automation"
    body = json.loads(mail.body)
    assert (body["to"], body["subject"]) == ("qualite@example.fr", notice.subject)
    assert "Audit quotidien" in body["text"]
    assert "<table>" in body["html"]
    assert mail.next_attempt_at <= dt.datetime.now(dt.UTC)
