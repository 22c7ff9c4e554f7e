"""`callaudit doctor`'s pure checks: cron and time zone through Dagster's own parsing, unused settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from callaudit.doctor import UNUSED_SETTINGS, Level, _schedules, _unused
from callaudit.embedded import EmbeddedServices
from callaudit.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
CODE = ("api", "assets", "domain", "orchestration", "resources", "callaudit")


def _levels(settings: Settings) -> dict[str, Level]:
    findings = _schedules(settings, EmbeddedServices(settings.callaudit_home))
    return {f.name: f.level for f in findings}


@pytest.mark.parametrize("cron", ["99 99 * * *", "0 0 31 2 *", "*/0 * * * *"])
def test_a_cron_dagster_refuses_fails(cron: str, tmp_path: Path) -> None:
    levels = _levels(load_settings(callaudit_home=tmp_path, sales_refresh_cron=cron))
    assert levels == {"SALES_REFRESH_CRON": Level.FAIL, "SALES_TIMEZONE": Level.OK}


def test_the_defaults_pass(tmp_path: Path) -> None:
    assert set(_levels(load_settings(callaudit_home=tmp_path)).values()) == {Level.OK}


def test_set_but_unused_settings_are_warned_about(tmp_path: Path) -> None:
    settings = load_settings(
        callaudit_home=tmp_path, audit_step_timeline_max_chunks=10, audit_step_timeline_excerpt=False
    )
    findings = _unused(settings, EmbeddedServices(tmp_path))
    assert {(f.name, f.level) for f in findings} == {
        ("AUDIT_STEP_TIMELINE_MAX_CHUNKS", Level.WARN),
        ("AUDIT_STEP_TIMELINE_EXCERPT", Level.WARN),
    }
    assert _unused(load_settings(callaudit_home=tmp_path), EmbeddedServices(tmp_path)) == []


def test_settings_listed_as_unused_are_read_by_no_code() -> None:
    # When a feature starts reading one of them, this fails: take it off `UNUSED_SETTINGS`.
    sources = [
        path
        for package in CODE
        for path in (ROOT / package).rglob("*.py")
        if path.name not in {"settings.py", "doctor.py"}
    ]
    text = "\n".join(path.read_text(encoding="utf-8") for path in sources)
    read = [name for name in UNUSED_SETTINGS if re.search(rf"\.{name}\b", text)]
    assert read == []


def test_env_example_groups_the_unused_settings_under_their_own_header() -> None:
    example = (ROOT / ".env.example").read_text(encoding="utf-8")
    used, _, unused = example.partition("# === accepted but NOT USED YET")
    for name in UNUSED_SETTINGS:
        assert f"# {name.upper()}=" in unused, name
        assert f"# {name.upper()}=" not in used, name
