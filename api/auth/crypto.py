"""Secrets handling: opaque tokens, the JWT keyring and argon2id password hashing.

* Opaque tokens look like ``ca_<kind>_<43 base62 chars><6-char base62 CRC32>``: the prefix makes a leaked
  token recognisable (and redactable in logs), the checksum rejects garbage without a database hit.
  Refresh and invitation tokens are stored as SHA-256; API tokens as HMAC-SHA256 under a key derived
  from the signing secret (a database dump alone cannot be used to verify guesses).
* Access tokens are HS256 JWTs carrying a ``kid`` (first 16 hex of SHA-256 of the key); verification
  only looks keys up in the local keyring (current + previous secret), never in token headers.
* Passwords use argon2id with argon2-cffi's defaults, hashed in a worker thread with bounded concurrency
  (each hash allocates 64 MiB).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import anyio.to_thread
import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from callaudit.secrets import signing_secrets
from callaudit.settings import Settings

API_TOKEN_PREFIX = "ca_pat_"  # noqa: S105 - token prefixes, not secrets
REFRESH_TOKEN_PREFIX = "ca_rt_"  # noqa: S105
INVITE_TOKEN_PREFIX = "ca_inv_"  # noqa: S105

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_RANDOM_CHARS = 43  # ~256 bits
_CHECKSUM_CHARS = 6

ALGORITHM = "HS256"
ACCESS_TOKEN_TYPE = "at+jwt"  # noqa: S105
# The report pages' cookie: same keys and claims, another type, so neither is accepted as the other.
REPORT_COOKIE_TYPE = "report+jwt"
LEEWAY_SECONDS = 5
#: Tokens a keyring remembers as verified (about 1 KiB each with their claims).
VERIFIED_TOKENS = 4096


# --- opaque tokens --------------------------------------------------------------------------------


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        chars.append(_BASE62[rem])
    return "".join(reversed(chars))


def generate_token(prefix: str) -> str:
    body = "".join(secrets.choice(_BASE62) for _ in range(_RANDOM_CHARS))
    return f"{prefix}{body}{_base62(zlib.crc32(body.encode()), _CHECKSUM_CHARS)}"


def derive_token(prefix: str, key: bytes, seed: str) -> str:
    """A token of `generate_token`'s form computed from `seed` under `key` (HMAC-SHA512, a PRF): whoever
    presents the same seed again gets the same token, nobody without the key can compute it."""
    digest = hmac.new(key, b"callaudit/derived-token/v1\x00" + seed.encode(), hashlib.sha512).digest()
    body = _base62(int.from_bytes(digest), _RANDOM_CHARS)
    return f"{prefix}{body}{_base62(zlib.crc32(body.encode()), _CHECKSUM_CHARS)}"


def is_well_formed(token: str, prefix: str) -> bool:
    """Right prefix, length, alphabet and checksum: cheap rejection of typos and garbage."""
    if not token.startswith(prefix) or len(token) != len(prefix) + _RANDOM_CHARS + _CHECKSUM_CHARS:
        return False
    rest = token[len(prefix) :]
    if any(c not in _BASE62 for c in rest):
        return False
    body, checksum = rest[:_RANDOM_CHARS], rest[_RANDOM_CHARS:]
    return hmac.compare_digest(checksum, _base62(zlib.crc32(body.encode()), _CHECKSUM_CHARS))


def sha256_hex(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def display_prefix(token: str) -> str:
    """What lists show of a token: its kind and first four random characters."""
    return token[: token.index("_", 3) + 5]


# --- keyring --------------------------------------------------------------------------------------


def key_id(key: bytes) -> str:
    return hashlib.sha256(key).hexdigest()[:16]


class InvalidAccessToken(Exception):
    """Any reason an access token is not accepted; the reason is for logs, never for the client."""


@dataclass(frozen=True)
class Keyring:
    current_kid: str
    keys: Mapping[str, bytes]
    issuer: str
    audience: str
    #: (token, type) -> claims of the tokens verified so far, oldest first (decision 123).
    _verified: dict[tuple[str, str], Mapping[str, Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    @property
    def current_key(self) -> bytes:
        return self.keys[self.current_kid]

    def api_token_keys(self) -> list[bytes]:
        """HMAC keys for API token hashes, current first (a rotated secret keeps old tokens working)."""
        ordered = [self.current_key] + [k for kid, k in self.keys.items() if kid != self.current_kid]
        return [hmac.new(k, b"callaudit/api-token/v1", hashlib.sha256).digest() for k in ordered]

    def hash_api_token(self, token: str) -> str:
        return hmac.new(self.api_token_keys()[0], token.encode(), hashlib.sha256).hexdigest()

    def api_token_hash_candidates(self, token: str) -> list[str]:
        return [hmac.new(k, token.encode(), hashlib.sha256).hexdigest() for k in self.api_token_keys()]

    def issue_access_token(
        self, subject: str, ttl_seconds: int, claims: Mapping[str, Any], *, typ: str = ACCESS_TOKEN_TYPE
    ) -> str:
        now = dt.datetime.now(dt.UTC)
        payload = {
            **claims,
            "sub": subject,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "nbf": now,
            "exp": now + dt.timedelta(seconds=ttl_seconds),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(payload, self.current_key, algorithm=ALGORITHM, headers={"kid": self.current_kid, "typ": typ})

    def verify_access_token(self, token: str, *, typ: str = ACCESS_TOKEN_TYPE) -> Mapping[str, Any]:
        """The claims of a valid token of type `typ`.

        A token verified once is remembered with its claims: the same bytes under the same keys verify
        the same way, and of its time claims only the expiry can turn false later (`nbf` and `iat`
        passed stay passed). A client sends the same token for its whole lifetime, and the signature
        and claim checks were 6 % of an audit detail's instructions (decision 123)."""
        claims = self._verified.get((token, typ))
        if claims is None:
            claims = self._verify(token, typ)
            if len(self._verified) >= VERIFIED_TOKENS:
                self._verified.pop(next(iter(self._verified)), None)
            self._verified[(token, typ)] = claims
        elif claims["exp"] <= time.time() - LEEWAY_SECONDS:  # PyJWT's expiry test
            raise InvalidAccessToken("ExpiredSignatureError")
        return claims

    def _verify(self, token: str, typ: str) -> Mapping[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidAccessToken("malformed token") from exc
        key = self.keys.get(str(header.get("kid", "")))
        if key is None:
            raise InvalidAccessToken("unknown key id")
        if header.get("typ") != typ or header.get("alg") != ALGORITHM:
            raise InvalidAccessToken("wrong token type or algorithm")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={
                    "require": ["exp", "iat", "nbf", "sub", "jti", "iss", "aud"],
                    "enforce_minimum_key_length": True,
                },
            )
        except jwt.PyJWTError as exc:
            raise InvalidAccessToken(type(exc).__name__) from exc
        return MappingProxyType(claims)  # shared by every request that sends the token: read-only


def build_keyring(settings: Settings) -> Keyring:
    current, *previous = signing_secrets(settings)
    keys = {key_id(current): current}
    for key in previous:
        keys.setdefault(key_id(key), key)
    return Keyring(key_id(current), keys, settings.jwt_issuer, settings.jwt_audience)


_KEYRINGS: dict[int, tuple[Settings, Keyring]] = {}


def keyring_for(settings: Settings) -> Keyring:
    """The keyring of a settings object, built once (the settings object is kept alive with it)."""
    cached = _KEYRINGS.get(id(settings))
    if cached is None or cached[0] is not settings:
        cached = (settings, build_keyring(settings))
        _KEYRINGS[id(settings)] = cached
    return cached[1]


# --- passwords ------------------------------------------------------------------------------------

# Hashing allocates memory_cost KiB per call: bound how many run at once in this process.
_HASH_SLOTS = threading.BoundedSemaphore(4)


def make_hasher(profile: str) -> PasswordHasher:
    if profile == "fast-test":
        return PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    return PasswordHasher()


@dataclass(frozen=True)
class PasswordCheck:
    ok: bool
    new_hash: str | None = None  # set when the stored hash used outdated parameters


class Passwords:
    """argon2id hashing off the event loop; verification that costs the same for unknown users."""

    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher
        self._dummy: str | None = None

    def _hash(self, password: str) -> str:
        with _HASH_SLOTS:
            return self.hasher.hash(password)

    def _verify(self, stored: str | None, password: str) -> PasswordCheck:
        with _HASH_SLOTS:
            if stored is None:
                # Same work as a real check, so response time does not reveal whether the account exists.
                if self._dummy is None:
                    self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
                with contextlib.suppress(VerificationError, InvalidHashError):
                    self.hasher.verify(self._dummy, password)
                return PasswordCheck(False)
            try:
                self.hasher.verify(stored, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return PasswordCheck(False)
            if self.hasher.check_needs_rehash(stored):
                return PasswordCheck(True, self.hasher.hash(password))
            return PasswordCheck(True)

    async def hash(self, password: str) -> str:
        return await anyio.to_thread.run_sync(self._hash, password)

    async def verify(self, stored: str | None, password: str) -> PasswordCheck:
        return await anyio.to_thread.run_sync(self._verify, stored, password)

    def hash_sync(self, password: str) -> str:
        return self._hash(password)


_HASHERS: dict[str, Passwords] = {}


def passwords_for(settings: Settings) -> Passwords:
    profile = settings.auth_password_hash_profile
    if profile not in _HASHERS:
        _HASHERS[profile] = Passwords(make_hasher(profile))
    return _HASHERS[profile]
