"""The report pages' cookie: a signed-in user opens `/reports/...` in a plain browser tab.

A browser tab cannot send the `Authorization` header, so `POST /reports/session` exchanges an access
token (that header, nothing else) for a cookie and redirects to the page asked for. The cookie holds a
signed token of its own type (`report+jwt`: never accepted as a bearer token, and an access token is
never accepted as the cookie) naming the access token's login session (`sid`). Every request re-checks
that session and re-reads the user's grants, as for the header: logging out, a password change or
disabling the user ends the cookie on the next request; RBAC is the header's.

The cookie is HttpOnly, `SameSite=Lax` (a link opened from a mail or a chat carries it, a cross-site
POST never does), `Secure` and `__Host-` prefixed unless `AUTH_COOKIE_SECURE` is off (local http), and
lives `REPORT_SESSION_TTL_SECONDS`. A user without a front end gets it from the sign-in form
(`api.reports.signin`). CSRF: besides sign-out (with its own CSRF token, `api.reports.csrf`), only
`require_page`, declared by the safe (GET) report and recording routes, reads it, and only for
GET/HEAD; every other route authenticates by header alone.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import Depends, Request, Response

from api.auth.crypto import REPORT_COOKIE_TYPE, Keyring
from api.auth.dependencies import KeyringDep, OptionalPrincipal, require, user_session_principal
from api.auth.principal import Grant, Principal
from api.deps import SessionDep, SettingsDep, StateDep
from callaudit.settings import Settings

SAFE_METHODS = frozenset({"GET", "HEAD"})
SameSite = Literal["lax", "strict"]
#: Where signing in may send the browser: a report page of this origin (a path, no host, no `//`).
NEXT_PATTERN = r"^/reports/[A-Za-z0-9][A-Za-z0-9._~/%?=&-]{0,500}$"


def landing_page(settings: Settings) -> str:
    """Where a browser goes once signed in when it asked for no page: today's overview."""
    return f"/reports/days/{dt.datetime.now(ZoneInfo(settings.sales_timezone)).date().isoformat()}"


def cookie_name(settings: Settings) -> str:
    # Browsers only keep a `__Host-` cookie that is Secure, host-only and `Path=/`.
    return "__Host-callaudit-reports" if settings.cookie_secure else "callaudit-reports"


def set_host_cookie(
    response: Response, settings: Settings, name: str, value: str, *, max_age: int, samesite: SameSite
) -> None:
    """An HttpOnly cookie of this host for every path, Secure when cookies are (what `__Host-` needs)."""
    response.set_cookie(
        name, value, max_age=max_age, path="/", secure=settings.cookie_secure, httponly=True, samesite=samesite
    )


def clear_host_cookie(response: Response, settings: Settings, name: str, samesite: SameSite) -> None:
    response.delete_cookie(name, path="/", secure=settings.cookie_secure, httponly=True, samesite=samesite)


def set_page_cookie(response: Response, settings: Settings, keyring: Keyring, user_id: int, session_id: str) -> None:
    ttl = settings.report_session_ttl_seconds
    token = keyring.issue_access_token(str(user_id), ttl, {"sid": session_id}, typ=REPORT_COOKIE_TYPE)
    set_host_cookie(response, settings, cookie_name(settings), token, max_age=ttl, samesite="lax")


def clear_page_cookie(response: Response, settings: Settings) -> None:
    clear_host_cookie(response, settings, cookie_name(settings), "lax")


async def get_page_principal(  # noqa: PLR0917 - FastAPI dependencies
    request: Request,
    header: OptionalPrincipal,
    session: SessionDep,
    state: StateDep,
    settings: SettingsDep,
    keyring: KeyringDep,
) -> Principal | None:
    """The caller by header as everywhere, else by the report cookie on a GET/HEAD; an invalid or
    ended cookie is a 401 like an invalid header."""
    if header is not None or request.method not in SAFE_METHODS:
        return header
    raw = request.cookies.get(cookie_name(settings))
    if not raw:
        return None
    principal, _ = await user_session_principal(
        session, keyring, raw, typ=REPORT_COOKIE_TYPE, principals=state.principals
    )
    return principal


PagePrincipal = Annotated[Principal | None, Depends(get_page_principal)]


class require_page(require):
    """`require` that also accepts the report cookie: for the GET routes of report pages and recordings only."""

    async def __call__(self, principal: PagePrincipal) -> Grant:
        return self.authorize(principal)
