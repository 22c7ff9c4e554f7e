"""`callaudit demo`'s output pieces: plain lines for logs, the summary's verdict and its JSON error."""

from __future__ import annotations

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
