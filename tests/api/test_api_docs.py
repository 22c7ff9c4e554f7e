"""Swagger UI and ReDoc work offline: their assets come from the API itself, never a CDN.

The browser test loads `/api-docs` in Debian's headless Chromium with every outside address
unreachable (host resolution of anything but 127.0.0.1 fails, and a proxy to a closed port) and
looks for the operations Swagger UI lists once its JavaScript has run.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from api.app import create_app
from callaudit.settings import Settings

_ASSET = re.compile(r"""(?:src|href)=["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/api-docs", "/api-redoc"])
async def test_docs_pages_load_every_asset_from_the_api(client: httpx.AsyncClient, page: str) -> None:
    html = await client.get(page)
    assert html.status_code == 200
    assets = _ASSET.findall(html.text)
    assert assets, html.text
    for url in assets:
        assert url.startswith("/"), f"{page} loads {url} from outside the API"
        served = await client.get(url)
        assert served.status_code == 200, url
        assert len(served.content) > 1000 or url.endswith(".png"), url


@pytest.fixture
def served_api(api_settings: Settings) -> Iterator[str]:
    """The app under uvicorn on a real port (lifespan off: the docs need no database)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(api_settings), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _render_offline(url: str, profile: Path) -> str:
    """The page's DOM after its scripts ran, in headless Chromium that cannot reach any outside address."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (`make system-deps` installs it as root)")
    result = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",  # tests run as root in CI
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--proxy-server=http://127.0.0.1:9",  # anything not bypassed (loopback is) goes nowhere
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.slow
def test_swagger_ui_lists_the_operations_with_outside_network_blocked(served_api: str, tmp_path: Path) -> None:
    dom = _render_offline(f"{served_api}/api-docs", tmp_path / "profile")
    # Swagger UI renders one `opblock` per operation with its path; without its script there are none.
    paths = set(re.findall(r'data-path="([^"]+)"', dom))
    assert {"/api/auth/login", "/api/audits", "/api/audit-configs/import"} <= paths, dom[:2000]
    assert len(paths) > 40


@pytest.mark.slow
def test_redoc_lists_the_operations_with_outside_network_blocked(served_api: str, tmp_path: Path) -> None:
    dom = _render_offline(f"{served_api}/api-redoc", tmp_path / "profile")
    operations = set(re.findall(r'id="operation/([A-Za-z0-9_]+)"', dom))
    assert "login_api_auth_login_post" in operations, dom[:2000]
    assert len(operations) > 40
    assert "Import a scorecard document (the export format)" in dom
