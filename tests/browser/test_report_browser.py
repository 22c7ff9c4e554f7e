"""The audit report in a real headless Chromium against the running API and the demo CRM's audio.

Both servers listen on real sockets (uvicorn in threads) over the test Postgres and Redis; the page
is opened in a plain browser tab through a share link (no account), or with the cookie a signed-in
user gets from `POST /reports/session` (no header). Debian's `chromium` drives it
through Playwright's Python client; axe-core comes inside the `axe-playwright-python` wheel.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from api.app import create_app
from api.auth.crypto import keyring_for
from api.auth.service import issue_refresh_token
from api.reports.service import create_share_link
from callaudit.demo_crm.app import create_app as create_simulator
from callaudit.demo_crm.config import SimulatorConfig
from callaudit.demo_crm.fiches import build_fiche
from callaudit.demo_crm.payloads import fiche_details as simulator_details
from callaudit.seed import seed_rbac
from callaudit.settings import Settings, load_settings
from domain.crm.parsing import parse_fiche_details
from domain.crm.store import store_details
from domain.models import AuditCitation, AuditControlPoint, AuditStep, Role, User, UserRole, UserStatus
from domain.transcripts.chunking import Word, build_chunks
from domain.transcripts.store import TranscriptWrite, load_recordings, store_transcript
from resources.database import create_api_engine
from tests.api.audit_factory import add_audit, add_fiche, add_scorecard
from tests.process_helpers import free_port
from tests.reports_html import html_problems

playwright_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python client is not installed")
axe_module = pytest.importorskip("axe_playwright_python.sync_playwright", reason="axe-playwright-python missing")

CITED = (5.0, 7.0)  # the second every citation of the test audit starts and ends at


def _chromium() -> str:
    """Debian's chromium; installed with apt-get when missing and we may (root), else a skip saying why."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"], check=False)
        found = shutil.which("chromium")
    if not found:
        pytest.skip("no chromium executable and apt-get cannot install one here (not root)")
    return found


class _Server:
    """uvicorn on a free port in a thread, stopped by `close()`."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.05)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


async def _seed(database_url: str, crm_url: str) -> tuple[str, int, int]:
    """A fiche whose recordings are the live simulator's, a transcript, an audit citing 5 s to 7 s of
    its first call, and a share link: (share path, control points, audit id)."""
    engine = create_api_engine(database_url, pool_size=1)
    fiche_id = "F-BROWSER"
    async with AsyncSession(engine, expire_on_commit=False) as session:
        await add_fiche(session, fiche_id, prospect_prenom="Jeanne", prospect_nom="Martin")
        raw = simulator_details(build_fiche(7, dt.date(2025, 3, 3), 1, 4), crm_url, True, False)
        raw["information"]["fiche_id"] = fiche_id
        now = dt.datetime.now(dt.UTC)
        payload = parse_fiche_details(raw)
        await session.run_sync(
            lambda s: store_details(s, fiche_id, payload, now, now + dt.timedelta(days=1), dt.date(2025, 3, 3))
        )
        said = ["Bonjour", "madame", "je", "suis", "Paul", "de", "Mutuelle", "Plus"]
        said += ["vous", "avez", "besoin", "de", "quoi", "exactement"]
        words = [Word(w, float(i), i + 0.8, "speaker_0" if i < 9 else "speaker_1") for i, w in enumerate(said)]

        def transcript(s: Session) -> str:
            recording = (load_recordings(s, fiche_id) or [])[0]
            write = TranscriptWrite(
                provider="reference", model="m", text=" ".join(said), words=words,
                chunks=build_chunks(recording.call_id, words), language="fr", language_probability=None,
                duration_seconds=14.0, provider_transcript_id=None, attempts=1,
            )  # fmt: skip
            store_transcript(s, fiche_id, recording, write, now)
            return recording.call_id

        call_id = await session.run_sync(transcript)
        audit_id = await add_audit(session, fiche_id, await add_scorecard(session))
        points = select(AuditControlPoint.id).join(AuditStep).where(AuditStep.audit_id == audit_id)
        await session.execute(
            update(AuditCitation)
            .where(AuditCitation.control_point_id.in_(points))
            .values(
                call_id=call_id, chunk_id=f"{call_id}:0", chunk_index=0, start_seconds=CITED[0], end_seconds=CITED[1]
            )
        )
        count = len((await session.execute(points)).all())
        _, token = await create_share_link(session, audit_id, None, dt.timedelta(hours=1))
        await session.commit()
    await engine.dispose()
    return f"/reports/shared/{token}", count, audit_id


async def _signed_in(database_url: str, settings: Settings) -> str:
    """An administrator with a login session: an access token of that session."""
    engine = create_api_engine(database_url, pool_size=1)
    async with AsyncSession(engine, expire_on_commit=False) as session:
        await session.run_sync(seed_rbac)
        user = User(email="qualite@example.test", status=UserStatus.ACTIVE)
        session.add(user)
        await session.flush()
        role = await session.scalar(select(Role.id).where(Role.key == "admin"))
        session.add(UserRole(user_id=user.id, role_id=role))
        issued, _ = await issue_refresh_token(session, user.id, ttl_seconds=3600, ip=None, user_agent=None)
        await session.commit()
    await engine.dispose()
    return keyring_for(settings).issue_access_token(str(user.id), 900, {"sid": issued.family_id})


@pytest.fixture
def servers(
    database_url: str, redis_url: str, tmp_path: Path, clean_tables: None
) -> Iterator[tuple[str, str, Settings]]:
    crm = _Server(create_simulator(SimulatorConfig(seed=7, fiches_per_day=4)))
    settings = load_settings(
        fiche_api_base_url=crm.url,  # the CRM's origin: the one private destination recordings come from
        database_url=database_url,
        redis_url=redis_url,
        jwt_access_secret="browser-test-signing-secret-0123456789",
        callaudit_env="test",
        callaudit_home=tmp_path / "home",
        auth_password_hash_profile="fast-test",
    )
    api = _Server(create_app(settings))
    try:
        yield api.url, crm.url, settings
    finally:
        api.close()
        crm.close()


def test_report_in_a_real_browser(servers: tuple[str, str, Settings], database_url: str, tmp_path: Path) -> None:
    api_url, crm_url, _ = servers
    path, points, _ = asyncio.run(_seed(database_url, crm_url))
    raw = httpx.get(api_url + path, timeout=30)
    assert raw.status_code == 200
    assert html_problems(raw.text) == []
    assert crm_url not in raw.text  # players fetch the API's relay, never the CRM

    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=_chromium(), args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
        )
        try:
            page = browser.new_page()
            page.goto(api_url + path)
            # every step, every control point
            assert page.locator("section.step").count() == 2
            assert page.locator("li.point").count() == points
            assert page.locator("h1").count() == 1

            # clicking a citation plays its recording from the cited second, then stops at its end
            page.locator("button.play").first.click()
            audio = page.locator("audio.clip").first
            page.wait_for_function(
                "([a, s]) => a.currentTime >= s && a.readyState >= 2", arg=[audio.element_handle(), CITED[0]]
            )
            page.wait_for_function("(a) => a.paused", arg=audio.element_handle(), timeout=30000)
            position = audio.evaluate("a => a.currentTime")
            assert CITED[0] <= position <= CITED[1] + 1.0
            assert audio.evaluate("a => a.error") is None

            # accessibility: no serious or critical axe-core violation
            results = axe_module.Axe().run(page)
            serious = [v["id"] for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
            assert serious == []

            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            assert (tmp_path / "report.png").stat().st_size > 10_000

            # print: every control point on paper, players replaced by their times
            page.emulate_media(media="print")
            visible_points = page.locator("li.point").evaluate_all(
                "els => els.filter(e => getComputedStyle(e).display !== 'none' && e.offsetHeight > 0).length"
            )
            assert visible_points == points
            assert audio.evaluate("a => getComputedStyle(a).display") == "none"
            assert page.locator("span.time").first.is_visible()
            pdf = tmp_path / "report.pdf"
            page.pdf(path=str(pdf))
            assert pdf.stat().st_size > 1000
        finally:
            browser.close()


def test_a_recording_the_crm_no_longer_serves_shows_a_message(
    servers: tuple[str, str, Settings], database_url: str, tmp_path: Path
) -> None:
    api_url, crm_url, _ = servers
    path, _, _ = asyncio.run(_seed(database_url, crm_url + "/gone"))  # URLs the CRM answers 404 to
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(api_url + path)
            page.locator("button.play").first.click()
            message = page.locator(".unavailable").first
            message.wait_for(state="visible")
            assert "le CRM ne le fournit plus" in message.inner_text()
            assert not page.locator("audio.clip").first.is_visible()
        finally:
            browser.close()


def test_a_signed_in_user_opens_the_report_with_the_cookie_alone(
    servers: tuple[str, str, Settings], database_url: str, tmp_path: Path
) -> None:
    api_url, crm_url, settings = servers
    _, points, audit_id = asyncio.run(_seed(database_url, crm_url))
    access = asyncio.run(_signed_in(database_url, settings))
    report = f"/reports/audits/{audit_id}"
    exchanged = httpx.post(
        f"{api_url}/reports/session", params={"next": report}, headers={"Authorization": f"Bearer {access}"}
    )
    assert exchanged.status_code == 303
    assert exchanged.headers["location"] == report
    cookie = exchanged.cookies["callaudit-reports"]
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=_chromium(), args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
        )
        try:
            context = browser.new_context()
            # without the cookie, a French page asks to sign in
            page = context.new_page()
            assert page.goto(api_url + report).status == 401
            assert page.locator("h1").inner_text() == "Connexion requise"
            context.add_cookies([{"name": "callaudit-reports", "value": cookie, "url": api_url}])
            opened = page.goto(api_url + report)
            assert opened.status == 200
            assert opened.request.header_value("authorization") is None
            assert page.locator("li.point").count() == points
            # the player's requests to the relay carry the cookie only, and play from the cited second
            page.locator("button.play").first.click()
            audio = page.locator("audio.clip").first
            page.wait_for_function(
                "([a, s]) => a.currentTime >= s && a.readyState >= 2", arg=[audio.element_handle(), CITED[0]]
            )
            assert audio.evaluate("a => a.error") is None
            page.screenshot(path=str(tmp_path / "report-signed-in.png"), full_page=True)
        finally:
            browser.close()
