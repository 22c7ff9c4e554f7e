"""SMTP delivery with aiosmtplib: implicit TLS (`SMTP_SECURE=true`, usually port 465) or STARTTLS
whenever the server offers it, authentication when `SMTP_USER` is set, `SMTP_TIMEOUT_MS` per command."""

from __future__ import annotations

import ssl
from email.message import EmailMessage

import aiosmtplib

from callaudit.settings import Settings
from domain.outbox import MailMessage


class MailTemporaryError(RuntimeError):
    """Worth retrying: the server was unreachable, timed out, or answered 4xx."""


class MailPermanentError(RuntimeError):
    """Retrying changes nothing: the server refused the message or the recipient (5xx)."""


class SmtpSender:
    def __init__(self, settings: Settings, *, tls_context: ssl.SSLContext | None = None) -> None:
        if not settings.smtp_host or not settings.smtp_sender:
            raise ValueError("SMTP_HOST and SMTP_FROM (or SMTP_USER) are needed to send e-mail")
        self.settings = settings
        self.tls_context = tls_context

    def build(self, message: MailMessage) -> EmailMessage:
        # EmailMessage refuses CR/LF in header values: no header injection through a subject or address.
        email = EmailMessage()
        email["From"] = self.settings.smtp_sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email.set_content(message.text)
        email.add_alternative(message.html, subtype="html")
        return email

    async def send(self, message: MailMessage) -> str:
        s = self.settings
        try:
            _, reply = await aiosmtplib.send(
                self.build(message),
                hostname=s.smtp_host,
                port=s.smtp_port,
                username=s.smtp_user,
                password=s.smtp_pass.get_secret_value() if s.smtp_pass else None,
                use_tls=s.smtp_secure,
                start_tls=False if s.smtp_secure else None,
                tls_context=self.tls_context,
                timeout=s.smtp_timeout_ms / 1000,
            )
        except aiosmtplib.SMTPResponseException as exc:
            error = f"SMTP {exc.code}: {exc.message}"[:300]
            raise (MailPermanentError if 500 <= exc.code < 600 else MailTemporaryError)(error) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailTemporaryError(f"{type(exc).__name__}: {exc}"[:300]) from None
        return reply
