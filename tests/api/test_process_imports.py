"""What an API process imports with the app, and what waits for its first use (decision 124)."""

from __future__ import annotations

import subprocess
import sys

import pytest

APP = (
    "import secrets, sys; from api.app import create_app; from callaudit.settings import load_settings; "
    "create_app(load_settings(database_url='postgresql://u@127.0.0.1:1/db', redis_url='redis://127.0.0.1:1', "
    "jwt_access_secret=secrets.token_urlsafe(48)))"
)


@pytest.mark.parametrize(
    ("modules", "use"),
    [
        (["xhtml2pdf", "reportlab", "pypdf"], "from api.reports.pdf import render_pdf; render_pdf('<p>x</p>')"),
        (["pyarrow"], "from api.analytics.repository import fact_columns; fact_columns()"),
    ],
    ids=["pdf", "arrow"],
)
def test_an_api_process_loads_the_pdf_and_arrow_stacks_at_their_first_use(modules: list[str], use: str) -> None:
    """Two processes a core are the advice (`docs/scaling.md`), so what every process holds counts
    twice: the PDF stack (33 MiB) and pyarrow (35 MiB) were a quarter of a process's memory after
    `create_app`, for the few processes that render a report or export facts."""
    loaded = f"[m for m in {modules!r} if m in sys.modules]"
    check = f"{APP}; before = {loaded}; {use}; print(before, {loaded} == {modules!r})"
    imported = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=False)
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.split()[-2:] == ["[]", "True"]
