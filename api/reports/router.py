"""The audit report pages (`/reports/...`, HTML) and their JSON companions under `/api`.

* `GET /reports/audits/{id}`: one audit, scoped like `GET /api/audits/{id}` (404 out of scope);
* `GET /reports/days/{date}?scorecard=`: the day's latest audits, linking to each report;
* `GET /reports/shared/{token}` and its recordings: a share link's read-only view, no account;
* `POST /reports/session?next=`: an access token exchanged for the pages' cookie, then a redirect;
* `GET /api/recordings/{fiche_id}/{call_id}/audio`: a recording's bytes with ranges (`recordings.read`);
* `POST|DELETE /api/reports/audits/{id}/share-links[/{link_id}]`: make and revoke share links.

The pages and recordings authenticate with the `Authorization` header the API already accepts, or
with the cookie `POST /reports/session` or the sign-in form (`api.reports.signin`) sets for a
signed-in user's browser tab (`api.reports.session`); a page opened with the cookie offers to sign out.
A share link opens one report without an account; its token is only in the path, which every log
line redacts (`ca_shr_` prefix, `callaudit.logging`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Header, Path, Query, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.dependencies import CurrentUser, KeyringDep, bearer_scheme
from api.deps import SessionDep, SettingsDep
from api.errors import NotFound
from api.fiches.schemas import FICHE_ID_PATTERN
from api.reports import service
from api.reports.audio import RecordingSourceDep, audio_path, relay_recording
from api.reports.pdf import pdf_response
from api.reports.render import render
from api.reports.session import NEXT_PATTERN, landing_page, require_page, set_page_cookie
from api.reports.signin import SignOutToken
from api.schemas import Envelope, ok
from api.security import MAX_ID, CanonicalPathInt, EntityId, Grant, IdStr, require
from domain.rbac import Action
from domain.reports.view import ReportView, build_report
from domain.scoping import reaches_all_of

ReadAudits = Annotated[Grant, Depends(require_page("audits", "read"))]
WriteAudits = Annotated[Grant, Depends(require("audits", "write"))]
ReadRecordings = Annotated[Grant, Depends(require_page("recordings", "read"))]
FicheIdPath = Annotated[str, Path(pattern=FICHE_ID_PATTERN, description="CRM fiche id")]
CallIdPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,64}$", description="the recording's call id")]
FormatQuery = Annotated[
    Literal["html", "pdf"],
    Query(alias="format", description="`pdf`: the paper version (times instead of players) as a PDF file"),
]
LinkIdPath = Annotated[int, CanonicalPathInt, Path(ge=1, le=MAX_ID, description="the share link's id")]
TokenPath = Annotated[str, Path(max_length=64, description="the share link's token")]
RangeHeader = Annotated[str | None, Header(alias="Range", description="one byte range, `bytes=first-last`")]

pages = APIRouter(prefix="/reports", tags=["reports"], include_in_schema=True)
api = APIRouter(tags=["reports"])

HTML: dict[int | str, dict[str, Any]] = {200: {"content": {"text/html": {}}, "description": "The page"}}
REPORT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/html": {}, "application/pdf": {}}, "description": "The page, or its PDF (`format=pdf`)"}
}
AUDIO: dict[int | str, dict[str, Any]] = {
    200: {"content": {"audio/*": {}}, "description": "The whole recording"},
    206: {"content": {"audio/*": {}}, "description": "The byte range asked for (`Content-Range`)"},
}


NextQuery = Annotated[
    str | None, Query(alias="next", pattern=NEXT_PATTERN, description="the report page to open (a `/reports/` path)")
]


async def _pdf(session: AsyncSession, view: ReportView, audit_id: int) -> Response:
    # Seconds of rendering ahead, maybe queued behind another: give the connection back first.
    await session.commit()
    return await pdf_response(render("report.html.j2", r=view), f"rapport-audit-{audit_id}.pdf")


def _page(html: str) -> HTMLResponse:
    # The report holds personal data: never cached by a shared proxy, never indexed.
    return HTMLResponse(html, headers={"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex"})


@pages.get("/audits/{audit_id}", response_class=HTMLResponse, responses=REPORT, summary="An audit's report page")
async def audit_report(
    *,
    audit_id: EntityId,
    grant: ReadAudits,
    session: SessionDep,
    settings: SettingsDep,
    signout: SignOutToken,
    format_: FormatQuery = "html",
) -> Response:
    """The audit as a French HTML page: header, steps, control points with their cited passages
    and players, transcripts. Needs `audits.read`; 404 when missing, deleted or out of scope.
    Players appear when the caller also has `recordings.read` on the fiche. `?format=pdf`: the
    paper version as a PDF."""
    source = await service.load_source(session, audit_id, grant)
    if format_ == "pdf":
        return await _pdf(session, build_report(source, None, tz=ZoneInfo(settings.sales_timezone)), audit_id)
    listen = grant.principal.grant("recordings", Action.READ)
    audio: Callable[[str], str] | None = None
    # The audit's fiche was found within `grant`: a recordings scope reaching all of it needs no query.
    if listen is not None and (
        reaches_all_of(listen.scope, grant.scope) or await service.can_listen(session, source.fiche_id, listen)
    ):

        def audio(call_id: str) -> str:
            return audio_path(source.fiche_id, call_id)

    view = build_report(source, audio, tz=ZoneInfo(settings.sales_timezone))
    return _page(render("report.html.j2", r=view, signout=signout))


@pages.post(
    "/session",
    status_code=303,
    response_class=RedirectResponse,
    responses={303: {"description": "Cookie set; `Location` is the page asked for"}},
    summary="Open the report pages in this browser",
)
async def open_page_session(
    principal: CurrentUser,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    settings: SettingsDep,
    keyring: KeyringDep,
    next_: NextQuery = None,
) -> RedirectResponse:
    """Sets the report pages' cookie for the user of the access token in `Authorization` (the header
    only: a cookie never opens a session) and redirects to `next`, by default today's overview. The
    cookie opens the report pages and their recordings only, with the user's grants, for
    `REPORT_SESSION_TTL_SECONDS` or until the login session ends."""
    # A user principal only ever comes from a bearer access token.
    assert bearer is not None
    assert principal.user_id is not None
    session_id = str(keyring.verify_access_token(bearer.credentials)["sid"])
    response = RedirectResponse(next_ or landing_page(settings), status_code=303)
    response.headers["Cache-Control"] = "no-store"
    set_page_cookie(response, settings, keyring, principal.user_id, session_id)
    return response


@pages.get(
    "/shared/{token}",
    response_class=HTMLResponse,
    responses={
        **REPORT,
        404: {"content": {"text/html": {}}, "description": "The link expired, was revoked or is unknown"},
    },
    summary="A shared audit report",
)
async def shared_report(
    token: TokenPath, session: SessionDep, settings: SettingsDep, format_: FormatQuery = "html"
) -> Response:
    """The report a share link opens, read-only, with its recordings; once expired or revoked, a 404
    page saying so (in HTML: whoever holds the link opened it in a browser). `?format=pdf`: the
    paper version as a PDF."""
    try:
        audit_id = await service.shared_audit_id(session, token)
        source = await service.load_source(session, audit_id, None)
    except NotFound:
        return HTMLResponse(render("gone.html.j2"), status_code=404, headers={"Cache-Control": "no-store"})
    if format_ == "pdf":
        return await _pdf(
            session, build_report(source, None, shared=True, tz=ZoneInfo(settings.sales_timezone)), audit_id
        )

    def audio(call_id: str) -> str:
        return f"{service.shared_report_path(token)}/recordings/{quote(call_id, safe='')}"

    view = build_report(source, audio, shared=True, tz=ZoneInfo(settings.sales_timezone))
    return _page(render("report.html.j2", r=view))


@pages.get(
    "/shared/{token}/recordings/{call_id}", responses=AUDIO, response_class=Response, summary="A shared recording"
)
async def shared_recording(
    *,
    token: TokenPath,
    call_id: CallIdPath,
    session: SessionDep,
    source: RecordingSourceDep,
    range_: RangeHeader = None,
) -> Response:
    """A recording of the shared audit's fiche (never another fiche's), with byte ranges."""
    audit_id = await service.shared_audit_id(session, token)
    fiche_id = await service.audit_fiche_id(session, audit_id)
    url = await service.recording_url(session, fiche_id, call_id, None)
    return await relay_recording(source, url, range_)


@pages.get("/days/{day}", response_class=HTMLResponse, responses=HTML, summary="A day's audits")
async def day_report(
    day: Annotated[dt.date, Path(description="sales day, YYYY-MM-DD")],
    grant: ReadAudits,
    session: SessionDep,
    signout: SignOutToken,
    scorecard: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="only this scorecard's audits")] = None,
) -> HTMLResponse:
    """The latest completed audit of every fiche sold that day (in scope), with score, level and
    critical failures, each linking to its report."""
    rows = await service.day_audits(session, grant, day, scorecard)
    view = [
        {
            "url": f"/reports/audits/{audit.id}",
            "fiche_id": fiche.fiche_id,
            "prospect": " ".join(p for p in (fiche.prospect_prenom, fiche.prospect_nom) if p) or "—",
            "scorecard": name,
            "score": _percent(audit.score_percentage),
            "level": audit.niveau,
            "critical_failed": max(0, (audit.critical_total or 0) - (audit.critical_passed or 0)),
        }
        for audit, fiche, name in rows
    ]
    label = day.strftime("%d/%m/%Y")
    only = rows[0][2] if scorecard is not None and rows else None
    return _page(render("day.html.j2", rows=view, day_label=label, scorecard=only, signout=signout))


def _percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{float(value):.1f} %".replace(".", ",")


@api.get(
    "/recordings/{fiche_id}/{call_id}/audio",
    responses=AUDIO,
    response_class=Response,
    summary="A recording's audio, with byte ranges",
)
async def recording_audio(
    *,
    fiche_id: FicheIdPath,
    call_id: CallIdPath,
    grant: ReadRecordings,
    session: SessionDep,
    source: RecordingSourceDep,
    range_: RangeHeader = None,
) -> Response:
    """The recording's bytes relayed from the CRM (its URL is never sent), `Range` honoured (206 with
    `Content-Range`). Needs `recordings.read` on the fiche; 404 when out of scope, or when the CRM
    no longer serves it; 502 when the CRM fails."""
    url = await service.recording_url(session, fiche_id, call_id, grant)
    return await relay_recording(source, url, range_)


# --- share links ----------------------------------------------------------------------------------


class ShareLinkIn(BaseModel):
    expires_in_hours: int = Field(168, ge=1, le=24 * 90, description="hours until the link stops working")


class ShareLinkOut(BaseModel):
    id: IdStr
    audit_id: IdStr
    expires_at: dt.datetime
    revoked_at: dt.datetime | None = None
    url: str | None = Field(None, description="the link itself: returned once, at creation, never stored")


@api.post(
    "/reports/audits/{audit_id}/share-links",
    status_code=201,
    response_model=Envelope[ShareLinkOut],
    summary="Create a read-only share link to an audit's report",
)
async def create_share_link(
    audit_id: EntityId, grant: WriteAudits, session: SessionDep, settings: SettingsDep, body: ShareLinkIn
) -> Envelope[ShareLinkOut]:
    """A link anyone can open until it expires or is revoked: this one report and its recordings,
    read-only. Needs `audits.write` on the audit (404 out of scope). The URL is shown only here."""
    await service.load_scoped_audit_id(session, audit_id, grant)
    link, token = await service.create_share_link(
        session, audit_id, grant.principal.user_id, dt.timedelta(hours=body.expires_in_hours)
    )
    url = settings.api_base_url.rstrip("/") + service.shared_report_path(token)
    return ok(ShareLinkOut(id=link.id, audit_id=audit_id, expires_at=link.expires_at, url=url))


@api.get(
    "/reports/audits/{audit_id}/share-links",
    response_model=Envelope[list[ShareLinkOut]],
    summary="An audit's share links (never their tokens)",
)
async def list_share_links(audit_id: EntityId, grant: WriteAudits, session: SessionDep) -> Envelope[list[ShareLinkOut]]:
    """Every link made for the audit, oldest first, live or not, to find the one to revoke. Needs
    `audits.write` on the audit (404 out of scope); the tokens are not stored, so never listed."""
    await service.load_scoped_audit_id(session, audit_id, grant)
    links = await service.share_links(session, audit_id)
    return ok(
        [ShareLinkOut(id=x.id, audit_id=audit_id, expires_at=x.expires_at, revoked_at=x.revoked_at) for x in links]
    )


@api.delete(
    "/reports/audits/{audit_id}/share-links/{link_id}",
    response_model=Envelope[ShareLinkOut],
    summary="Revoke a share link",
)
async def revoke_share_link(
    audit_id: EntityId, link_id: LinkIdPath, grant: WriteAudits, session: SessionDep
) -> Envelope[ShareLinkOut]:
    """The link answers 404 from now on. Needs `audits.write` on the audit (404 out of scope)."""
    await service.load_scoped_audit_id(session, audit_id, grant)
    link = await service.revoke_share_link(session, audit_id, link_id)
    return ok(ShareLinkOut(id=link.id, audit_id=audit_id, expires_at=link.expires_at, revoked_at=link.revoked_at))
