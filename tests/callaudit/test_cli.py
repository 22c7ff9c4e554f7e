"""The CLI as a user runs it: configuration errors, embedded services, doctor, migrate and demo."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import typer.main

from callaudit.cli import app
from callaudit.embedded import EmbeddedServices
from tests.fixtures.processes import CALLAUDIT, cli_env, free_port


def _cli(args: list[str], cwd: Path, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CALLAUDIT, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_every_documented_command_exists() -> None:
    group = typer.main.get_command(app)
    commands = set(group.commands)  # type: ignore[attr-defined]
    assert {"services", "migrate", "seed", "run", "demo", "doctor", "api"} <= commands
    services = group.commands["services"]  # type: ignore[attr-defined]
    assert set(services.commands) == {"up", "down", "status"}


def test_bad_configuration_fails_naming_the_variable(tmp_path: Path) -> None:
    result = _cli(["doctor"], tmp_path, cli_env(tmp_path / "home", FICHE_FETCH_CONCURRENCY="lots"))
    assert result.returncode == 2
    assert "FICHE_FETCH_CONCURRENCY" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_services_up_status_down_round_trip(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = cli_env(home)
    up = _cli(["services", "up"], tmp_path, env)
    assert up.returncode == 0, up.stderr
    assert "postgres: started" in up.stdout
    assert "redis: started" in up.stdout
    try:
        again = _cli(["services", "up"], tmp_path, env)
        assert "postgres: already running" in again.stdout
        status = _cli(["services", "status"], tmp_path, env)
        assert status.stdout.count("running") == 2
        migrated = _cli(["migrate"], tmp_path, env)
        assert migrated.returncode == 0, migrated.stderr
        assert "crm_search=1" in migrated.stdout
        assert "crm_fiche_fetch=3" in migrated.stdout
    finally:
        down = _cli(["services", "down"], tmp_path, env)
    assert "postgres: stopped" in down.stdout
    assert "redis: stopped" in down.stdout
    assert not any(s.status().running for s in EmbeddedServices(home).all())


def test_doctor_reports_each_dependency(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home", DAGSTER_WEBSERVER_PORT=str(free_port()), COLUMNS="200")
    result = _cli(["doctor"], tmp_path, env)
    assert result.returncode == 0, result.stdout + result.stderr  # nothing configured is broken
    for name in ("postgres", "redis", "dagster-webserver", "crm", "llm", "stt", "SALES_REFRESH_CRON"):
        assert name in result.stdout
    assert "embedded, stopped" in result.stdout
    assert "heuristic auditor" in result.stdout


def test_doctor_json_fails_on_a_cron_dagster_refuses_and_warns_about_unused_settings(tmp_path: Path) -> None:
    env = cli_env(
        tmp_path / "home",
        DAGSTER_WEBSERVER_PORT=str(free_port()),
        SALES_REFRESH_CRON="99 99 * * *",
        AUDIT_STEP_TIMELINE_MAX_CHUNKS="10",
    )
    result = _cli(["doctor", "--json"], tmp_path, env)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    checks = {check["name"]: check for check in report["checks"]}
    assert checks["SALES_REFRESH_CRON"]["level"] == "fail"
    assert "99 99 * * *" in checks["SALES_REFRESH_CRON"]["detail"]
    assert checks["AUDIT_STEP_TIMELINE_MAX_CHUNKS"] == {
        "name": "AUDIT_STEP_TIMELINE_MAX_CHUNKS",
        "level": "warn",
        "detail": "set but not used: prompt mode sends the whole timeline (docs/decisions.md #15)",
    }


def test_version_and_services_status_json(tmp_path: Path) -> None:
    from callaudit import __version__

    env = cli_env(tmp_path / "home")
    version = _cli(["--version"], tmp_path, env)
    assert (version.returncode, version.stdout.strip()) == (0, f"callaudit {__version__}")
    status = _cli(["services", "status", "--json"], tmp_path, env)
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["home"] == str((tmp_path / "home").resolve())
    assert [(s["name"], s["state"], s["pid"]) for s in report["services"]] == [
        ("postgres", "stopped", None),
        ("redis", "stopped", None),
    ]


def test_doctor_fails_when_a_configured_server_is_unreachable(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home", REDIS_URL=f"redis://:pw-not-shown@127.0.0.1:{free_port()}/0", COLUMNS="200")
    result = _cli(["doctor"], tmp_path, env)
    assert result.returncode == 1
    assert "REDIS_URL: unreachable" in result.stdout
    assert "pw-not-shown" not in result.stdout + result.stderr


@pytest.mark.slow
def test_demo_prints_a_json_summary_and_leaves_no_server_running(tmp_path: Path) -> None:
    home = tmp_path / "home"
    simulator_port, api_port = free_port(), free_port()
    env = cli_env(home, DEMO_CRM_PORT=str(simulator_port), PORT=str(api_port))
    result = _cli(["demo", "--json"], tmp_path, env)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    assert summary["ok"] is True
    stages = {s["name"]: s for s in summary["stages"]}
    assert {"services", "schema", "dagster", "api", "ingest", "transcribe", "audit"} <= set(stages)
    ingest = stages["ingest"]
    assert ingest["fiches"] == 12  # the simulator's default day
    assert ingest["fetched"] + ingest["cached"] == 12
    assert ingest["failed"] == 0
    transcribe = stages["transcribe"]
    assert transcribe["provider"] == "reference"
    assert transcribe["recordings_transcribed"] == ingest["recordings"]
    assert transcribe["recordings_failed"] == 0
    assert stages["dagster"]["pools"] == {"crm_search": 1, "crm_fiche_fetch": 3, "stt": 2, "llm": 3}
    audit = stages["audit"]
    assert (audit["auditor"], audit["failed"], audit["audited"]) == ("heuristic", 0, 12)
    assert len(audit["audits"]) == 12
    assert {a["niveau"] for a in audit["audits"]} <= {"EXCELLENT", "BON", "ACCEPTABLE", "INSUFFISANT", "REJET"}
    assert all(0 <= a["score"] <= 100 for a in audit["audits"])
    # Links that outlive the demo: the simulator ran on DEMO_CRM_PORT (what `callaudit run` serves).
    links = summary["links"]
    assert links["recording"].startswith(f"http://127.0.0.1:{simulator_port}/")
    assert links["api docs"] == f"http://127.0.0.1:{api_port}/api-docs"
    assert links["audit"] == f"http://127.0.0.1:{api_port}/api/audits/{audit['audits'][0]['audit_id']}"
    # the report page through a share link: opens in any browser without logging in
    assert links["report"].startswith(f"http://127.0.0.1:{api_port}/reports/shared/ca_shr_")
    assert "error" not in summary

    # The same demo in a pipe: plain lines, no colour, no third-party INFO logs, one screen.
    plain = _cli(["demo"], tmp_path, env)
    assert plain.returncode == 0, plain.stdout[-2000:] + plain.stderr[-2000:]
    lines = (plain.stdout + plain.stderr).splitlines()
    assert len(lines) <= 40, "\n".join(lines)
    assert "\x1b[" not in plain.stdout + plain.stderr
    assert not [line for line in lines if " INFO " in line or "Running commandline" in line]
    for index, name in enumerate(("services", "schema", "dagster", "api", "ingest", "transcribe", "audit"), start=1):
        assert any(line.startswith(f"[{index}/7] {name} ") and " ok " in line for line in lines), name
    assert "demo passed: 7 stages" in lines
    assert any(line.split() == ["api", "docs", f"http://127.0.0.1:{api_port}/api-docs"] for line in lines)
    assert any(line.split()[:1] == ["report"] and "/reports/shared/ca_shr_" in line for line in lines)
    assert not any(s.status().running for s in EmbeddedServices(home).all())


def test_demo_failure_is_one_screen_with_a_json_error(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home", DATABASE_URL=f"postgresql://demo:pw-not-shown@127.0.0.1:{free_port()}/x")
    result = _cli(["demo", "--json"], tmp_path, env)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["error"]["stage"] == "migrate"
    assert report["error"]["exit_code"] == 1
    assert "OperationalError" in report["error"]["message"]
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) <= 10, result.stderr
    assert "pw-not-shown" not in result.stdout + result.stderr


def test_callaudit_dagster_runs_the_plain_dagster_cli_on_the_same_instance(tmp_path: Path) -> None:
    home = tmp_path / "home"
    # Dagster's CLI loads a `.env` of its working directory over the environment: not this one.
    (tmp_path / ".env").write_text(f"DAGSTER_HOME={tmp_path / 'elsewhere'}\n")
    env = cli_env(home)
    try:
        migrated = _cli(["migrate"], tmp_path, env)
        assert migrated.returncode == 0, migrated.stderr
        info = _cli(["dagster", "instance", "info"], tmp_path, env)
        assert info.returncode == 0, info.stdout[-2000:] + info.stderr[-2000:]
        assert "PostgresRunStorage" in info.stdout
        assert str(home.resolve() / "dagster") in info.stdout
        assert "elsewhere" not in info.stdout
        assets = _cli(["dagster", "asset", "list", "-m", "orchestration.definitions"], tmp_path, env)
        assert assets.returncode == 0, assets.stderr[-2000:]
        assert {"sales_fiches", "fiche_details", "transcripts", "audits"} <= set(assets.stdout.split())
    finally:
        _cli(["services", "down"], tmp_path, env)
    assert not any(s.status().running for s in EmbeddedServices(home).all())
