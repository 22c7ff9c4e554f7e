"""The deployment's signing secrets, and sealing of stored third-party credentials with them.

`signing_secrets` is JWT_ACCESS_SECRET (then JWT_ACCESS_SECRET_PREVIOUS), or in development a key
generated once into the home directory, shared by the API and the Dagster processes. `Sealer`
encrypts a credential at rest (Fernet, keys derived per purpose with HKDF): sealed with the current
secret, opened with the current or the previous one, so a secret rotation keeps stored values readable.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from callaudit.settings import Settings

DEV_KEY_FILE = "jwt-dev.key"


def dev_secret(home: Path, filename: str = DEV_KEY_FILE) -> bytes:
    """A development secret: generated once into `<home>/<filename>` (0600) so it survives restarts."""
    path = home / filename
    home.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip().encode()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip().encode()


def signing_secrets(settings: Settings) -> list[bytes]:
    """The current signing secret first, then the previous one when set."""
    if settings.jwt_access_secret is not None:
        current = settings.jwt_access_secret.get_secret_value().encode()
    else:
        current = dev_secret(settings.callaudit_home.resolve())
    found = [current]
    if settings.jwt_access_secret_previous is not None:
        previous = settings.jwt_access_secret_previous.get_secret_value().encode()
        if previous != current:
            found.append(previous)
    return found


class SealError(ValueError):
    """A sealed value no current or previous secret opens (tampered, or sealed under a retired secret)."""


class Sealer:
    def __init__(self, keys: list[bytes], purpose: str) -> None:
        derived = [
            Fernet(base64.urlsafe_b64encode(HKDF(hashes.SHA256(), 32, None, purpose.encode()).derive(key)))
            for key in keys
        ]
        self._fernet = MultiFernet(derived)

    def seal(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def unseal(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SealError("the sealed value cannot be opened with the current or previous secret") from None


def sealer_for(settings: Settings, purpose: str) -> Sealer:
    return Sealer(signing_secrets(settings), purpose)
