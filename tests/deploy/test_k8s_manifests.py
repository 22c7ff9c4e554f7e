"""deploy/k8s: the API manifests and the values for Dagster's Helm chart, checked offline.

- Every manifest of deploy/k8s/api.yaml validates (strict: no unknown field) against the Kubernetes
  1.37 OpenAPI schemas that `kubernetes-validate` ships in its wheel; no cluster, no network.
- The Helm values are not a Kubernetes object: their Kubernetes-typed parts (resources, probes,
  security contexts, env sources, the run container and pod config) validate against the same
  schemas, and the run launcher's section, spelled as the chart hands it to Dagster, is accepted by
  dagster-k8s's own K8sRunLauncher config schema; the daemon's run monitoring and run retries,
  spelled as the chart writes them, are accepted by Dagster's own instance config schema.
- The instance the chart renders from the values mirrors callaudit/dagster.yaml.j2 (run queue,
  concurrency, monitoring, retries, per-run resources), and the ingress keeps deploy/nginx.conf's SSE
  settings.
"""

from __future__ import annotations

import copy
import re
import shlex
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import typer
import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from kubernetes_validate.utils import schema_contents  # type: ignore[import-untyped]
from referencing import Registry, Resource

from callaudit.instance import K8S_INSTANCE_CONFIG_MAP, RUN_RESOURCES, render_instance
from callaudit.settings import load_settings
from tests.fixtures.deployment import (
    NGINX_CONF,
    SECRET_KEY,
    effective,
    is_group,
    options_of,
    parse_nginx,
    pick_location,
    seconds,
    walk_command,
)

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.37.0"
SCHEMA_DIR = f"kubernetes-json-schema/v{K8S_VERSION}-local-strict"


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict[str, Any]]:
    docs = documents(ROOT / "deploy" / "k8s" / "api.yaml")
    by_kind = {doc["kind"]: doc for doc in docs}
    assert len(by_kind) == len(docs), "one object per kind"
    return by_kind


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "deploy" / "k8s" / "dagster-values.yaml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def type_errors(fragment: Any, type_file: str) -> list[str]:
    """Errors of a fragment against one Kubernetes type (e.g. `resourcerequirements-v1`), strict."""
    schema = schema_contents(f"{SCHEMA_DIR}/{type_file}.json", K8S_VERSION)
    definitions = schema_contents(f"{SCHEMA_DIR}/_definitions.json", K8S_VERSION)
    registry: Registry[Any] = Resource.from_contents(definitions) @ (Resource.from_contents(schema) @ Registry())
    validator = Draft202012Validator(schema, registry=registry)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(fragment)]


# --- the API manifests --------------------------------------------------------------------------------


def test_every_manifest_validates_against_the_kubernetes_schemas(manifests: dict[str, dict[str, Any]]) -> None:
    assert set(manifests) == {"ConfigMap", "Job", "Deployment", "Service", "Ingress", "HorizontalPodAutoscaler"}
    for kind, manifest in manifests.items():
        assert kubernetes_validate.validate(manifest, K8S_VERSION, strict=True) == "1.37", kind


@pytest.mark.parametrize(
    ("kind", "mutation"),
    [
        ("Deployment", lambda d: container_of(d).update(readinesProbe={})),
        ("Deployment", lambda d: container_of(d)["readinessProbe"]["httpGet"].pop("port")),
        ("HorizontalPodAutoscaler", lambda d: d["spec"].update(minReplicas="two")),
        ("Ingress", lambda d: d["spec"]["rules"][0]["http"]["paths"][0].pop("backend")),
    ],
    ids=["unknown-field", "probe-without-port", "wrong-type", "missing-required"],
)
def test_the_schema_check_rejects_a_broken_manifest(
    manifests: dict[str, dict[str, Any]], kind: str, mutation: Any
) -> None:
    broken = copy.deepcopy(manifests[kind])
    mutation(broken)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def container_of(manifest: dict[str, Any]) -> dict[str, Any]:
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


def test_api_deployment_probes_the_real_routes_on_its_port(manifests: dict[str, dict[str, Any]]) -> None:
    from api.health import router

    routes = {getattr(route, "path", None) for route in router.routes}
    api = container_of(manifests["Deployment"])
    ports = {port["name"]: port["containerPort"] for port in api["ports"]}
    argv = api["command"]
    assert str(ports["http"]) == argv[argv.index("--port") + 1]
    assert api["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
    assert api["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    assert {"/ready", "/health"} <= routes


def test_commands_are_real_callaudit_commands(manifests: dict[str, dict[str, Any]]) -> None:
    import callaudit.cli

    root = typer.main.get_command(callaudit.cli.app)
    job = container_of(manifests["Job"])
    assert job["command"][:2] == ["sh", "-c"]
    lines = [shlex.split(part) for part in job["command"][2].split("&&")]
    lines.append(container_of(manifests["Deployment"])["command"])
    assert [argv[:2] for argv in lines] == [["callaudit", "migrate"], ["callaudit", "seed"], ["callaudit", "api"]]
    for argv in lines:
        path, leaf = walk_command(root, argv[1:])
        assert path, argv
        assert not is_group(leaf), argv
        assert {t for t in argv[1 + len(path) :] if t.startswith("-")} <= options_of(leaf), argv


def test_service_ingress_and_autoscaler_point_at_the_api(manifests: dict[str, dict[str, Any]]) -> None:
    deployment, service = manifests["Deployment"], manifests["Service"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == pod_labels
    assert service["spec"]["selector"] == pod_labels
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] == "http"
    backend = manifests["Ingress"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": service["metadata"]["name"], "port": {"name": service_port["name"]}}
    hpa = manifests["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert "replicas" not in deployment["spec"], "the autoscaler owns the replica count"
    assert hpa["minReplicas"] >= 2, "one replica down must not take the API down"
    assert container_of(deployment)["resources"]["requests"]["cpu"], "utilisation is relative to requests"


def test_ingress_keeps_the_sse_settings_of_the_compose_load_balancer(manifests: dict[str, dict[str, Any]]) -> None:
    annotations = manifests["Ingress"]["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    http = parse_nginx(NGINX_CONF.read_text(encoding="utf-8")).one("http")
    server = http.one("server")
    sse = (pick_location(server, "/api/realtime/stream"), server, http)
    assert effective("proxy_buffering", *sse) == [[annotations[prefix + "proxy-buffering"]]] == [["off"]]
    assert effective("proxy_http_version", *sse) == [[annotations[prefix + "proxy-http-version"]]]
    assert float(annotations[prefix + "proxy-read-timeout"]) >= seconds(effective("proxy_read_timeout", *sse)[0][0])
    assert float(annotations[prefix + "proxy-send-timeout"]) >= 3600
    assert [[annotations[prefix + "proxy-body-size"]]] == [http.one("client_max_body_size").args]


def test_secrets_come_from_secrets_only(manifests: dict[str, dict[str, Any]], values: dict[str, Any]) -> None:
    config = manifests["ConfigMap"]["data"]
    assert not [key for key in config if SECRET_KEY.search(key) or "@" in config[key]]
    assert config["DAGSTER_RUN_LAUNCHER"] == "k8s"
    secrets = load_settings().dagster_k8s_env_secrets
    for kind in ("Deployment", "Job"):
        sources = container_of(manifests[kind])["envFrom"]
        assert {"secretRef": {"name": secrets[0]}} in sources, kind
    text = (ROOT / "deploy" / "k8s" / "dagster-values.yaml").read_text(encoding="utf-8")
    assert "postgresqlPassword" not in text
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]


def test_one_image_for_the_code_location_the_runs_and_the_api(
    manifests: dict[str, dict[str, Any]], values: dict[str, Any]
) -> None:
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    image = f"{deployment['image']['repository']}:{deployment['image']['tag']}"
    assert container_of(manifests["Deployment"])["image"] == container_of(manifests["Job"])["image"] == image
    assert "image" not in values["runLauncher"]["config"]["k8sRunLauncher"], "runs use the code location's image"
    assert deployment["codeServerArgs"][:2] == ["-m", "orchestration.definitions"]


# --- the Helm values ------------------------------------------------------------------------------------


def kubernetes_fragments(values: dict[str, Any]) -> list[tuple[str, Any, str]]:
    (user,) = values["dagster-user-deployments"]["deployments"]
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    run = launcher["runK8sConfig"]
    fragments = [
        ("user.resources", user["resources"], "resourcerequirements-v1"),
        ("user.podSecurityContext", user["podSecurityContext"], "podsecuritycontext-v1"),
        ("user.securityContext", user["securityContext"], "securitycontext-v1"),
        ("webserver.resources", values["dagsterWebserver"]["resources"], "resourcerequirements-v1"),
        ("launcher.securityContext", launcher["securityContext"], "securitycontext-v1"),
        ("run.containerConfig", {"name": "dagster", **run["containerConfig"]}, "container-v1"),
        ("run.podSpecConfig", {"containers": [], **run["podSpecConfig"]}, "podspec-v1"),
    ]
    for where, section in [("user", user), ("launcher", launcher), ("daemon", values["dagsterDaemon"]),
                           ("webserver", values["dagsterWebserver"])]:  # fmt: skip
        fragments += [(f"{where}.envSecrets", s, "secretenvsource-v1") for s in section["envSecrets"]]
        fragments += [(f"{where}.envConfigMaps", c, "configmapenvsource-v1") for c in section["envConfigMaps"]]
    return fragments


def test_kubernetes_parts_of_the_values_validate(values: dict[str, Any]) -> None:
    fragments = kubernetes_fragments(values)
    assert len(fragments) >= 12
    for where, fragment, type_file in fragments:
        assert type_errors(fragment, type_file) == [], where
    assert type_errors({"requets": {"cpu": "1"}}, "resourcerequirements-v1"), "strict: a typo is refused"
    assert type_errors({"runAsUser": "root"}, "securitycontext-v1"), "a wrong type is refused"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def chart_run_launcher_config(values: dict[str, Any]) -> dict[str, Any]:
    """The K8sRunLauncher config the chart writes into its instance ConfigMap from these values."""
    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    return {
        "instance_config_map": K8S_INSTANCE_CONFIG_MAP,
        "dagster_home": "/opt/dagster/dagster_home",
        "postgres_password_secret": values["global"]["postgresqlSecretName"],
        "service_account_name": "dagster",
        "image_pull_policy": launcher["imagePullPolicy"],
        "load_incluster_config": launcher["loadInclusterConfig"],
        "env_config_maps": [c["name"] for c in launcher["envConfigMaps"]],
        "env_secrets": [s["name"] for s in launcher["envSecrets"]],
        "env_vars": launcher["envVars"],
        "volume_mounts": launcher["volumeMounts"],
        "volumes": launcher["volumes"],
        "fail_pod_on_run_failure": launcher["failPodOnRunFailure"],
        "security_context": launcher["securityContext"],
        "run_k8s_config": {_snake(k): v for k, v in launcher["runK8sConfig"].items()},
    }


def test_the_run_launcher_section_is_accepted_by_dagster_k8s(values: dict[str, Any]) -> None:
    from dagster._config import validate_config
    from dagster_k8s import K8sRunLauncher

    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    config = chart_run_launcher_config(values)
    config_type = K8sRunLauncher.config_type()  # type: ignore[no-untyped-call]
    result = validate_config(config_type, config)
    assert result.success, [error.message for error in result.errors or []]
    broken = {**config, "run_k8s_config": {"container_confg": {}}}
    assert not validate_config(config_type, broken).success


def chart_daemon_sections(values: dict[str, Any]) -> dict[str, Any]:
    """`run_monitoring` and `run_retries` as the chart writes them: each value key in snake case."""
    daemon = values["dagsterDaemon"]
    return {
        "run_monitoring": {_snake(k): v for k, v in daemon["runMonitoring"].items()},
        "run_retries": {_snake(k): v for k, v in daemon["runRetries"].items()},
    }


def test_the_daemon_sections_are_accepted_by_dagsters_instance_schema(values: dict[str, Any]) -> None:
    from dagster._config import Shape, validate_config
    from dagster._core.instance.config import dagster_instance_config_schema

    fields = dagster_instance_config_schema()
    sections = chart_daemon_sections(values)
    config_type = Shape({name: fields[name] for name in sections})  # type: ignore[no-untyped-call]
    result = validate_config(config_type, sections)
    assert result.success, [error.message for error in result.errors or []]
    assert {"max_runtime_seconds", "cancel_timeout_seconds"} <= sections["run_monitoring"].keys()
    assert "retry_on_asset_or_op_failure" in sections["run_retries"]
    broken = {**sections, "run_retries": {**sections["run_retries"], "retry_on_op_failure": False}}
    assert not validate_config(config_type, broken).success, "a key Dagster does not know is refused"


def test_the_chart_instance_mirrors_the_instance_template(values: dict[str, Any]) -> None:
    """What callaudit/dagster.yaml.j2 says for k8s is what the chart's values say."""
    template = yaml.safe_load(render_instance(load_settings(dagster_run_launcher="k8s"), {}))
    launcher = template["run_launcher"]["config"]
    chart = chart_run_launcher_config(values)
    assert chart["run_k8s_config"]["container_config"] == launcher["run_k8s_config"]["container_config"]
    assert launcher["run_k8s_config"]["container_config"] == {"resources": RUN_RESOURCES}
    assert chart["env_secrets"] == launcher["env_secrets"]
    assert chart["instance_config_map"] == launcher["instance_config_map"]

    daemon, concurrency = values["dagsterDaemon"], values["concurrency"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert daemon["runCoordinator"]["type"] == template["run_coordinator"]["class"]
    assert {_snake(k): v for k, v in queued.items()} == template["run_coordinator"]["config"]
    assert concurrency["runs"]["maxConcurrentRuns"] == template["concurrency"]["runs"]["max_concurrent_runs"]
    assert concurrency["runs"]["tagConcurrencyLimits"] == template["concurrency"]["runs"]["tag_concurrency_limits"]
    assert {_snake(k): v for k, v in concurrency["pools"].items()} == template["concurrency"]["pools"]
    assert chart_daemon_sections(values) == {s: template[s] for s in ("run_monitoring", "run_retries")}
    for section in ("sensors", "schedules"):
        assert {_snake(k): v for k, v in daemon[section].items()} == template[section]
    assert values["telemetry"] == template["telemetry"]
    assert values["retention"]["schedule"]["purgeAfterDays"] == template["retention"]["schedule"]["purge_after_days"]
    assert values["retention"]["sensor"]["purgeAfterDays"] == template["retention"]["sensor"]["purge_after_days"]
