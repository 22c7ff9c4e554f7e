"""Webhook secrets at rest: encrypted (we must sign with them, so they cannot be hashed).

The key is `WEBHOOK_SECRETS_KEY`, or derived from `JWT_ACCESS_SECRET` when that is not set (HKDF, with
its own label, so the two keys are independent); rotating the source key makes stored secrets unreadable,
so set `WEBHOOK_SECRETS_KEY` explicitly before rotating the JWT secret. The sealing itself is the one
every stored credential uses (`callaudit.secrets.Sealer`).
"""

from __future__ import annotations

from callaudit.secrets import Sealer, SealError

PURPOSE = "callaudit webhook secrets"


class SecretsUnavailable(RuntimeError):
    """No key is configured, or a stored secret cannot be decrypted with it."""


class SecretBox:
    def __init__(self, source_key: str | None) -> None:
        if not source_key:
            raise SecretsUnavailable("set WEBHOOK_SECRETS_KEY (or JWT_ACCESS_SECRET) to use webhooks")
        self._sealer = Sealer([source_key.encode()], PURPOSE)

    def seal(self, secret: str) -> str:
        return self._sealer.seal(secret)

    def open(self, sealed: str) -> str:
        try:
            return self._sealer.unseal(sealed)
        except SealError:
            raise SecretsUnavailable("a webhook secret cannot be decrypted with the configured key") from None
