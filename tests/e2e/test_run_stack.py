"""`callaudit run` brings up the whole stack on the embedded default, and Ctrl-C takes it all down."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import psutil
import pytest

from callaudit.embedded import EmbeddedServices
from tests.fixtures.processes import CALLAUDIT, cli_env, free_port, gone

LOCATIONS_QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries { name
    locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


def _wait_ready(url: str, proc: subprocess.Popen[str], timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        assert proc.poll() is None, f"callaudit run exited early with {proc.returncode}"
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} not ready within {timeout}s")


@pytest.mark.slow
def test_run_serves_dagster_ui_and_api_then_stops_everything(tmp_path: Path) -> None:
    home = tmp_path / "home"
    api_port, ui_port, grpc_port, crm_port = free_port(), free_port(), free_port(), free_port()
    env = cli_env(
        home,
        PORT=str(api_port),
        DAGSTER_WEBSERVER_PORT=str(ui_port),
        DAGSTER_CODE_SERVER_PORT=str(grpc_port),
        DEMO_CRM_PORT=str(crm_port),
    )
    log = (tmp_path / "run.log").open("w")
    proc = subprocess.Popen(
        [CALLAUDIT, "run"],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_ready(f"http://127.0.0.1:{api_port}/ready", proc, timeout=90)

        graphql = httpx.post(f"http://127.0.0.1:{ui_port}/graphql", json={"query": LOCATIONS_QUERY}, timeout=10)
        entries = graphql.json()["data"]["workspaceOrError"]["locationEntries"]
        assert [e["name"] for e in entries] == ["callaudit"]
        assert entries[0]["locationOrLoadError"]["__typename"] == "RepositoryLocation", entries

        # No FICHE_API_BASE_URL: the demo CRM simulator stands in for the gateway.
        sales = httpx.get(
            f"http://127.0.0.1:{crm_port}/api/fiches/sales-with-calls",
            params={"start_date": "2026-01-05", "end_date": "2026-01-05", "status_id": 53},
            timeout=10,
        )
        assert sales.status_code == 200
        assert sales.json()["total"] == len(sales.json()["fiches"]) > 0

        descendants = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        services = EmbeddedServices(home)
        server_pids = [pid for pid in (s.status().pid for s in services.all()) if pid is not None]
        assert len(descendants) >= 5
        assert len(server_pids) == 2

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:  # the test failed mid-way: still leave nothing behind
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    output = (tmp_path / "run.log").read_text()
    assert "stopped all processes" in output, output[-3000:]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(gone(pid) for pid in descendants + server_pids):
        time.sleep(0.2)
    assert [pid for pid in descendants if not gone(pid)] == []
    assert [pid for pid in server_pids if not gone(pid)] == []
    assert not any(s.status().running for s in services.all())
