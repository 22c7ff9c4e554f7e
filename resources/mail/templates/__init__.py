"""French mail templates: `<kind>.subject.txt`, `<kind>.txt` and `<kind>.html` beside this file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from domain.models.outbox import OutboxDelivery
from domain.outbox import MailMessage, enqueue_mail

_ENV = Environment(
    loader=FileSystemLoader(Path(__file__).parent),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def render(kind: str, to: str, context: Mapping[str, Any]) -> MailMessage:
    subject = _ENV.get_template(f"{kind}.subject.txt").render(context).strip()
    return MailMessage(
        to=to,
        subject=" ".join(subject.split()),
        text=_ENV.get_template(f"{kind}.txt").render(context),
        html=_ENV.get_template(f"{kind}.html").render(context),
    )


def queue_mail(session: Session | AsyncSession, kind: str, to: str, context: Mapping[str, Any]) -> OutboxDelivery:
    """Render the `kind` template and queue the message in the caller's transaction."""
    return enqueue_mail(session, render(kind, to, context), kind=kind)
