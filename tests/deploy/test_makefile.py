"""The Makefile's first step: a supported Python, and a broken `.venv` rebuilt instead of reused.

Each test runs `make` on a copy of the Makefile in a temporary directory, with stand-in interpreters
(shell scripts that answer like Python 3.10 or like a dead interpreter), so nothing is installed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _project(tmp_path: Path) -> Path:
    tmp_path.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def _make(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(project), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_an_unsupported_python_stops_make_with_the_hint(tmp_path: Path) -> None:
    project = _project(tmp_path / "project")
    old = _script(tmp_path / "python3.10", 'case "$1" in --version) echo "Python 3.10.12";; *) exit 1;; esac')
    result = _make(project, "install", f"PYTHON={old}")
    assert result.returncode != 0
    assert "needs Python 3.11 or 3.12" in result.stdout
    assert "Python 3.10.12" in result.stdout
    assert "make PYTHON=python3.12 install" in result.stdout
    assert not (project / ".venv").exists()  # nothing half-built for later calls to reuse


def test_a_broken_venv_is_rebuilt_not_reused(tmp_path: Path) -> None:
    project = _project(tmp_path / "project")
    _script(project / ".venv" / "bin" / "python", "exit 1")  # e.g. its interpreter was removed
    (project / ".venv" / ".installed").touch()  # newer than pyproject.toml: looked up to date
    plan = _make(project, "-n", "install", f"PYTHON={sys.executable}")
    assert plan.returncode == 0, plan.stderr
    assert f"{sys.executable} -m venv .venv" in plan.stdout
    assert "rm -rf .venv" in plan.stdout


def test_a_working_venv_is_reused(tmp_path: Path) -> None:
    project = _project(tmp_path / "project")
    _script(project / ".venv" / "bin" / "python", f'exec {sys.executable} "$@"')
    (project / ".venv" / ".installed").touch()
    plan = _make(project, "-n", "install", f"PYTHON={sys.executable}")
    assert plan.returncode == 0, plan.stderr
    assert "-m venv" not in plan.stdout
