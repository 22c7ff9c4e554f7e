"""compose.scale.yaml: the override that runs every Dagster run in its own container.

Checked offline like compose.yaml (tests/deploy/test_deployment.py, whose helpers and vendored
schema are reused): the override alone and the merged topology validate against the Compose
specification, and the instance `callaudit migrate` renders from the merged environment is a
DockerRunLauncher whose image, networks and variables are those the deployment actually has.
The merge follows Compose's documented rules for the keys the override uses: mappings merge,
`volumes` merge by container path, `group_add` concatenates, anything else is replaced.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from callaudit.instance import forwarded_variables, render_instance
from callaudit.settings import load_settings
from tests.fixtures.deployment import (
    REQUIRED_SECRETS,
    ROOT,
    all_command_lines,
    environment_of,
    interpolate_tree,
    schema_errors,
)

SCALE_FILE = ROOT / "compose.scale.yaml"
DAGSTER_PROCESSES = ("code-server", "dagster-webserver", "dagster-daemon")
DOCKER_SOCKET = "/var/run/docker.sock"
DAGSTER_HOME = "/opt/dagster/home"


def _target(volume: str | dict[str, Any]) -> str:
    return volume.split(":")[1] if isinstance(volume, str) else str(volume["target"])


def merge(base: Any, override: Any, key: str = "") -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for name, value in override.items():
            merged[name] = merge(base[name], value, name) if name in base else value
        return merged
    if key == "volumes" and isinstance(base, list) and isinstance(override, list):
        by_target = {_target(v): v for v in base}
        by_target.update({_target(v): v for v in override})
        return list(by_target.values())
    if key == "group_add" and isinstance(base, list):
        return base + [item for item in override if item not in base]
    return override


def load_yaml(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def raw_scale() -> dict[str, Any]:
    return load_yaml(SCALE_FILE)


@pytest.fixture(scope="module")
def merged(raw_scale: dict[str, Any]) -> dict[str, Any]:
    missing: set[str] = set()
    document = interpolate_tree(merge(load_yaml(ROOT / "compose.yaml"), raw_scale), REQUIRED_SECRETS, missing)
    assert not missing, sorted(missing)
    return document  # type: ignore[no-any-return]


def test_override_and_merged_file_validate_against_the_compose_specification(
    schema_validator: Any,
    raw_scale: dict[str, Any],
    merged: dict[str, Any],
) -> None:
    assert schema_errors(schema_validator, raw_scale) == []
    assert schema_errors(schema_validator, merged) == []
    broken = copy.deepcopy(raw_scale)
    broken["services"]["dagster-daemon"]["group_add"] = {"docker": 999}
    assert any("group_add" in error for error in schema_errors(schema_validator, broken))


def test_override_only_touches_existing_services(raw_scale: dict[str, Any]) -> None:
    base = load_yaml(ROOT / "compose.yaml")
    assert set(raw_scale["services"]) <= set(base["services"]), "no service of its own: runs are containers"
    for service in raw_scale["services"].values():
        assert "image" not in service, "the override runs the deployment's image, never another"
        assert "command" not in service, "the processes are the base file's"


def test_the_instance_migrate_renders_launches_runs_in_containers(merged: dict[str, Any]) -> None:
    services = merged["services"]
    migrate_env = {k: v for k, v in environment_of(services["migrate"]).items() if v is not None}
    settings = load_settings(
        **{k.lower(): v for k, v in migrate_env.items() if k.startswith("DAGSTER_RUN_")},
    )
    instance = yaml.safe_load(render_instance(settings, migrate_env))
    launcher = instance["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_docker", "DockerRunLauncher")
    config = launcher["config"]
    # The image of run containers is the one the deployment runs, which its code server reports.
    assert config["image"] == services["code-server"]["image"] == services["dagster-daemon"]["image"]
    assert environment_of(services["code-server"])["DAGSTER_CURRENT_IMAGE"] == services["code-server"]["image"]
    # The networks exist under the names Compose gives them (project name prefix).
    assert config["networks"] == [f"{merged['name']}_{network}" for network in ("backend", "egress")]
    assert set(merged["networks"]) >= {"backend", "egress"}
    # Every variable named must be set in the daemon that launches (Dagster refuses an unset name).
    daemon_env = environment_of(services["dagster-daemon"])
    assert set(config["env_vars"]) <= set(daemon_env)
    assert {"DATABASE_URL", "DAGSTER_POSTGRES_URL", "REDIS_URL", "JWT_ACCESS_SECRET"} <= set(config["env_vars"])
    assert config["env_vars"] == forwarded_variables(migrate_env)
    assert all(value not in yaml.safe_dump(instance) for value in REQUIRED_SECRETS.values())


def test_dagster_processes_share_the_rendered_instance(merged: dict[str, Any]) -> None:
    services = merged["services"]
    for name in ("migrate", *DAGSTER_PROCESSES):
        service = services[name]
        assert environment_of(service)["DAGSTER_HOME"] == DAGSTER_HOME
        assert environment_of(service)["DAGSTER_RUN_LAUNCHER"] == "docker", name
        mounts = {_target(v): v.split(":")[0] for v in service["volumes"]}
        assert mounts[DAGSTER_HOME] == "dagster-home", f"{name} does not see the instance migrate renders"
        assert mounts[f"{DAGSTER_HOME}/storage"] == "dagster-storage"
    assert "dagster-home" in merged["volumes"]
    # migrate renders before any Dagster process starts.
    for name in DAGSTER_PROCESSES:
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    migrate_steps = [argv[:2] for name, argv in all_command_lines(services) if name == "migrate"]
    assert migrate_steps[0] == ["callaudit", "migrate"]


def test_only_the_launching_processes_reach_the_docker_engine(merged: dict[str, Any]) -> None:
    services = merged["services"]
    with_socket = {
        name
        for name, service in services.items()
        if any(_target(volume) == DOCKER_SOCKET for volume in service.get("volumes", []))
    }
    assert with_socket == {"dagster-daemon", "dagster-webserver"}
    for name in with_socket:
        assert services[name]["group_add"] == ["999"], "the socket's group, DOCKER_GID"
        assert services[name]["cap_drop"] == ["ALL"], "hardening of the base file kept"


def test_run_monitoring_and_retries_are_unchanged(merged: dict[str, Any]) -> None:
    local = yaml.safe_load(render_instance(load_settings(), {}))
    scaled = yaml.safe_load(render_instance(load_settings(dagster_run_launcher="docker"), {}))
    for section in ("run_monitoring", "run_retries", "run_coordinator", "concurrency"):
        assert scaled[section] == local[section], section
    assert merged["services"]["dagster-daemon"]["deploy"]["replicas"] == 1
