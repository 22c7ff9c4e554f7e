"""`callaudit demo`'s output pieces: plain lines for logs, the summary's verdict and its JSON error."""

from __future__ import annotations

import json
from pathlib import Path

from callaudit.demo import PLAIN_AUDIT_ROWS, STAGES, DemoSummary, PlainProgress, StageResult


def _audits(count: int) -> list[dict[str, str | float]]:
    return [
        {"fiche_id": f"F{i}", "score": 80.0, "niveau": "BON", "critical": "4/4", "audit_id": str(i)}
        for i in range(count)
    ]


def _stages(audits: int) -> list[StageResult]:
    figures = {"audits": _audits(audits), "day": "2026-01-15"}
    return [StageResult(name, True, "fine", 0.5, figures if name == "audit" else {}) for name, _ in STAGES]


def test_plain_output_stays_one_screen_whatever_the_day_size() -> None:
    lines: list[str] = []
    DemoSummary(_stages(60), {"api docs": "http://127.0.0.1:3002/api-docs"}).render_plain(lines.append)
    assert len(lines) == 1 + PLAIN_AUDIT_ROWS + 1 + 1 + 1
    assert lines[PLAIN_AUDIT_ROWS + 1] == "  ... and 45 more (`callaudit demo --json` lists them all)"
    assert lines[-2:] == ["demo passed: 7 stages", "  api docs   http://127.0.0.1:3002/api-docs"]
    assert not any("\x1b[" in line for line in lines)


def test_a_failed_stage_ends_the_summary_with_its_error() -> None:
    stages = [*_stages(0)[:4], StageResult("ingest", False, "CrmError: the CRM answered 503", 2.0)]
    summary = DemoSummary(stages)
    assert not summary.ok
    assert summary.as_dict()["error"] == {
        "stage": "ingest",
        "message": "CrmError: the CRM answered 503",
        "exit_code": 1,
    }
    lines: list[str] = []
    summary.render_plain(lines.append)
    assert lines == ["demo FAILED at stage ingest: CrmError: the CRM answered 503 (exit code 1)"]
    assert not DemoSummary(_stages(1)[:3]).ok  # stages that never ran are not a pass


def test_plain_progress_is_one_line_per_finished_stage() -> None:
    lines: list[str] = []
    progress = PlainProgress(lines.append)
    progress.started("schema", 2, 7)
    progress.finished(StageResult("schema", True, "migrations at head", 0.42), 2, 7)
    assert lines == ["[2/7] schema     ok       0.4s  migrations at head"]


def test_each_given_scorecard_adds_an_audit_stage_the_summary_waits_for() -> None:
    from typer.testing import CliRunner

    from callaudit.demo import demo_stages

    nca = {"name": "Audit 18 points"}
    stages = demo_stages([nca])
    assert [name for name, _ in stages] == [*(name for name, _ in STAGES), "audit: Audit 18 points"]
    done = [StageResult(name, True, "fine", 0.1) for name, _ in STAGES]
    assert not DemoSummary(done, expected=len(stages)).ok, "the extra audit never ran"
    assert DemoSummary([*done, StageResult(stages[-1][0], True, "fine", 0.1)], expected=len(stages)).ok

    from callaudit.cli import app

    result = CliRunner().invoke(app, ["demo", "--scorecard", "/nonexistent/scorecard.json"])
    assert result.exit_code == 2
    assert "/nonexistent/scorecard.json" in result.output


def test_a_scorecard_file_that_breaks_the_rules_is_refused_naming_the_field(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from callaudit.cli import app

    broken = tmp_path / "card.json"
    broken.write_text(json.dumps({"name": "x", "auditSteps": []}), encoding="utf-8")
    result = CliRunner().invoke(app, ["demo", "--scorecard", str(broken)])
    assert result.exit_code == 2
    assert "auditSteps" in result.output
