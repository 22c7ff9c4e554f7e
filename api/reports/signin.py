"""The report pages' sign-in form, for a signed-in user without a front end (a report link in a mail).

* `GET /reports/login?next=`: the French form, with its CSRF token (`api.reports.csrf`);
* `POST /reports/login` (form-encoded): the credentials go through `api.auth.signin.sign_in`, the
  code of `/api/auth/login` (same throttling and lockout, same login session), then the report
  cookie is set and the browser sent (303) to `next`, a report page of this origin;
* `POST /reports/logout`: ends the cookie's login session and clears the cookie.

Every refusal of the sign-in form (CSRF, malformed input, wrong credentials, too many attempts) is
the form again with one French message: which of e-mail or password was wrong is never said.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from api.auth.crypto import REPORT_COOKIE_TYPE, InvalidAccessToken
from api.auth.dependencies import KeyringDep, LoginLimiterDep, PasswordsDep
from api.auth.schemas import LoginRequest
from api.auth.service import revoke_family
from api.auth.signin import sign_in
from api.deps import SessionDep, SettingsDep
from api.errors import Forbidden, NotAuthenticated, RateLimited
from api.reports import csrf
from api.reports.render import render
from api.reports.session import NEXT_PATTERN, clear_page_cookie, cookie_name, landing_page, set_page_cookie

log = logging.getLogger("callaudit.auth")

pages = APIRouter(prefix="/reports", tags=["reports"])

NEXT_DESCRIPTION = "the report page to open once signed in (a `/reports/` path of this server)"
NextQuery = Annotated[str | None, Query(alias="next", pattern=NEXT_PATTERN, description=NEXT_DESCRIPTION)]
FORM_PAGE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}}, "description": "The sign-in form"},
}

WRONG_CREDENTIALS = "Adresse e-mail ou mot de passe incorrect."
MALFORMED = "Saisissez une adresse e-mail et un mot de passe valides."
STALE_FORM = "Ce formulaire a expiré ou ne provient pas de cette page. Saisissez à nouveau vos identifiants."
TOO_MANY = "Trop de tentatives de connexion. Réessayez dans quelques minutes."


def _form(
    request: Request,
    settings: SettingsDep,
    keyring: KeyringDep,
    next_: str | None,
    *,
    email: str = "",
    error: str | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    nonce = csrf.login_nonce(request, settings)
    token = csrf.issue_token(keyring, csrf.SIGN_IN, nonce)
    html = render("login.html.j2", csrf_token=token, next=next_, email=email, error=error)
    response = HTMLResponse(
        html,
        status_code=status,
        headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex", **(headers or {})},
    )
    csrf.set_login_cookie(response, settings, nonce)
    return response


@pages.get("/login", response_class=HTMLResponse, responses=FORM_PAGE, summary="The report pages' sign-in form")
async def login_form(
    request: Request, settings: SettingsDep, keyring: KeyringDep, next_: NextQuery = None
) -> HTMLResponse:
    """A French e-mail and password form for opening report pages in a browser tab without a front
    end; it signs in like `/api/auth/login` and then opens `next`."""
    return _form(request, settings, keyring, next_)


@pages.post(
    "/login",
    status_code=303,
    response_class=RedirectResponse,
    responses={
        303: {"description": "Signed in: the report cookie is set and `Location` is the page asked for"},
        401: {"content": {"text/html": {}}, "description": "The form again: wrong credentials (one message)"},
        429: {"content": {"text/html": {}}, "description": "The form again: too many attempts (`Retry-After`)"},
    },
    summary="Sign in to the report pages with the form",
)
async def login_submit(
    *,
    request: Request,
    email: Annotated[str, Form(max_length=1000, description="the account's e-mail address")],
    password: Annotated[str, Form(max_length=1000, description="the account's password")],
    csrf_token: Annotated[str, Form(max_length=2000, description="the token of the form page")] = "",
    next_: Annotated[str | None, Form(alias="next", pattern=NEXT_PATTERN, description=NEXT_DESCRIPTION)] = None,
    session: SessionDep,
    settings: SettingsDep,
    keyring: KeyringDep,
    passwords: PasswordsDep,
    limiter: LoginLimiterDep,
) -> Response:
    """Checks the form's CSRF token and origin, then the credentials exactly as `/api/auth/login`
    does (same attempt limits, shared with it); on success sets the report cookie for
    `REPORT_SESSION_TTL_SECONDS` and redirects (303) to `next`, by default today's overview. Any
    refusal is the form again with a French message: 403 (stale or foreign form), 400 (malformed
    input), 401 (wrong credentials, whichever of the two), 429 (too many attempts)."""
    token_ok = csrf.token_is_valid(
        keyring, csrf.SIGN_IN, csrf_token, request.cookies.get(csrf.login_cookie_name(settings))
    )
    if not (token_ok and csrf.from_this_origin(request, settings)):
        log.info("report sign-in form refused: missing, stale or forged CSRF token or foreign origin")
        return _form(request, settings, keyring, next_, email=email, error=STALE_FORM, status=403)
    try:
        credentials = LoginRequest(email=email, password=password)
    except ValidationError:
        return _form(request, settings, keyring, next_, email=email, error=MALFORMED, status=400)
    try:
        principal, login_session = await sign_in(
            session,
            passwords,
            limiter,
            request,
            email=credentials.email,
            password=credentials.password,
            session_ttl_seconds=settings.report_session_ttl_seconds,
        )
    except NotAuthenticated:
        return _form(request, settings, keyring, next_, email=email, error=WRONG_CREDENTIALS, status=401)
    except RateLimited as exc:
        return _form(request, settings, keyring, next_, email=email, error=TOO_MANY, status=429, headers=exc.headers)
    assert principal.user_id is not None
    response = RedirectResponse(next_ or landing_page(settings), status_code=303)
    response.headers["Cache-Control"] = "no-store"
    set_page_cookie(response, settings, keyring, principal.user_id, login_session.family_id)
    csrf.clear_login_cookie(response, settings)
    return response


@pages.post(
    "/logout",
    status_code=303,
    response_class=RedirectResponse,
    responses={
        303: {"description": "Signed out: the cookie is cleared; `Location` is the sign-in form"},
        403: {"description": "The sign-out form's token does not match the cookie: nothing ended"},
    },
    summary="Sign out of the report pages",
)
async def logout(
    *,
    request: Request,
    csrf_token: Annotated[str, Form(max_length=2000, description="the token of the page's sign-out form")] = "",
    session: SessionDep,
    settings: SettingsDep,
    keyring: KeyringDep,
) -> RedirectResponse:
    """Ends the login session of the report cookie (its access tokens stop working too) and clears
    the cookie, then redirects (303) to the sign-in form. The form's token must match the cookie
    (403 otherwise, the session going on); without a cookie there is nothing to end."""
    cookie = request.cookies.get(cookie_name(settings))
    if cookie:
        token_ok = csrf.token_is_valid(keyring, csrf.SIGN_OUT, csrf_token, cookie)
        if not (token_ok and csrf.from_this_origin(request, settings)):
            log.info("report sign-out refused: missing, stale or forged CSRF token or foreign origin")
            raise Forbidden("Invalid sign-out form")
        # An expired or foreign cookie ends nothing: clearing it is all there is to do.
        with contextlib.suppress(InvalidAccessToken, KeyError):
            await revoke_family(session, str(keyring.verify_access_token(cookie, typ=REPORT_COOKIE_TYPE)["sid"]))
    response = RedirectResponse("/reports/login", status_code=303)
    response.headers["Cache-Control"] = "no-store"
    clear_page_cookie(response, settings)
    return response


def signout_token(request: Request, settings: SettingsDep, keyring: KeyringDep) -> str | None:
    """The sign-out form's token for a page opened with the report cookie (`None` when the page was
    opened with the header or without the cookie). It lives as long as a cookie can."""
    cookie = request.cookies.get(cookie_name(settings))
    if not cookie or "authorization" in request.headers:
        return None
    return csrf.issue_token(keyring, csrf.SIGN_OUT, cookie, settings.report_session_ttl_seconds)


SignOutToken = Annotated[str | None, Depends(signout_token)]
