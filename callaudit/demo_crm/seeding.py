"""Derived random generators: every synthetic value is a pure function of (seed, purpose, key).

Each purpose draws from its own generator, seeded by hashing the run seed with a label, so adding a
field to one section never shifts the values of another, and any fiche, call or day can be built
alone without generating what comes before it.
"""

from __future__ import annotations

import hashlib
import random


def _digest(seed: int, parts: tuple[object, ...]) -> bytes:
    key = "\x1f".join([str(seed), *(str(part) for part in parts)])
    return hashlib.blake2b(key.encode(), digest_size=16).digest()


def derive_rng(seed: int, *parts: object) -> random.Random:
    """A generator private to (seed, *parts): same inputs, same sequence, on every machine."""
    return random.Random(int.from_bytes(_digest(seed, parts), "big"))  # noqa: S311 -- synthetic data, not secrets


def derive_hex(seed: int, *parts: object, length: int = 32) -> str:
    """A stable lowercase hex string (at most 32 characters) for ids such as `cle` or UUIDs."""
    return _digest(seed, parts).hex()[:length]


def derive_digits(seed: int, *parts: object, length: int) -> str:
    """A stable string of decimal digits that does not start with 0 (at most 38 digits)."""
    value = int.from_bytes(_digest(seed, parts), "big")
    low = 10 ** (length - 1)
    return str(low + value % (9 * low))
