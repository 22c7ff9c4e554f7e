"""Signatures and headers of a webhook request (pure).

Standard Webhooks: `webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`, the key
being the bytes behind `whsec_` (or the secret's own bytes when it has no such prefix). The original's
headers are sent too, for existing receivers: `X-Webhook-Signature: sha256=<hex HMAC(secret, body)>` and
`X-Webhook-Signature-V2: sha256=<hex HMAC(secret, "{X-Webhook-Timestamp}.{body}")>`, keyed with the
secret string as given.

During a secret rotation's overlap the previous secret signs too: Standard Webhooks carries several
space-separated `v1,` signatures and a receiver accepts any that matches, so it may switch to the new
secret at any moment of the overlap. The original's headers hold one signature: the new secret's.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
SECRET_BYTES = 32


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signing_key(secret: str) -> bytes:
    if secret.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
        except binascii.Error:
            pass
    return secret.encode()


def standard_signature(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    signed = f"{msg_id}.{timestamp}.{body}".encode()
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _hex(secret: str, content: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), content.encode(), hashlib.sha256).hexdigest()


def webhook_headers(
    *,
    secret: str,
    msg_id: str,
    body: str,
    now: dt.datetime,
    event: str,
    attempt: int,
    job_id: str | None = None,
    previous_secret: str | None = None,
) -> dict[str, str]:
    timestamp = int(now.timestamp())
    signatures = [standard_signature(s, msg_id, timestamp, body) for s in (secret, previous_secret) if s]
    iso = now.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
        "X-Webhook-Event": event,
        "X-Webhook-Delivery-Id": msg_id,
        "X-Webhook-Attempt": str(attempt),
        "X-Webhook-Timestamp": iso,
        "X-Webhook-Signature": _hex(secret, body),
        "X-Webhook-Signature-V2": _hex(secret, f"{iso}.{body}"),
    }
    if job_id is not None:
        headers["X-Webhook-Job-Id"] = job_id
    return headers
