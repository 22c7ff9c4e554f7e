"""The tests sit on one axis, the code's (decision 89): `tests/<package>/<subpackage>/test_*.py` tests
`<package>/<subpackage>`; `e2e` and `deploy` hold whole-system tests; `fixtures` holds what tests share,
loaded as plugins. These checks keep a new test from drifting back to a second axis."""

from __future__ import annotations

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
# one folder per top-level package of the code, plus the whole-system folders and the shared fixtures
MIRRORS = {"api", "assets", "benchmarks", "callaudit", "domain", "orchestration", "resources", "runs", "services"}
WHOLE_SYSTEM = {"e2e", "deploy"}
REPO_WIDE = {"test_import_graph.py", "test_layout.py"}


def _test_modules() -> list[pathlib.Path]:
    return sorted(p for p in TESTS.rglob("test_*.py") if "__pycache__" not in p.parts)


def test_only_the_mirrored_folders_sit_under_tests() -> None:
    folders = {p.name for p in TESTS.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert folders - MIRRORS - WHOLE_SYSTEM - {"fixtures"} == set(), "a folder outside the one axis"
    assert {name for name in MIRRORS if not (ROOT / name).is_dir()} == set(), "a mirror of no package"


def test_every_test_module_sits_under_the_package_it_tests() -> None:
    misplaced = []
    for module in _test_modules():
        parts = module.relative_to(TESTS).parts
        if len(parts) == 1:
            if parts[0] not in REPO_WIDE:
                misplaced.append(f"{module.relative_to(ROOT)}: only repo-wide checks sit in tests/")
        elif parts[0] == "fixtures":
            misplaced.append(f"{module.relative_to(ROOT)}: fixtures are not tests")
        elif parts[0] in MIRRORS:
            code = ROOT.joinpath(*parts[:-1])
            if not (code.is_dir() or code.with_suffix(".py").is_file()):
                misplaced.append(f"{module.relative_to(ROOT)}: no package {'/'.join(parts[:-1])}")
    assert misplaced == []


def test_every_fixture_module_is_a_plugin_of_the_root_conftest() -> None:
    conftest = (TESTS / "conftest.py").read_text(encoding="utf-8")
    listed = set(re.findall(r'"(tests\.fixtures\.[\w.]+)"', conftest))
    defining = {
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for p in (TESTS / "fixtures").rglob("*.py")
        if re.search(r"@pytest(_asyncio)?\.fixture", p.read_text(encoding="utf-8"))
    }
    assert defining == listed


def test_no_test_double_keeps_state_on_its_class() -> None:
    """State on a class leaks from one test to the next; a double records on its instance."""
    shared = []
    for path in sorted((TESTS / "fixtures").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef):
                continue
            for statement in node.body:
                annotation = getattr(statement, "annotation", None)
                if annotation is not None and "ClassVar" in ast.unparse(annotation):
                    shared.append(f"{path.relative_to(ROOT)}: {node.name}.{ast.unparse(statement.target)}")  # type: ignore[attr-defined]
                value = getattr(statement, "value", None)
                if isinstance(statement, ast.Assign) and isinstance(value, ast.List | ast.Dict | ast.Set | ast.Call):
                    shared.append(f"{path.relative_to(ROOT)}: {node.name}.{ast.unparse(statement.targets[0])}")
    assert shared == []


def _imported_modules(tree: ast.AST) -> set[str]:
    """Every module an `import` names, including `from package import module`."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_test_module_is_imported() -> None:
    """What two test modules share lives in `tests/fixtures/`: a test module imported by another runs
    its tests' module twice and ties them to its private helpers."""
    importing = []
    for path in sorted(p for p in TESTS.rglob("*.py") if "__pycache__" not in p.parts):
        for name in _imported_modules(ast.parse(path.read_text(encoding="utf-8"))):
            if name.startswith("tests.") and name.rsplit(".", 1)[-1].startswith("test_"):
                importing.append(f"{path.relative_to(ROOT)} imports {name}")
    assert importing == []
