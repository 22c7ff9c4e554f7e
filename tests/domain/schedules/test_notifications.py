"""Automation e-mails leave through the delivery outbox, once per notice key however often a run retries."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from domain.models.automation import AutomationNotification, AutomationRun, RunStatus
from domain.models.outbox import DeliveryChannel, OutboxDelivery
from domain.schedules.notifications import RunSummary, TableNotifier, render_email
from domain.schedules.results import Tally
from tests.fixtures.schedules import schedule

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


def test_an_automation_email_is_stored_once_in_the_outbox_row_the_notice_points_to(sync_engine: Engine) -> None:
    run_id = _run(sync_engine)
    summary = RunSummary(run_id, 1, "Contrôle hebdomadaire", RunStatus.COMPLETED, 4200, Tally(), [])
    with Session(sync_engine) as session, session.begin():
        TableNotifier(session, run_id).send_email(render_email(summary, "qualite@example.fr"))

    def rows_mentioning(table: str) -> int:
        with Session(sync_engine) as session:
            statement = text(f"SELECT count(*) FROM {table} t WHERE row_to_json(t)::text LIKE :needle")
            return int(session.scalar(statement, {"needle": "%hebdomadaire%"}) or 0)

    assert rows_mentioning("outbox_deliveries") == 1
    assert rows_mentioning("automation_notifications") == 0  # the notice keeps no copy of the message
    with Session(sync_engine) as session:
        notice = session.scalars(select(AutomationNotification)).one()
        mail = session.scalars(select(OutboxDelivery)).one()
    assert (notice.key, notice.kind, notice.delivery_id) == (
        f"automation-run:{run_id}:email:qualite@example.fr",
        "email",
        mail.id,
    )
