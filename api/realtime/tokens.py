"""Stream tokens: what a browser puts in an `EventSource` URL, since EventSource sends no header.

A stream token names one user, their login session and ONE topic, and lives
`REALTIME_STREAM_TOKEN_TTL_SECONDS` (60 s by default): long enough to open the stream, useless for
anything else. It is a JWT signed with the access-token keys but with its own `typ` and audience,
so it is never accepted as an access token nor an access token as a stream token. Using it
re-reads the user and re-checks the session and the topic's scope, like a header-authenticated
request; nginx leaves query strings out of its access log.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import jwt

from api.auth.crypto import ALGORITHM, LEEWAY_SECONDS, Keyring

STREAM_TOKEN_TYPE = "stream+jwt"  # noqa: S105 - a token type, not a secret


class InvalidStreamToken(Exception):
    """Any reason a stream token is refused; for logs only."""


@dataclass(frozen=True)
class StreamGrant:
    user_id: int
    session_id: str | None
    topic: str


def _audience(keyring: Keyring) -> str:
    return f"{keyring.audience}/realtime"


def issue_stream_token(keyring: Keyring, grant: StreamGrant, ttl_seconds: int) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {
        "sub": str(grant.user_id),
        "sid": grant.session_id,
        "topic": grant.topic,
        "iss": keyring.issuer,
        "aud": _audience(keyring),
        "iat": now,
        "nbf": now,
        "exp": now + dt.timedelta(seconds=ttl_seconds),
        "jti": uuid.uuid4().hex,
    }
    headers = {"kid": keyring.current_kid, "typ": STREAM_TOKEN_TYPE}
    return jwt.encode(claims, keyring.current_key, algorithm=ALGORITHM, headers=headers)


def verify_stream_token(keyring: Keyring, token: str) -> StreamGrant:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidStreamToken("malformed token") from exc
    key = keyring.keys.get(str(header.get("kid", "")))
    if key is None or header.get("typ") != STREAM_TOKEN_TYPE or header.get("alg") != ALGORITHM:
        raise InvalidStreamToken("not a stream token of ours")
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=_audience(keyring),
            issuer=keyring.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "nbf", "sub", "topic", "iss", "aud"]},
        )
        session_id = claims.get("sid")
        return StreamGrant(int(claims["sub"]), str(session_id) if session_id else None, str(claims["topic"]))
    except (jwt.PyJWTError, ValueError) as exc:
        raise InvalidStreamToken(type(exc).__name__) from exc
