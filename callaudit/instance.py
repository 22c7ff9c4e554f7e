"""The Dagster instance (DAGSTER_HOME/dagster.yaml), rendered from one template by DAGSTER_RUN_LAUNCHER.

Dagster reads a run launcher's module and class from the file, never from the environment, so the
launcher is chosen when the file is written: `callaudit` renders `dagster.yaml.j2` into DAGSTER_HOME
whenever it prepares its runtime (`run`, `migrate`, `dagster`, ...), and the Docker image carries the
default rendering. A DAGSTER_HOME/dagster.yaml without the rendered marker was written by hand (or
mounted, as the Helm chart does) and is left alone.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import yaml

from callaudit.pools import pool_limits
from callaudit.settings import Settings, environment_names

TEMPLATE = Path(__file__).with_name("dagster.yaml.j2")
RENDERED_MARKER = "# Rendered by callaudit from callaudit/dagster.yaml.j2"

# What one run needs (a day's audits of one partition): requested from Kubernetes per run Job, and
# the same figures in deploy/k8s/dagster-values.yaml for the Helm chart's launcher.
RUN_RESOURCES: dict[str, dict[str, str]] = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
# Run containers get the hardening of compose.yaml's application services.
RUN_CONTAINER_KWARGS: dict[str, Any] = {
    "init": True,
    "security_opt": ["no-new-privileges:true"],
    "cap_drop": ["ALL"],
    "labels": {"app.callaudit/role": "dagster-run"},
}
# The Helm chart names the instance ConfigMap after its release (`helm install dagster ...`).
K8S_INSTANCE_CONFIG_MAP = "dagster-instance"
K8S_DAGSTER_HOME = "/opt/dagster/dagster_home"
K8S_SERVICE_ACCOUNT = "dagster"


@dataclass(frozen=True)
class Launcher:
    module: str
    cls: str
    extra: str | None  # `pip install 'callaudit[<extra>]'` installs the module

    @property
    def installed(self) -> bool:
        return importlib.util.find_spec(self.module.split(".")[0]) is not None


LAUNCHERS: dict[str, Launcher] = {
    "local": Launcher("callaudit.launcher", "LocalRunLauncher", None),
    "docker": Launcher("dagster_docker", "DockerRunLauncher", "docker"),
    "k8s": Launcher("dagster_k8s", "K8sRunLauncher", "k8s"),
}


def forwarded_variables(environ: Mapping[str, str]) -> list[str]:
    """The variables a run container gets from the launching daemon: every setting that is set, and
    DAGSTER_HOME. Only names: Dagster reads their values from the daemon's environment at launch and
    refuses a name that is unset there, so only variables set where the file is rendered are listed."""
    names = environment_names() | {"DAGSTER_HOME"}
    return sorted(name for name in environ if name in names)


def render_instance(settings: Settings, environ: Mapping[str, str] | None = None) -> str:
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)  # noqa: S701 - YAML, values inserted as JSON
    template = environment.from_string(TEMPLATE.read_text(encoding="utf-8"))
    return template.render(
        launcher=settings.dagster_run_launcher,
        pools=pool_limits(settings),
        env_vars=forwarded_variables(os.environ if environ is None else environ),
        docker={
            "image": settings.dagster_run_image,
            "networks": settings.dagster_run_networks,
            "container_kwargs": RUN_CONTAINER_KWARGS,
        },
        k8s={
            "instance_config_map": K8S_INSTANCE_CONFIG_MAP,
            "dagster_home": K8S_DAGSTER_HOME,
            "service_account_name": K8S_SERVICE_ACCOUNT,
            "job_namespace": settings.dagster_k8s_job_namespace,
            "env_secrets": settings.dagster_k8s_env_secrets,
            "container_config": {"resources": RUN_RESOURCES},
        },
    )


def is_rendered(path: Path) -> bool:
    """True when `path` is missing or was written by `write_instance` (so it may be rewritten)."""
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.readline().startswith(RENDERED_MARKER)
    except FileNotFoundError:
        return True


def write_instance(dagster_home: Path, text: str, *, owned: bool = False) -> bool:
    """Write DAGSTER_HOME/dagster.yaml unless it is hand-written or already `text`; True if written.

    `owned`: the directory is callaudit's own (`CALLAUDIT_HOME/dagster`), whose file is always ours,
    including the unmarked copies earlier versions wrote there. Atomic (a temporary file renamed over
    it): processes started together all read a whole file."""
    target = dagster_home / "dagster.yaml"
    if not (owned or is_rendered(target)) or (target.exists() and target.read_text(encoding="utf-8") == text):
        return False
    dagster_home.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=dagster_home, prefix=".dagster.yaml.")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(temporary, 0o644)  # mkstemp makes it 0600; it holds variable names, never values
    os.replace(temporary, target)
    return True


def configured_launcher(dagster_home: Path) -> tuple[str, str] | None:
    """(module, class) of the run launcher DAGSTER_HOME/dagster.yaml names; None without a file."""
    try:
        document = yaml.safe_load((dagster_home / "dagster.yaml").read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        return None
    launcher = document.get("run_launcher") or {}
    return str(launcher.get("module", "dagster.core.launcher")), str(launcher.get("class", "DefaultRunLauncher"))
