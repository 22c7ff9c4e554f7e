"""The dependency arrows between the top-level packages (ARCHITECTURE.md), checked on the source.

A small `ast` walk over every module: each import of another top-level package is an arrow
(imports inside functions included: a lazy import is still a dependency). `callaudit` is split into
its modules, since its settings and logging are leaves everybody uses while its CLI and demo are
entry points that use everybody.
"""

from __future__ import annotations

import ast
import pathlib
from collections import defaultdict

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("api", "assets", "callaudit", "domain", "orchestration", "resources", "runs", "services")

#: Where each package must never point. Rules and stores (`domain`) know no connector, pipeline or
#: web app; connectors (`resources`) know no service, pipeline or web app; the web app and the
#: pipeline meet only through `runs` and `services`.
FORBIDDEN: dict[str, set[str]] = {
    "domain": {"api", "assets", "orchestration", "resources", "runs", "services"},
    "resources": {"api", "assets", "orchestration", "runs", "services"},
    "services": {"api", "assets", "orchestration", "runs"},
    "runs": {"api", "assets", "orchestration", "services"},
    "api": {"assets", "orchestration"},
    "assets": {"api", "orchestration", "runs"},
    "orchestration": {"api"},
}

Arrows = dict[str, dict[str, set[str]]]  # node -> node it imports -> the modules that do


def _node(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "callaudit" and len(parts) > 1 else parts[0]


def arrows(root: pathlib.Path = ROOT) -> Arrows:
    found: Arrows = defaultdict(lambda: defaultdict(set))
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            module = ".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Import):
                    targets = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    targets = [node.module]
                else:
                    continue
                for target in targets:
                    source, dest = _node(module), _node(target)
                    if target.split(".")[0] in PACKAGES and source != dest:
                        found[source][dest].add(module)
    return found


def forbidden(graph: Arrows) -> list[str]:
    return sorted(
        f"{source} -> {dest} ({', '.join(sorted(modules))})"
        for source, dests in graph.items()
        for dest, modules in dests.items()
        if dest.split(".")[0] in FORBIDDEN.get(source.split(".")[0], set())
    )


def cycles(graph: Arrows) -> list[list[str]]:
    """Every cycle found by a depth-first walk (each reported once per back edge)."""
    found: list[list[str]] = []
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for dest in sorted(graph.get(node, {})):
            if state.get(dest) == "open":
                found.append([*path[path.index(dest) :], dest])
            elif dest not in state:
                visit(dest, [*path, dest])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_no_forbidden_arrow() -> None:
    assert forbidden(arrows()) == []


def test_no_package_cycle() -> None:
    assert cycles(arrows()) == []


def test_the_checks_see_a_forbidden_arrow_and_a_cycle(tmp_path: pathlib.Path) -> None:
    """The walk itself: a lazy import of a connector from a rule module, and two packages that
    import each other, are both reported (the checks above cannot pass by seeing nothing)."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "domain" / "rules.py").write_text("def f():\n    from resources.crm import client\n")
    (tmp_path / "api" / "a.py").write_text("import services.x\n")
    (tmp_path / "services" / "x.py").write_text("from api import a\n")
    graph = arrows(tmp_path)
    assert forbidden(graph) == ["domain -> resources (domain.rules)", "services -> api (services.x)"]
    assert cycles(graph) == [["api", "services", "api"]]
    assert "api.fiches.reads" in arrows()["api"]["domain"]  # the real tree is walked too


def test_the_provider_connectors_share_plumbing_not_each_other() -> None:
    """crm, stt and llm share `resources.http` (retry timing, safe messages, keys), never one another."""
    providers = ("resources.crm", "resources.stt", "resources.llm")
    crossing = []
    for provider in providers:
        for path in sorted((ROOT / provider.replace(".", "/")).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module:
                    other = next((p for p in providers if node.module.startswith(p) and p != provider), None)
                    if other:
                        crossing.append(f"{path.relative_to(ROOT)} -> {node.module}")
    assert crossing == []


def _names(path: pathlib.Path) -> set[str]:
    """Every name a module imports or refers to."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.alias):
            found.add(node.name.rsplit(".", 1)[-1])
        elif isinstance(node, ast.Name):
            found.add(node.id)
    return found


def test_assets_and_orchestration_get_settings_from_the_definitions() -> None:
    """Assets, ops and sensors get the settings as the `settings` resource; only the definitions'
    builder reads them, once, when the code server loads the definitions (decisions 73 and 74)."""
    readers = [
        str(path.relative_to(ROOT))
        for package in ("assets", "orchestration")
        for path in sorted((ROOT / package).rglob("*.py"))
        if "get_settings" in _names(path)
    ]
    assert readers == ["orchestration/definitions.py"]


#: sqlalchemy's statement builders: whoever imports one writes SQL.
QUERY_CONSTRUCTS = {"select", "update", "insert", "delete", "text"}


def sql_writers(root: pathlib.Path = ROOT) -> set[str]:
    """Router modules (those creating an `APIRouter`), asset and sensor modules importing a query construct."""
    found = set()
    dagster_modules = [*(root / "assets").rglob("*.py"), *(root / "orchestration" / "sensors").rglob("*.py")]
    candidates = [*(root / "api").rglob("*.py"), *dagster_modules]
    for path in sorted(candidates):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_router = any(isinstance(n, ast.Name) and n.id == "APIRouter" for n in ast.walk(tree))
        if not is_router and path not in dagster_modules:
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and (node.module or "").split(".")[0] == "sqlalchemy"
                and {alias.name for alias in node.names} & QUERY_CONSTRUCTS
            ):
                found.add(str(path.relative_to(root)))
    return found


def test_routers_assets_and_sensors_leave_sql_to_repositories_and_stores() -> None:
    assert sql_writers() == set()


def test_the_sql_check_sees_a_router_an_asset_and_a_sensor_writing_sql(tmp_path: pathlib.Path) -> None:
    (tmp_path / "api" / "things").mkdir(parents=True)
    (tmp_path / "orchestration" / "sensors").mkdir(parents=True)
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "day.py").write_text("import dagster as dg\nfrom sqlalchemy import func, select\n")
    (tmp_path / "api" / "things" / "router.py").write_text(
        "from fastapi import APIRouter\nfrom sqlalchemy.dialects.postgresql import insert\nr = APIRouter()\n"
    )
    (tmp_path / "api" / "things" / "repository.py").write_text("from sqlalchemy import select\n")
    (tmp_path / "orchestration" / "sensors" / "s.py").write_text("def f():\n    from sqlalchemy import text\n")
    assert sql_writers(tmp_path) == {"api/things/router.py", "assets/day.py", "orchestration/sensors/s.py"}


def test_services_name_connectors_only_in_their_ports() -> None:
    """A stage service is typed against `services.ports` (Protocols a connector meets, and the data a
    connector hands over); constructing or naming a connector elsewhere in `services` ties it to one."""
    assert sorted(arrows()["services"].get("resources", set()) - {"services.ports"}) == []
