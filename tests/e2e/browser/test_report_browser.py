"""The audit report in a real headless Chromium against the running API and the demo CRM's audio.

Both servers listen on real sockets (uvicorn in threads) over the test Postgres and Redis; the page
is opened in a plain browser tab through a share link (no account), with the cookie a signed-in
user gets from `POST /reports/session` (no header), or after signing in with the pages' own form.
Debian's `chromium` drives it through Playwright's Python client; axe-core comes inside the
`axe-playwright-python` wheel.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import importlib
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from uvicorn.logging import AccessFormatter

from api.app import create_app
from api.auth.crypto import keyring_for, passwords_for
from api.auth.service import issue_refresh_token
from api.reports.service import create_share_link
from callaudit.demo_crm.app import create_app as create_simulator
from callaudit.demo_crm.config import SimulatorConfig
from callaudit.demo_crm.fiches import build_fiche
from callaudit.demo_crm.payloads import fiche_details as simulator_details
from callaudit.logging import REDACTED
from callaudit.seed import seed_rbac
from callaudit.settings import Settings, load_settings
from domain.crm.parsing import parse_fiche_details
from domain.crm.store import store_details
from domain.models import AuditCitation, AuditControlPoint, AuditStep, Role, User, UserRole, UserStatus
from domain.transcripts.chunking import Word, build_chunks
from domain.transcripts.store import TranscriptWrite, load_recordings, store_transcript
from resources.database import create_api_engine
from tests.fixtures.factories.aio import add_audit, add_fiche, add_scorecard
from tests.fixtures.processes import free_port
from tests.fixtures.reports_html import html_problems

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"


def _import_or_install(module: str, distribution: str) -> Any:
    """`module`, pip-installing `distribution` at the project's dev pin first when it is missing; a
    skip saying why only when pip cannot install it (no registry reachable)."""
    try:
        return importlib.import_module(module)
    except ImportError:
        pass
    dev = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["optional-dependencies"]["dev"]
    requirement = next(r for r in dev if re.match(r"[A-Za-z0-9._-]+", r).group() == distribution)  # type: ignore[union-attr]
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", requirement], check=False)
    if done.returncode != 0:
        pytest.skip(f"{requirement} is not installed and pip could not install it", allow_module_level=True)
    importlib.invalidate_caches()
    return importlib.import_module(module)


playwright_api = _import_or_install("playwright.sync_api", "playwright")
axe_module = _import_or_install("axe_playwright_python.sync_playwright", "axe-playwright-python")

CITED = (5.0, 7.0)  # the second every citation of the test audit starts and ends at
EMAIL = "qualite@example.test"
PASSWORD = "correct horse battery staple"


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
    """An administrator (`EMAIL`, `PASSWORD`) with a login session: an access token of that session."""
    engine = create_api_engine(database_url, pool_size=1)
    async with AsyncSession(engine, expire_on_commit=False) as session:
        await session.run_sync(seed_rbac)
        user = User(email=EMAIL, status=UserStatus.ACTIVE, password_hash=passwords_for(settings).hash_sync(PASSWORD))
        session.add(user)
        await session.flush()
        role = await session.scalar(select(Role.id).where(Role.key == "admin"))
        session.add(UserRole(user_id=user.id, role_id=role))
        issued, _ = await issue_refresh_token(session, user.id, ttl_seconds=3600, ip=None, user_agent=None)
        await session.commit()
    await engine.dispose()
    return keyring_for(settings).issue_access_token(str(user.id), 900, {"sid": issued.family_id})


@pytest.fixture
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots and PDFs are kept after the run: `<pytest basetemp>/artifacts/browser/`."""
    folder = tmp_path_factory.getbasetemp() / "artifacts" / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


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


def test_report_in_a_real_browser(servers: tuple[str, str, Settings], database_url: str, artifacts: Path) -> None:
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
            assert _serious_violations(page) == []

            page.screenshot(path=str(artifacts / "report.png"), full_page=True)
            assert (artifacts / "report.png").stat().st_size > 10_000

            # print: every control point on paper, players replaced by their times
            page.emulate_media(media="print")
            visible_points = page.locator("li.point").evaluate_all(
                "els => els.filter(e => getComputedStyle(e).display !== 'none' && e.offsetHeight > 0).length"
            )
            assert visible_points == points
            assert audio.evaluate("a => getComputedStyle(a).display") == "none"
            assert page.locator("span.time").first.is_visible()
            pdf = artifacts / "report.pdf"
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
    servers: tuple[str, str, Settings], database_url: str, artifacts: Path
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
            page.screenshot(path=str(artifacts / "report-signed-in.png"), full_page=True)
        finally:
            browser.close()


def _serious_violations(page: Any) -> list[str]:
    results = axe_module.Axe().run(page)
    return [v["id"] for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


def test_a_user_signs_in_with_the_form_uses_the_pages_by_keyboard_and_signs_out(
    servers: tuple[str, str, Settings], database_url: str, artifacts: Path
) -> None:
    api_url, crm_url, settings = servers
    _, points, audit_id = asyncio.run(_seed(database_url, crm_url))
    asyncio.run(_signed_in(database_url, settings))
    report = f"{api_url}/reports/audits/{audit_id}"
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=_chromium(), args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"]
        )
        try:
            page = browser.new_page()
            # a report link opened without a session: the French 401 page links to the form
            assert page.goto(report).status == 401
            assert _serious_violations(page) == []
            page.get_by_role("link", name="Se connecter").click()
            page.wait_for_url(f"{api_url}/reports/login?next=/reports/audits/{audit_id}")
            assert page.locator("h1").count() == 1
            assert _serious_violations(page) == []
            # a wrong password: the form again, one message, the e-mail kept
            page.get_by_label("Adresse e-mail").fill(EMAIL)
            page.get_by_label("Mot de passe").fill("not the password")
            page.get_by_role("button", name="Se connecter").click()
            assert "Adresse e-mail ou mot de passe incorrect." in page.get_by_role("alert").inner_text()
            assert page.get_by_label("Adresse e-mail").input_value() == EMAIL
            assert _serious_violations(page) == []
            page.screenshot(path=str(artifacts / "sign-in.png"), full_page=True)
            # by keyboard alone: the password, then Enter submits; back to the report asked for
            page.get_by_label("Mot de passe").fill(PASSWORD)
            with page.expect_navigation(url=report):
                page.keyboard.press("Enter")
            assert page.locator("li.point").count() == points
            assert _serious_violations(page) == []
            # a citation played from the keyboard: focus its button, press Enter
            page.locator("button.play").first.focus()
            page.keyboard.press("Enter")
            audio = page.locator("audio.clip").first
            page.wait_for_function(
                "([a, s]) => a.currentTime >= s && a.readyState >= 2", arg=[audio.element_handle(), CITED[0]]
            )
            page.screenshot(path=str(artifacts / "report-after-sign-in.png"), full_page=True)
            # the day's overview, with the same cookie: the audit listed, its link followed by keyboard
            assert page.goto(f"{api_url}/reports/days/2025-03-03").status == 200
            assert page.locator("h1").count() == 1
            assert _serious_violations(page) == []
            page.locator(f'a[href="/reports/audits/{audit_id}"]').focus()
            with page.expect_navigation(url=report):
                page.keyboard.press("Enter")
            # signing out ends the session: the report asks to sign in again
            page.get_by_role("button", name="Se déconnecter").click()
            page.wait_for_url(f"{api_url}/reports/login")
            assert page.goto(report).status == 401
        finally:
            browser.close()


class _Lines(logging.Handler):
    """Every record formatted as its own logger's handler would (uvicorn's access line included)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.access = AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False)

    def emit(self, record: logging.LogRecord) -> None:
        formatter = self.access if record.name == "uvicorn.access" else logging.Formatter("%(name)s %(message)s")
        self.lines.append(formatter.format(record))


def test_a_share_links_token_is_in_no_log_line_of_the_running_server(
    servers: tuple[str, str, Settings], database_url: str
) -> None:
    api_url, crm_url, _ = servers
    path, _, _ = asyncio.run(_seed(database_url, crm_url))
    token = path.rsplit("/", 1)[1]
    capture = _Lines()
    watched = [logging.getLogger(name) for name in ("uvicorn.access", "uvicorn.error", "")]
    levels = [logger.level for logger in watched]
    for logger in watched:
        logger.addHandler(capture)
        logger.setLevel(logging.INFO)
    try:
        page = httpx.get(api_url + path, timeout=30)
        audio = re.search(r'<audio [^>]*src="([^"#]+)', page.text)
        assert audio is not None
        clip = httpx.get(api_url + audio.group(1), headers={"Range": "bytes=0-99"}, timeout=30)
        assert clip.status_code == 206
        gone = httpx.get(api_url + path + "x", timeout=30)  # an unknown token: the 404 is logged too
        assert gone.status_code == 404
    finally:
        for logger, level in zip(watched, levels, strict=True):
            logger.removeHandler(capture)
            logger.setLevel(level)
    shared = [line for line in capture.lines if "/reports/shared/" in line]
    assert len(shared) >= 3, capture.lines  # the page, the recording, the unknown link
    assert all(token[len("ca_shr_") :][:12] not in line for line in capture.lines)
    assert all(f"/reports/shared/{REDACTED}" in line for line in shared)
