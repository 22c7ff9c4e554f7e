"""Error pages of the report routes: French HTML for a browser, the JSON envelope for everyone else.

The error handlers of `api.errors` stay the only place an error is turned into a response; this
module wraps each of them so that, on a `/reports/` path and for a client that accepts `text/html`
(a browser tab), the envelope they built becomes a page saying the same thing in French. The page
is made from the status and the envelope's `field` only: never the exception, a stack trace or the
request, so nothing the envelope does not already show (and less). Headers (`WWW-Authenticate`,
`Retry-After`) are kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse

from api.reports.render import render
from api.reports.session import NEXT_PATTERN

PREFIX = "/reports/"
Handler = Callable[[Request, Any], Awaitable[Response] | Response]

_PAGES: dict[int, tuple[str, tuple[str, ...]]] = {
    400: ("Requête invalide", ("L'adresse de cette page contient une valeur invalide.",)),
    401: (
        "Connexion requise",
        (
            "Ce rapport est réservé aux personnes connectées à callaudit.",
            "Connectez-vous pour l'ouvrir, ou demandez un lien de partage.",
        ),
    ),
    403: ("Accès refusé", ("Votre compte n'a pas le droit de consulter cette page, ou ce formulaire a expiré.",)),
    404: ("Page introuvable", ("Ce rapport n'existe pas, a été supprimé, ou ne fait pas partie de votre périmètre.",)),
    429: ("Trop de requêtes", ("Patientez quelques instants avant de réessayer.",)),
}
_SERVER = ("Service indisponible", ("Le rapport ne peut pas être affiché pour le moment. Réessayez plus tard.",))
_KEPT_HEADERS = ("WWW-Authenticate", "Retry-After")


def wants_html(request: Request) -> bool:
    return request.url.path.startswith(PREFIX) and "text/html" in request.headers.get("accept", "").lower()


def sign_in_link(request: Request) -> str:
    """The sign-in form, coming back to this page afterwards when it is one `next` may name."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/reports/login?next={quote(here, safe='/')}" if re.fullmatch(NEXT_PATTERN, here) else "/reports/login"


def error_page(response: Response, sign_in: str | None = None) -> HTMLResponse:
    """The page for an error response the JSON handlers produced; a 401 links to `sign_in`."""
    status = response.status_code
    title, lines = _PAGES.get(status, _SERVER if status >= 500 else _PAGES[400])
    field = _field(response)
    if status == 400 and field:
        lines = (f"Le paramètre « {field} » est invalide.",)
    headers = {k: response.headers[k] for k in _KEPT_HEADERS if k in response.headers}
    headers["Cache-Control"] = "no-store"
    html = render("error.html.j2", title=title, lines=lines, status=status, sign_in=sign_in if status == 401 else None)
    return HTMLResponse(html, status_code=status, headers=headers)


def _field(response: Response) -> str | None:
    try:
        field = json.loads(bytes(response.body)).get("field")
    except (ValueError, AttributeError):
        return None
    return field if isinstance(field, str) else None


def install_report_error_pages(app: FastAPI) -> None:
    """Wrap every installed error handler (call after `install_error_handlers`)."""
    for key, handler in list(app.exception_handlers.items()):
        app.exception_handlers[key] = _html_for_browsers(handler)


def _html_for_browsers(handler: Handler) -> Handler:
    async def wrapped(request: Request, exc: Any) -> Response:
        result = handler(request, exc)
        response = await result if isinstance(result, Awaitable) else result
        if isinstance(response, Response) and request.scope["type"] == "http" and wants_html(request):
            return error_page(response, sign_in_link(request))
        return response

    return wrapped
