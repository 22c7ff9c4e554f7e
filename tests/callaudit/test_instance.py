"""The Dagster instance rendered by DAGSTER_RUN_LAUNCHER loads in Dagster, with each launcher's library.

Each rendering is written to a DAGSTER_HOME and loaded by `DagsterInstance.from_config` against the
session's embedded Postgres: the storage, the coordinator and the launcher are Dagster's own classes
built from the file. The Kubernetes launcher reads a pod's service account when it starts, so that test
points the client at a token and CA file of its own (a cluster's API server is never contacted).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from dagster import DagsterInstance
from dagster_docker import DockerRunLauncher
from dagster_k8s import K8sRunLauncher

from callaudit.doctor import Level, _run_launcher
from callaudit.embedded import EmbeddedServices
from callaudit.instance import (
    RENDERED_MARKER,
    RUN_RESOURCES,
    configured_launcher,
    forwarded_variables,
    render_instance,
    write_instance,
)
from callaudit.launcher import LocalRunLauncher
from callaudit.migrate import ensure_database
from callaudit.pools import pool_limits
from callaudit.runtime import dagster_url_from
from callaudit.settings import load_settings


@pytest.fixture(scope="module")
def dagster_postgres_url(database_url: str) -> str:
    url = dagster_url_from(database_url)
    ensure_database(url)
    return url


@pytest.fixture
def instance_env(monkeypatch: pytest.MonkeyPatch, dagster_postgres_url: str, tmp_path: Path) -> Path:
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", dagster_postgres_url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    return tmp_path / "dagster"


def load(dagster_home: Path, launcher: str, environ: dict[str, str], **settings: object) -> DagsterInstance:
    rendered = render_instance(load_settings(dagster_run_launcher=launcher, **settings), environ)
    assert write_instance(dagster_home, rendered)
    return DagsterInstance.from_config(str(dagster_home))


def test_local_launcher_is_the_default(instance_env: Path) -> None:
    assert load_settings().dagster_run_launcher == "local"
    with load(instance_env, "local", {}) as instance:
        assert type(instance.run_launcher) is LocalRunLauncher
        assert instance.run_launcher.supports_check_run_worker_health
        assert instance.run_coordinator.__class__.__name__ == "QueuedRunCoordinator"
        assert instance.run_coordinator.dequeue_interval_seconds == 1  # type: ignore[attr-defined]
        assert instance.get_concurrency_config().pool_config.pool_granularity is not None


def test_docker_launcher_loads_with_the_daemons_variables(instance_env: Path) -> None:
    environ = {
        "DATABASE_URL": "postgresql://u:db-secret@postgres/callaudit",
        "JWT_ACCESS_SECRET": "jwt-secret-value-" + "x" * 20,
        "DAGSTER_HOME": "/opt/dagster/home",
        "PATH": "/usr/bin",  # not a setting: not handed to runs
    }
    settings = {"dagster_run_image": "callaudit:1.2.3", "dagster_run_networks": "net_a,net_b"}
    with load(instance_env, "docker", environ, **settings) as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, DockerRunLauncher)
        assert launcher.image == "callaudit:1.2.3"
        assert launcher.networks == ["net_a", "net_b"]
        assert launcher.env_vars == ["DAGSTER_HOME", "DATABASE_URL", "JWT_ACCESS_SECRET"]
        assert launcher.container_kwargs["cap_drop"] == ["ALL"]
    text = (instance_env / "dagster.yaml").read_text()
    assert "db-secret" not in text
    assert "jwt-secret-value" not in text, "only variable names are written, never values"


@pytest.fixture
def in_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """What a pod's service account gives the Kubernetes client: the API address, a token, a CA."""
    from kubernetes.config import incluster_config  # type: ignore[import-untyped]

    token, ca = tmp_path / "token", tmp_path / "ca.crt"
    token.write_text("service-account-token")
    ca.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca))


def test_k8s_launcher_loads_with_secrets_and_resources_per_run(instance_env: Path, in_cluster: None) -> None:
    settings = {"dagster_k8s_job_namespace": "callaudit", "dagster_k8s_env_secrets": "callaudit-secrets,crm-token"}
    with load(instance_env, "k8s", {}, **settings) as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, K8sRunLauncher)
        assert launcher.job_namespace == "callaudit"
        assert launcher.env_secrets == ["callaudit-secrets", "crm-token"]
        run_k8s_config = cast("dict[str, Any]", launcher.run_k8s_config)  # annotated as a NamedTuple, is a dict
        assert run_k8s_config["container_config"] == {"resources": RUN_RESOURCES}
        assert launcher.instance_config_map == "dagster-instance"


def test_an_unknown_launcher_is_refused_naming_the_variable() -> None:
    from callaudit.settings import SettingsError

    with pytest.raises(SettingsError, match="DAGSTER_RUN_LAUNCHER"):
        load_settings(dagster_run_launcher="celery")


def test_pools_used_by_the_definitions_are_all_set_by_migrate() -> None:
    """A pool no limit is written for would run at `default_limit`, whatever its upstream allows."""
    from orchestration.definitions import build_definitions

    used: set[str] = set()
    for job in build_definitions(load_settings()).resolve_all_job_defs():
        for node in job.graph.iterate_op_defs():
            if node.pool:
                used.add(node.pool)
    assert used, "no pool found: the check looks at the wrong thing"
    assert used <= set(pool_limits(load_settings()))
    limits = pool_limits(load_settings(fiche_fetch_concurrency=5, transcription_recording_concurrency=4))
    assert (limits["crm_fiche_fetch"], limits["stt"]) == (5, 4)


def test_a_hand_written_instance_is_kept(tmp_path: Path) -> None:
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    assert not write_instance(home, render_instance(load_settings(dagster_run_launcher="docker")))
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"
    assert configured_launcher(home) == ("dagster.core.launcher", "DefaultRunLauncher")


def test_callaudits_own_dagster_home_is_always_rendered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`CALLAUDIT_HOME/dagster` held an unmarked copy of the project's file before the template."""
    from callaudit.runtime import prepare_dagster_home

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("run_launcher:\n  module: dagster.core.launcher\n  class: DefaultRunLauncher\n")
    assert prepare_dagster_home(load_settings(dagster_run_launcher="docker"), tmp_path) == home.resolve()
    assert configured_launcher(home) == ("dagster_docker", "DockerRunLauncher")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "mine"))
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    prepare_dagster_home(load_settings(dagster_run_launcher="docker"), tmp_path)
    assert (tmp_path / "mine" / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"  # configured: kept


def test_a_rendered_instance_follows_the_setting(tmp_path: Path) -> None:
    home = tmp_path / "dagster"
    assert configured_launcher(home) is None
    local = render_instance(load_settings())
    assert local.startswith(RENDERED_MARKER)
    assert write_instance(home, local)
    assert not write_instance(home, local), "unchanged: not rewritten"
    assert write_instance(home, render_instance(load_settings(dagster_run_launcher="docker")))
    assert configured_launcher(home) == ("dagster_docker", "DockerRunLauncher")
    assert not list(home.glob(".dagster.yaml.*")), "no temporary file left behind"


def test_forwarded_variables_are_settings_that_are_set() -> None:
    environ = {"REDIS_URL": "redis://r", "HOME": "/root", "DAGSTER_HOME": "/d", "OPENAI_API_KEY": "k"}
    assert forwarded_variables(environ) == ["DAGSTER_HOME", "OPENAI_API_KEY", "REDIS_URL"]


@pytest.mark.parametrize(
    ("launcher", "installed", "file_launcher", "level"),
    [
        ("docker", True, "docker", Level.OK),
        ("docker", True, "local", Level.WARN),
        ("k8s", False, "k8s", Level.FAIL),
        ("local", True, None, Level.INFO),
    ],
)
def test_doctor_reports_the_active_launcher(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    launcher: str,
    installed: bool,
    file_launcher: str | None,
    level: Level,
) -> None:
    import importlib.util

    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    if file_launcher is not None:
        write_instance(tmp_path / "dagster", render_instance(load_settings(dagster_run_launcher=file_launcher)))
    if not installed:
        real = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec", lambda name: None if name == "dagster_k8s" else real(name))
    finding = _run_launcher(load_settings(dagster_run_launcher=launcher), EmbeddedServices(tmp_path))
    assert finding.level is level, finding.detail
    assert f"DAGSTER_RUN_LAUNCHER={launcher}" in finding.detail
    if not installed:
        assert "pip install 'callaudit[k8s]'" in finding.detail
    if level is Level.OK:
        assert "dagster-docker 0.29.27 installed" in finding.detail


def test_every_rendering_is_yaml_with_the_same_instance_apart_from_the_launcher() -> None:
    documents = {name: yaml.safe_load(render_instance(load_settings(dagster_run_launcher=name), {})) for name in
                 ("local", "docker", "k8s")}  # fmt: skip
    launchers = {name: doc.pop("run_launcher")["class"] for name, doc in documents.items()}
    assert launchers == {"local": "LocalRunLauncher", "docker": "DockerRunLauncher", "k8s": "K8sRunLauncher"}
    assert documents["local"] == documents["docker"] == documents["k8s"]
