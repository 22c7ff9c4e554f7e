"""`AUTOMATION_DEBUG_LOG_TO_FILE`: a run's log lines mirrored to its text file, scrubbed like the table's."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from callaudit.settings import load_settings
from domain.models.automation import AutomationLog, LogLevel
from domain.schedules.debug_log import DebugLogFile, debug_log_for, debug_log_path, format_line
from tests.fixtures.schedules import Plan, harness, new_run, schedule


def test_the_setting_is_off_by_default_and_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTOMATION_DEBUG_LOG_TO_FILE", raising=False)
    assert load_settings().automation_debug_log_to_file is False
    monkeypatch.setenv("AUTOMATION_DEBUG_LOG_TO_FILE", "1")
    assert load_settings().automation_debug_log_to_file is True
    assert debug_log_for(False, Path("/srv/home"), 7) is None
    made = debug_log_for(True, Path("/srv/home"), 7)
    assert made is not None
    assert made.path == Path("/srv/home/automation-debug-logs/automation-run-7.txt")


def test_a_line_is_scrubbed_like_the_log_table() -> None:
    line = format_line(
        dt.datetime(2026, 3, 2, 7, 0, tzinfo=dt.UTC),
        LogLevel.ERROR,
        "Sales search failed: Authorization: Bearer abcdef123456",
        {"url": "https://user:hunter22@crm.example/api"},
    )
    assert line.startswith("2026-03-02T07:00:00+00:00 ERROR   Sales search failed")
    assert "abcdef123456" not in line
    assert "hunter22" not in line
    assert line.endswith("\n")


@pytest.mark.usefixtures("clean_tables")
def test_every_log_line_of_a_run_is_mirrored_to_its_file_and_a_resumed_run_appends(
    sync_engine: Engine, tmp_path: Path
) -> None:
    h = harness(sync_engine, {"F1": Plan(), "F2": Plan(details="not_found")})
    schedule_id = schedule(sync_engine, run_audits=False)
    run_id = new_run(sync_engine, schedule_id)
    path = debug_log_path(tmp_path, run_id)
    path.parent.mkdir(parents=True)
    path.write_text("before the resume\n")
    runner = h.runner(run_id, schedule_id)
    runner.debug_log = DebugLogFile(path)
    runner.execute()

    with Session(sync_engine) as session:
        rows = session.execute(
            select(AutomationLog.level, AutomationLog.message)
            .where(AutomationLog.run_id == run_id)
            .order_by(AutomationLog.id)
        ).all()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "before the resume"
    written = lines[1:]
    assert len(written) == len(rows) >= 3
    for line, (level, message) in zip(written, rows, strict=True):
        assert line.split(" ", 1)[1].startswith(level.upper())
        assert message in line
    assert "Run started" in written[0]
    assert "Run completed" in written[-1]
