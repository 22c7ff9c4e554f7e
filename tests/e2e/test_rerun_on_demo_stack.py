"""A rerun end to end on the demo stack, through the API: `callaudit demo` audits a day, `callaudit run`
serves it, the API queues the rerun, the daemon runs it in Dagster, the audit gains a revision."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.fixtures.processes import CALLAUDIT, cli_env, free_port

RUN_QUERY = "query Run($runId: ID!) { runOrError(runId: $runId) { __typename ... on Run { status jobName } } }"
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def _until(check: Callable[[], bool], proc: subprocess.Popen[str], what: str, timeout: float = 180) -> None:
    """Poll `check()` until it is truthy; the stack must stay up meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"callaudit run exited early with {proc.returncode}"
        try:
            if check():
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise AssertionError(f"{what} not reached")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_rerun_through_the_api_runs_in_dagster_and_adds_a_revision(tmp_path: Path) -> None:
    home = tmp_path / "home"
    api_port, ui_port = free_port(), free_port()
    env = cli_env(
        home,
        PORT=str(api_port),
        DAGSTER_WEBSERVER_PORT=str(ui_port),
        DAGSTER_CODE_SERVER_PORT=str(free_port()),
        DEMO_CRM_PORT=str(free_port()),
        DEMO_CRM_FICHES_PER_DAY="2",
    )
    demo = subprocess.run(
        [CALLAUDIT, "demo"], check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    email, password = (home / "initial-admin.txt").read_text().split()[:2]

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
    api, ui = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ui_port}"
    try:
        _until(lambda: httpx.get(f"{api}/ready", timeout=5).status_code == 200, proc, "readiness")
        login = httpx.post(f"{api}/api/auth/login", json={"email": email, "password": password}, timeout=10)
        headers = {"Authorization": f"Bearer {login.json()['data']['access_token']}"}
        audits = httpx.get(f"{api}/api/audits", headers=headers, timeout=10).json()["data"]
        audit_id = audits[0]["id"]

        queued = httpx.post(
            f"{api}/api/audits/{audit_id}/steps/2/rerun",
            json={"customPrompt": "Le consentement est donné dans le second appel"},
            headers=headers,
            timeout=30,
        )
        assert queued.status_code == 202, queued.text
        run_id = queued.json()["data"]["run_id"]

        def run_status() -> str:
            body = httpx.post(f"{ui}/graphql", json={"query": RUN_QUERY, "variables": {"runId": run_id}}, timeout=10)
            run = body.json()["data"]["runOrError"]
            assert run["jobName"] == "rerun_audit_step_job"  # visible in Dagster under its job
            return str(run["status"])

        _until(lambda: run_status() in FINISHED, proc, "the rerun's run finishing")
        assert run_status() == "SUCCESS", (tmp_path / "run.log").read_text()[-3000:]

        revisions = httpx.get(f"{api}/api/audits/{audit_id}/steps/2/revisions", headers=headers, timeout=10)
        assert [(r["revision"], r["current"]) for r in revisions.json()["data"]] == [(1, False), (2, True)]
        assert revisions.json()["data"][1]["run_id"] == run_id
        detail = httpx.get(f"{api}/api/audits/{audit_id}", headers=headers, timeout=10).json()["data"]
        [entry] = detail["steps"][1]["rerun_history"]
        assert (entry["status"], entry["revision"], entry["run_id"]) == ("completed", 2, run_id)
        logs = httpx.get(f"{api}/api/audits/{audit_id}/logs", params={"limit": 200}, headers=headers, timeout=10)
        assert run_id in {line["run_id"] for line in logs.json()["data"]}
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
