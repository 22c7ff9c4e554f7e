"""Sealed credentials: round trip, secret rotation, tampering, and the development secret kept on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from callaudit.secrets import Sealer, SealError, dev_secret, sealer_for
from callaudit.settings import load_settings


def test_a_sealed_value_is_not_the_value_and_opens_back() -> None:
    sealer = Sealer([b"current secret"], "purpose")
    sealed = sealer.seal("crm-token-123")
    assert "crm-token-123" not in sealed
    assert sealer.unseal(sealed) == "crm-token-123"


def test_values_sealed_before_a_rotation_still_open_and_other_purposes_do_not() -> None:
    sealed = Sealer([b"old secret"], "purpose").seal("crm-token")
    assert Sealer([b"new secret", b"old secret"], "purpose").unseal(sealed) == "crm-token"
    with pytest.raises(SealError):
        Sealer([b"new secret"], "purpose").unseal(sealed)
    with pytest.raises(SealError):
        Sealer([b"old secret"], "another purpose").unseal(sealed)


def test_a_tampered_value_does_not_open() -> None:
    sealer = Sealer([b"secret"], "purpose")
    sealed = sealer.seal("crm-token")
    with pytest.raises(SealError):
        sealer.unseal(sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB"))


def test_the_development_secret_is_created_once_and_shared(tmp_path: Path) -> None:
    first = dev_secret(tmp_path)
    assert dev_secret(tmp_path) == first
    assert (tmp_path / "jwt-dev.key").stat().st_mode & 0o777 == 0o600
    settings = load_settings(callaudit_home=tmp_path, jwt_access_secret=None, callaudit_env="development")
    sealed = sealer_for(settings, "purpose").seal("x")
    assert Sealer([first], "purpose").unseal(sealed) == "x"
