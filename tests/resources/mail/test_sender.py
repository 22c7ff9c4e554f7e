"""Mail through the outbox against a real SMTP server (aiosmtpd): STARTTLS with authentication, implicit
TLS, an outage retried on the schedule, a refusal not retried."""

from __future__ import annotations

import datetime as dt
import email
import email.utils
import ipaddress
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from callaudit.settings import Settings, load_settings
from domain.models import DeliveryAttempt, OutboxDelivery
from resources.mail import SmtpSender, queue_mail
from resources.outbox import OutboxConfig
from tests.fixtures.outbox import Outbox
from tests.fixtures.processes import free_port

CONTEXT = {
    "inviter": "admin@example.fr",
    "invite_token": "ca_inv_0123456789abcdef",
    "expires_at": "10/12/2026 à 14:00",
    "base_url": "https://callaudit.example.fr",
}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting the server's self-signed certificate for 127.0.0.1)."""
    folder: Path = tmp_path_factory.mktemp("smtp-tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


class Inbox:
    def __init__(self, answer: str = "250 OK") -> None:
        self.messages: list[tuple[EmailMessage, Any]] = []
        self.answer = answer

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        self.messages.append((message, session))
        return self.answer


def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (b"robot", b"s3cret")
    return AuthResult(success=ok)


def smtp_settings(port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_user": "robot",
        "smtp_pass": "s3cret",
        "smtp_from": "Qualité callaudit <qualite@example.fr>",
        "smtp_timeout_ms": 5000,
        "jwt_access_secret": None,
    }
    return load_settings(**(values | overrides))


@pytest.fixture
def starttls_server(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=tls[0],
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
    )
    controller.start()
    yield inbox, port
    controller.stop()


async def queue_invitation(outbox: Outbox) -> None:
    async with outbox.sessions.begin() as session:
        queue_mail(session, "invitation", "nouvelle.recrue@example.fr", CONTEXT)
    outbox.clock.at(dt.datetime.now(dt.UTC))  # queued "now": due at once


async def test_starttls_authenticated_mail_with_both_bodies(
    outbox: Outbox, starttls_server: tuple[Inbox, int], tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    inbox, port = starttls_server
    await queue_invitation(outbox)
    mailer = SmtpSender(smtp_settings(port), tls_context=tls[1])
    assert await outbox.worker(mailer=mailer).run_once() == 1

    [(message, session)] = inbox.messages
    assert session.ssl is not None  # STARTTLS happened before anything was sent
    assert session.authenticated
    assert message["To"] == "nouvelle.recrue@example.fr"
    assert message["Subject"] == "Invitation à rejoindre callaudit"
    assert email.utils.parseaddr(str(message["From"]))[1] == "qualite@example.fr"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "ca_inv_0123456789abcdef" in text.get_content()
    assert "vous invite" in text.get_content()
    assert '<html lang="fr">' in html.get_content()
    assert "ca_inv_0123456789abcdef" in html.get_content()
    async with outbox.sessions() as db:
        delivery = (await db.scalars(select(OutboxDelivery))).one()
    assert delivery.status == "delivered"
    assert "ca_inv_" not in delivery.body  # the code does not stay in the table once sent


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_implicit_tls(outbox: Outbox, tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    inbox, port = Inbox(), free_port()
    # aiosmtpd only counts STARTTLS as TLS for AUTH; here the whole connection is TLS (asserted below).
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        ssl_context=tls[0],
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        await queue_invitation(outbox)
        plain = SmtpSender(smtp_settings(port, smtp_timeout_ms=1000), tls_context=tls[1])
        await outbox.worker(mailer=plain).run_once()  # SMTP_SECURE=false cannot talk to a TLS-only port
        async with outbox.sessions() as db:
            assert (await db.scalars(select(OutboxDelivery.status))).one() == "pending"
        outbox.clock.at(outbox.clock.now + dt.timedelta(days=1))
        mailer = SmtpSender(smtp_settings(port, smtp_secure=True), tls_context=tls[1])
        await outbox.worker(mailer=mailer).run_once()
    finally:
        controller.stop()
    async with outbox.sessions() as db:
        delivery = (await db.scalars(select(OutboxDelivery))).one()
    assert delivery.status == "delivered", delivery.last_error
    [(message, _)] = inbox.messages
    assert message["Subject"] == "Invitation à rejoindre callaudit"


async def test_untrusted_certificate_is_refused(outbox: Outbox, starttls_server: tuple[Inbox, int]) -> None:
    inbox, port = starttls_server
    await queue_invitation(outbox)
    await outbox.worker(mailer=SmtpSender(smtp_settings(port))).run_once()  # system trust store only
    assert inbox.messages == []
    async with outbox.sessions() as db:
        delivery = (await db.scalars(select(OutboxDelivery))).one()
    assert delivery.status == "pending"
    assert delivery.last_error


async def test_smtp_outage_is_retried_and_visible(outbox: Outbox, tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    port = free_port()  # nothing listens there yet
    await queue_invitation(outbox)
    mailer = SmtpSender(smtp_settings(port), tls_context=tls[1])
    worker = outbox.worker(OutboxConfig(schedule=(30, 600)), mailer=mailer)
    start = outbox.clock.now
    assert await worker.run_once() == 1
    async with outbox.sessions() as db:
        delivery = (await db.scalars(select(OutboxDelivery))).one()
        [attempt] = (await db.scalars(select(DeliveryAttempt))).all()
    assert delivery.status == "pending"
    assert start + dt.timedelta(seconds=24) <= delivery.next_attempt_at <= start + dt.timedelta(seconds=36)
    assert attempt.success is False
    assert attempt.error
    assert delivery.last_error == attempt.error

    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=tls[0],
        require_starttls=True,
        authenticator=authenticate,
        auth_required=True,
    )
    controller.start()
    try:
        outbox.clock.at(delivery.next_attempt_at)
        assert await worker.run_once() == 1
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    async with outbox.sessions() as db:
        delivery = (await db.scalars(select(OutboxDelivery))).one()
    assert (delivery.status, delivery.attempts) == ("delivered", 2)


async def test_a_refused_recipient_is_not_retried(outbox: Outbox, tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    inbox, port = Inbox(answer="550 5.1.1 mailbox unavailable"), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=tls[0], require_starttls=True,
                            authenticator=authenticate, auth_required=True)  # fmt: skip
    controller.start()
    try:
        await queue_invitation(outbox)
        await outbox.worker(mailer=SmtpSender(smtp_settings(port), tls_context=tls[1])).run_once()
    finally:
        controller.stop()
    async with outbox.sessions() as db:
        delivery = (await db.scalars(select(OutboxDelivery))).one()
    assert delivery.status == "failed"
    assert "550" in (delivery.last_error or "")
