"""The log scrubber masks every kind of secret we handle, and leaves ordinary text alone."""

from __future__ import annotations

import logging

import pytest

from callaudit.logging import REDACTED, install_redaction, redact


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("Authorization: Bearer abcdef123456.zyx", "abcdef123456"),
        ("connecting to postgresql://app:s3cr3t-pw@db:5432/app", "s3cr3t-pw"),
        ("GET https://cdn.example/rec.mp3?token=sig-999xyz&x=1", "sig-999xyz"),
        ('{"password": "hunter2hunter2"}', "hunter2hunter2"),
        ("xi-api-key=sk_el_0123456789", "sk_el_0123456789"),
        ("api_key=sk-proj-abcdef", "sk-proj-abcdef"),
        ("issued ca_pat_9f8e7d6c5b4a39281706 to bot", "ca_pat_9f8e7d6c5b4a39281706"),
        ('"GET /reports/shared/ca_shr_9f8e7d6c5b4a39281706/recordings/c1 HTTP/1.1" 206', "9f8e7d6c5b4a"),
        ("hash $argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "$argon2id$v=19$m=65536"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "eyJzdWIiOiIxIn0"),
    ],
)
def test_secrets_are_masked(text: str, secret: str) -> None:
    scrubbed = redact(text)
    assert secret not in scrubbed
    assert REDACTED in scrubbed


def test_ordinary_text_is_untouched() -> None:
    text = "fiche 1000001 fetched in 0.31s (3 recordings, groupe NCA R3)"
    assert redact(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "denied audits.run to api-token 12 (owner 3)",
        "api_token_id=12 revoked by user 3",
        '{"api_token_id": 12, "refresh_token_ids": [4, 5], "token_prefix": "ca_pat_ab"}',
        "token_count=3",
    ],
)
def test_identifiers_are_kept(text: str) -> None:
    """Drill 14: `api_token:[REDACTED]` lost who did what."""
    assert redact(text) == text


def test_a_secret_next_to_an_identifier_is_still_masked() -> None:
    scrubbed = redact("api_token_id=12 token_hash=9f86d081884c7d65 password=12345678")
    assert scrubbed == f"api_token_id=12 token_hash={REDACTED} password={REDACTED}"


def test_records_are_scrubbed_for_every_handler(caplog: pytest.LogCaptureFixture) -> None:
    install_redaction()
    log = logging.getLogger("callaudit.test")
    with caplog.at_level(logging.INFO):
        log.info("login for %s with password=%s", "a@b.fr", "correct-horse")
        try:
            raise ValueError("token=leaky-value-123")
        except ValueError:
            log.exception("failed")
    text = "\n".join(r.getMessage() for r in caplog.records) + caplog.text
    assert "correct-horse" not in text
    assert "leaky-value-123" not in text
    assert "a@b.fr" in text


def test_uvicorn_access_records_keep_their_arguments() -> None:
    # uvicorn's AccessFormatter unpacks record.args; folding them into the message breaks it.
    from uvicorn.logging import AccessFormatter

    install_redaction()
    record = logging.getLogger("uvicorn.access").makeRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/rec.mp3?token=sig-secret-1", "1.1", 200),
        None,
    )
    line = AccessFormatter("%(client_addr)s %(request_line)s %(status_code)s", use_colors=False).format(record)
    assert "GET /rec.mp3" in line
    assert "sig-secret-1" not in line
