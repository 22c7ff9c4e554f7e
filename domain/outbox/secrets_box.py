"""Webhook secrets at rest: encrypted (we must sign with them, so they cannot be hashed).

The key is `WEBHOOK_SECRETS_KEY`, or derived from `JWT_ACCESS_SECRET` when that is not set (HKDF, with
its own label, so the two keys are independent); rotating the source key makes stored secrets unreadable,
so set `WEBHOOK_SECRETS_KEY` explicitly before rotating the JWT secret.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class SecretsUnavailable(RuntimeError):
    """No key is configured, or a stored secret cannot be decrypted with it."""


class SecretBox:
    def __init__(self, source_key: str | None) -> None:
        if not source_key:
            raise SecretsUnavailable("set WEBHOOK_SECRETS_KEY (or JWT_ACCESS_SECRET) to use webhooks")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"callaudit webhook secrets").derive(
            source_key.encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SecretsUnavailable("a webhook secret cannot be decrypted with the configured key") from None
