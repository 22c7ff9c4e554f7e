"""CSRF for the report pages' two forms (sign in, sign out): a signed token bound to a cookie, and the Origin.

Signed double submit: the form carries a token signed by the keyring, of its own type (`csrf+jwt`:
never accepted as anything else), naming its form (`sub`) and holding the SHA-256 of a cookie value
the page's origin set (`bnd`). A POST is accepted only if the token verifies, names that form, and
its hash matches the cookie it came with. Another site can neither read the token nor set the cookie
(HttpOnly, `SameSite=Strict`, `__Host-` when secure), so it cannot forge the pair: no login CSRF (a
victim signed in as the attacker) and no forced sign-out.

* Sign-in binds to a pre-session cookie of random bytes (`callaudit-login`), set by the form's GET.
* Sign-out binds to the report cookie itself.

Second line: when the browser names the origin of the form (`Origin`, else `Referer`), it must be
this one. Every response carries `Referrer-Policy: no-referrer` (the API's and nginx's), under which a
browser sends `Origin: null` with a form POST: `null` or nothing leaves the decision to the token pair.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request, Response

from api.auth.crypto import InvalidAccessToken, Keyring, sha256_hex
from api.reports.session import clear_host_cookie, set_host_cookie
from callaudit.settings import Settings

CSRF_TOKEN_TYPE = "csrf+jwt"  # noqa: S105 - a token type, not a secret
FORM_TTL_SECONDS = 3600
SIGN_IN = "report-sign-in"
SIGN_OUT = "report-sign-out"


def login_cookie_name(settings: Settings) -> str:
    return "__Host-callaudit-login" if settings.cookie_secure else "callaudit-login"


def issue_token(keyring: Keyring, form: str, bound_to: str, ttl_seconds: int = FORM_TTL_SECONDS) -> str:
    return keyring.issue_access_token(form, ttl_seconds, {"bnd": sha256_hex(bound_to)}, typ=CSRF_TOKEN_TYPE)


def token_is_valid(keyring: Keyring, form: str, token: str, bound_to: str | None) -> bool:
    if not token or not bound_to:
        return False
    try:
        claims = keyring.verify_access_token(token, typ=CSRF_TOKEN_TYPE)
    except InvalidAccessToken:
        return False
    return claims.get("sub") == form and hmac.compare_digest(str(claims.get("bnd", "")), sha256_hex(bound_to))


def login_nonce(request: Request, settings: Settings) -> str:
    """The pre-session cookie's value if the browser has a plausible one (two tabs share it), else a new one."""
    current = request.cookies.get(login_cookie_name(settings), "")
    return current if 40 <= len(current) <= 64 else secrets.token_urlsafe(32)


def set_login_cookie(response: Response, settings: Settings, nonce: str) -> None:
    set_host_cookie(response, settings, login_cookie_name(settings), nonce, max_age=FORM_TTL_SECONDS, samesite="strict")


def clear_login_cookie(response: Response, settings: Settings) -> None:
    clear_host_cookie(response, settings, login_cookie_name(settings), "strict")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else "null"


def from_this_origin(request: Request, settings: Settings) -> bool:
    """False when `Origin`, else `Referer`, names another server than this one (as reached, or as
    configured in `API_BASE_URL`); true when the browser named none (`null`: the token decides)."""
    sent = _origin(request.headers.get("origin") or request.headers.get("referer") or "null")
    return sent == "null" or sent in {_origin(str(request.base_url)), _origin(settings.api_base_url)}
