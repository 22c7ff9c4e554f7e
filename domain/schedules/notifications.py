"""End-of-run notices: what is said (French e-mail in HTML and text, webhook JSON) and the port they go through.

Sent when (`notifyOnComplete` and the run completed) or (`notifyOnError` and it did not). Each notice
carries an idempotency key `automation-run:<id>:<kind>[:<address>]`: the sender (the outbox) sends a
key once, so a retried run or a reconciled one never notifies twice (reference §9.12 #5, #9). The
webhook goes to the schedule's signing subscription (`domain.schedules.webhook`).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from domain.models.automation import AutomationNotification, LogLevel, RunStatus
from domain.models.outbox import OutboxDelivery
from domain.outbox.queue import MailMessage, enqueue_mail, enqueue_webhook
from domain.schedules.results import FicheOutcome, Tally
from domain.schedules.store import add_log
from domain.schedules.webhook import schedule_subscription

_STATUS_FR = {
    RunStatus.COMPLETED: "terminée",
    RunStatus.PARTIAL: "partielle",
    RunStatus.FAILED: "en échec",
    RunStatus.MISSED: "manquée",
}


@dataclass(frozen=True)
class EmailNotice:
    key: str
    to: str
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class WebhookNotice:
    key: str
    schedule_id: int
    url: str
    event: str
    payload: dict[str, Any]


class RunNotifier(Protocol):
    """Where notices go (the webhook/mail outbox); must deliver each `key` at most once."""

    def send_email(self, notice: EmailNotice) -> None: ...

    def send_webhook(self, notice: WebhookNotice) -> None: ...


@dataclass(frozen=True)
class RunSummary:
    run_id: int
    schedule_id: int
    schedule_name: str
    status: RunStatus
    duration_ms: int
    tally: Tally
    failures: Sequence[FicheOutcome]
    error: str | None = None


def wanted(status: RunStatus, *, on_complete: bool, on_error: bool) -> bool:
    return on_complete if status is RunStatus.COMPLETED else on_error


def webhook_payload(summary: RunSummary) -> dict[str, Any]:
    """The original's payload (§9.9), plus `ignored` reasons and the run-level error."""
    return {
        "schedule_id": str(summary.schedule_id),
        "schedule_name": summary.schedule_name,
        "run_id": str(summary.run_id),
        "status": summary.status.value,
        "duration_seconds": round(summary.duration_ms / 1000, 1),
        **summary.tally.as_event(),
        "failures": [{"fiche_id": f.fiche_id, "error": f.error} for f in summary.failures],
        "error": summary.error,
    }


def _lines(summary: RunSummary) -> list[tuple[str, str]]:
    t = summary.tally
    return [
        ("Statut", _STATUS_FR.get(summary.status, summary.status.value)),
        ("Durée", f"{summary.duration_ms / 1000:.0f} s"),
        ("Fiches sélectionnées", str(t.total)),
        ("Réussies", str(t.successful)),
        ("En échec", str(t.failed)),
        ("Ignorées", str(t.ignored)),
        ("Enregistrements transcrits", str(t.transcriptions)),
        ("Audits réalisés", str(t.audits)),
    ]


def render_email(summary: RunSummary, to: str) -> EmailNotice:
    """The French e-mail, in text and HTML (every value escaped)."""
    status = _STATUS_FR.get(summary.status, summary.status.value)
    subject = f"Automatisation « {summary.schedule_name} » : exécution {status}"
    lines = _lines(summary)
    failures = list(summary.failures)[:50]
    text = [f"Exécution n°{summary.run_id} de l'automatisation « {summary.schedule_name} »", ""]
    text += [f"{label} : {value}" for label, value in lines]
    if summary.error:
        text += ["", f"Erreur : {summary.error}"]
    if failures:
        text += ["", "Fiches en échec :"] + [f"- {f.fiche_id} : {f.error or 'erreur inconnue'}" for f in failures]
    e = html.escape
    rows = "".join(f"<tr><th align='left'>{e(label)}</th><td>{e(value)}</td></tr>" for label, value in lines)
    body = [
        f"<p>Exécution n°{summary.run_id} de l'automatisation « {e(summary.schedule_name)} ».</p>",
        f"<table>{rows}</table>",
    ]
    if summary.error:
        body.append(f"<p><strong>Erreur :</strong> {e(summary.error)}</p>")
    if failures:
        items = "".join(f"<li>{e(f.fiche_id)} : {e(f.error or 'erreur inconnue')}</li>" for f in failures)
        body.append(f"<p>Fiches en échec :</p><ul>{items}</ul>")
    return EmailNotice(
        key=f"automation-run:{summary.run_id}:email:{to}",
        to=to,
        subject=subject,
        html="<!doctype html><html lang='fr'><body>" + "".join(body) + "</body></html>",
        text="\n".join(text) + "\n",
    )


def notices(
    summary: RunSummary, *, emails: Sequence[str], webhook_url: str | None
) -> tuple[list[EmailNotice], WebhookNotice | None]:
    event = "automation.run.completed" if summary.status is not RunStatus.FAILED else "automation.run.failed"
    hook = (
        WebhookNotice(
            f"automation-run:{summary.run_id}:webhook",
            summary.schedule_id,
            webhook_url,
            event,
            webhook_payload(summary),
        )
        if webhook_url
        else None
    )
    return [render_email(summary, to) for to in emails], hook


class TableNotifier:
    """Records notices in `automation_notifications`, once per key (insert or nothing: the unique key
    is what makes a retried run notify once), and queues each newly recorded one in the delivery
    outbox in the same transaction (e-mail to its address, webhook to the schedule's subscription),
    which sends and retries it. The message itself is stored once, in the outbox row; the notice keeps
    its key and the delivery's id."""

    def __init__(self, session: Session, run_id: int) -> None:
        self._session = session
        self._run_id = run_id

    def _add(self, key: str, kind: str) -> int | None:
        """The new notice's id (None: this key was recorded by an earlier attempt of the run)."""
        return self._session.scalar(
            insert(AutomationNotification)
            .values(key=key, run_id=self._run_id, kind=kind)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(AutomationNotification.id)
        )

    def _link(self, notification_id: int, delivery: OutboxDelivery) -> None:
        self._session.flush()
        self._session.execute(
            update(AutomationNotification)
            .where(AutomationNotification.id == notification_id)
            .values(delivery_id=delivery.id)
        )

    def send_email(self, notice: EmailNotice) -> None:
        notification_id = self._add(notice.key, "email")
        if notification_id is not None:
            message = MailMessage(to=notice.to, subject=notice.subject, text=notice.text, html=notice.html)
            self._link(notification_id, enqueue_mail(self._session, message, kind="automation"))

    def send_webhook(self, notice: WebhookNotice) -> None:
        subscription = schedule_subscription(self._session, notice.schedule_id)
        if subscription is None:  # a URL stored before schedules had subscriptions: set it again to get one
            add_log(
                self._session,
                self._run_id,
                LogLevel.WARNING,
                "webhookUrl not notified: it has no signing secret yet (set webhookUrl again to get one)",
            )
            return
        notification_id = self._add(notice.key, "webhook")
        if notification_id is not None:
            delivery = enqueue_webhook(self._session, subscription.id, notice.event, notice.payload)
            self._link(notification_id, delivery)
