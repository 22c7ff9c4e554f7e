"""The production deployment: compose.yaml, Dockerfile, .dockerignore, deploy/nginx.conf, .env.example.

No Docker daemon and no network are needed; every check runs against the files as committed.

- compose.yaml is validated against the Compose specification's JSON schema, vendored byte for byte
  as deploy/compose-spec.schema.json from github.com/compose-spec/compose-spec, file
  schema/compose-spec.json at commit 00655e2222608fa6eaecdf12ac5195889ca2244a (74,133 bytes, Draft-07;
  its "$schema" is the https:// spelling, which jsonschema does not recognise, hence the explicit
  Draft7Validator default). The source is recorded here rather than in a "$comment" so the file stays
  identical to upstream: to update it, copy the new upstream file and update SCHEMA_SHA256.
- Every executable a service (or its healthcheck) runs is checked against the real CLIs: it must be
  in the venv's bin; the `callaudit` Typer app is walked for its subcommands and options; and each
  command line, arguments included, goes through its console-script entry point with `--help`
  appended (click parses every option, then stops at the eager --help), so a renamed subcommand or
  option fails here instead of in a crash-looping container.
- Compose interpolation (${VAR:-default}, ${VAR:?error}, $$) is re-implemented in a few lines so the
  topology is checked as Compose would deploy it, with a stand-in .env holding the required secrets.
- deploy/nginx.conf is checked three ways: a static reading (which location serves which path, with
  nginx's matching rules and directive inheritance), `nginx -t` on the file as is (it resolves `api`
  at request time, so it validates outside Docker), and, as root, a live nginx in front of a local
  stand-in API (the copy only swaps `api:3002` and the listen port) that proves SSE is not buffered
  and X-Request-Id / X-Forwarded-For are handled. Both skip when nginx is not installed (the live one
  also when not root); `apt-get install -y nginx` makes them run.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
import yaml
from pydantic import AliasChoices

from callaudit.settings import Settings
from tests.fixtures.deployment import (
    NGINX_CONF,
    REQUIRED_SECRETS,
    ROOT,
    SCHEMA_FILE,
    SECRET_KEY,
    Directive,
    all_command_lines,
    argv_of,
    command_lines,
    effective,
    environment_of,
    interpolate_tree,
    is_group,
    options_of,
    parse_nginx,
    pick_location,
    schema_errors,
    seconds,
    walk_command,
)

COMPOSE_FILE = ROOT / "compose.yaml"
SCHEMA_SHA256 = "bc50c2d79102aed8df21b3a13e56c9396c7a06da6cff5ce37629f2ee7eb41735"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"
WORKSPACE = ROOT / "workspace.yaml"

DAGSTER_SERVICES = ("code-server", "dagster-webserver", "dagster-daemon")
DAGSTER_EXECUTABLES = ("dagster", "dagster-webserver", "dagster-daemon")


# --- compose: loading and interpolation ------------------------------------------------------------


@pytest.fixture(scope="module")
def raw_compose() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))  # resolves anchors and `<<`
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def compose(raw_compose: dict[str, Any]) -> dict[str, Any]:
    """compose.yaml as Compose deploys it with a .env holding only the required secrets."""
    missing: set[str] = set()
    document = interpolate_tree(raw_compose, REQUIRED_SECRETS, missing)
    assert not missing, f"variables compose.yaml requires beyond {sorted(REQUIRED_SECRETS)}: {sorted(missing)}"
    return document  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]  # type: ignore[no-any-return]


def flag_value(argv: list[str], *flags: str) -> str | None:
    for index, token in enumerate(argv[:-1]):
        if token in flags:
            return argv[index + 1]
    return None


def depends_on(service: Mapping[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: spec.get("condition", "service_started") for name, spec in deps.items()}


def is_one_shot(service: Mapping[str, Any]) -> bool:
    return str(service.get("restart", "no")) == "no"


# --- compose: schema -----------------------------------------------------------------------------


def test_vendored_schema_is_the_recorded_upstream_file() -> None:
    digest = hashlib.sha256(SCHEMA_FILE.read_bytes()).hexdigest()
    assert digest == SCHEMA_SHA256, "deploy/compose-spec.schema.json changed: update SCHEMA_SHA256 and the docstring"


def test_compose_validates_against_the_compose_specification(
    schema_validator: Any, raw_compose: dict[str, Any], compose: dict[str, Any]
) -> None:
    assert "version" not in raw_compose, "the Compose specification has no `version:`"
    assert schema_errors(schema_validator, raw_compose) == []
    assert schema_errors(schema_validator, compose) == []


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (lambda d: d["services"]["api"].update(replica=2), "replica"),
        (lambda d: d["services"]["api"]["depends_on"]["migrate"].update(condition="service_done"), "service_done"),
        (lambda d: d["services"]["redis"]["healthcheck"].update(test={"cmd": "ping"}), "test"),
        (lambda d: d.update(servcies={}), "servcies"),
    ],
    ids=["unknown-service-key", "bad-depends-on-condition", "bad-healthcheck-type", "unknown-top-level-key"],
)
def test_schema_rejects_a_broken_compose_file(
    schema_validator: Any, compose: dict[str, Any], mutation: Any, expected: str
) -> None:
    broken = copy.deepcopy(compose)
    mutation(broken)
    errors = schema_errors(schema_validator, broken)
    assert errors, "the schema check cannot fail: it proves nothing"
    assert any(expected in error for error in errors), errors


def test_compose_refuses_to_start_without_its_secrets(raw_compose: dict[str, Any]) -> None:
    missing: set[str] = set()
    interpolate_tree(raw_compose, {}, missing)
    assert set(REQUIRED_SECRETS) <= missing


# --- compose: commands exist ----------------------------------------------------------------------


def test_every_callaudit_subcommand_used_exists(services: dict[str, dict[str, Any]]) -> None:
    entry = importlib.metadata.entry_points(group="console_scripts", name="callaudit")
    assert [ep.value for ep in entry] == ["callaudit.cli:app"], "the `callaudit` console script moved"
    import callaudit.cli

    root = typer.main.get_command(callaudit.cli.app)
    used = [(name, argv) for name, argv in all_command_lines(services) if Path(argv[0]).name == "callaudit"]
    assert {argv[1] for _, argv in used} >= {"migrate", "seed", "api"}
    for name, argv in used:
        path, leaf = walk_command(root, argv[1:])
        assert path, f"{name}: `{shlex.join(argv)}` names no subcommand"
        assert not is_group(leaf), f"{name}: `{shlex.join(argv)}` stops at a command group"
        unknown = {t.partition("=")[0] for t in argv[1 + len(path) :] if t.startswith("-")} - options_of(leaf)
        assert not unknown, f"{name}: `callaudit {' '.join(path)}` has no option {sorted(unknown)}"


# Runs console-script entry points the way their bin/ wrappers do, several in one interpreter so that
# dagster is imported once: for each argv, sys.argv = [name, *args, "--help"]; records the exit code.
_ENTRY_POINT_RUNNER = """
import contextlib, io, json, sys
from importlib.metadata import entry_points

results = []
for argv in json.loads(sys.argv[1]):
    (entry_point,) = entry_points(group="console_scripts", name=argv[0])
    main = entry_point.load()
    sys.argv = [argv[0], *argv[1:], "--help"]
    out, err, code = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    results.append([code, err.getvalue()[-400:]])
print(json.dumps(results))
"""


def test_every_command_line_is_accepted_by_its_executable(services: dict[str, dict[str, Any]]) -> None:
    """Each callaudit / dagster* command line exists in the venv's bin and, with --help appended, exits 0.

    click parses every option before the eager --help stops it, so a mistyped subcommand or option
    fails (exit 2) while values are not checked (no file needs to exist, nothing starts).
    """
    bin_dir = Path(sys.executable).parent
    lines = sorted(
        {
            (Path(argv[0]).name, *argv[1:])
            for _, argv in all_command_lines(services)
            if Path(argv[0]).name in {"callaudit", *DAGSTER_EXECUTABLES}
        }
    )
    used = {argv[0] for argv in lines}
    assert set(DAGSTER_EXECUTABLES) <= used, f"compose runs none of {sorted(set(DAGSTER_EXECUTABLES) - used)}"
    for executable in used:
        assert (bin_dir / executable).is_file(), f"{executable} is not installed in {bin_dir}"
    result = subprocess.run(
        [sys.executable, "-c", _ENTRY_POINT_RUNNER, json.dumps(lines)],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    outcomes = json.loads(result.stdout.strip().splitlines()[-1])
    failures = [
        f"`{shlex.join(argv)} --help` exited {code}: {stderr.strip()}"
        for argv, (code, stderr) in zip(lines, outcomes, strict=True)
        if code != 0
    ]
    assert failures == []


def test_python_healthchecks_compile(services: dict[str, dict[str, Any]]) -> None:
    for name, argv in all_command_lines(services):
        if Path(argv[0]).name.startswith("python") and "-c" in argv:
            compile(argv[argv.index("-c") + 1], f"<{name} healthcheck>", "exec")


# --- compose: topology ------------------------------------------------------------------------------


def test_expected_services(services: dict[str, dict[str, Any]]) -> None:
    expected = {"postgres", "redis", "migrate", "api", "lb", *DAGSTER_SERVICES}
    assert expected <= set(services)
    assert str(services["postgres"]["image"]).startswith("postgres:17")
    assert str(services["redis"]["image"]).startswith("redis:7")
    assert str(services["lb"]["image"]).startswith("nginx:1.27")
    assert "--appendonly" in argv_of(services["redis"]["command"])


def test_exactly_one_dagster_daemon(services: dict[str, dict[str, Any]]) -> None:
    daemons = [name for name, argv in all_command_lines(services) if argv[:2] == ["dagster-daemon", "run"]]
    assert daemons == ["dagster-daemon"]
    daemon = services["dagster-daemon"]
    assert int((daemon.get("deploy") or {}).get("replicas", 1)) == 1
    assert int(daemon.get("scale", 1)) == 1


def test_api_is_replicated_behind_the_load_balancer(services: dict[str, dict[str, Any]]) -> None:
    api = services["api"]
    assert int(api["deploy"]["replicas"]) >= 2
    assert "container_name" not in api, "replicas cannot share a container name"
    assert "ports" not in api, "replicas cannot share a host port: only the load balancer publishes one"
    lb = services["lb"]
    assert lb["ports"] == ["8080:80"], "the load balancer publishes ${LB_PORT:-8080}"
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in lb["volumes"]
    assert depends_on(lb) == {"api": "service_healthy"}


def test_migrate_is_one_shot_and_gates_the_application(services: dict[str, dict[str, Any]]) -> None:
    migrate = services["migrate"]
    assert is_one_shot(migrate)
    steps = [argv[:2] for argv in command_lines(migrate)]
    assert steps == [["callaudit", "migrate"], ["callaudit", "seed"]]
    assert depends_on(migrate) == {"postgres": "service_healthy", "redis": "service_healthy"}
    for name in ("api", *DAGSTER_SERVICES):
        assert depends_on(services[name]).get("migrate") == "service_completed_successfully", name


def test_dependencies_and_references_resolve(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for target, condition in depends_on(service).items():
            assert target in services, f"{name} depends on unknown {target}"
            if condition == "service_healthy":
                assert "test" in (services[target].get("healthcheck") or {}), f"{name} waits on {target}'s health"
            if condition == "service_completed_successfully":
                assert is_one_shot(services[target]), f"{name} waits for {target} to exit"
        for network in service.get("networks") or []:
            assert network in compose.get("networks", {}), f"{name}: unknown network {network}"
        for volume in service.get("volumes") or []:
            source = volume.split(":", 1)[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith((".", "/")):
                assert (ROOT / source).exists(), f"{name}: bind mount {source} does not exist"
            else:
                assert source in compose.get("volumes", {}), f"{name}: unknown volume {source}"
        for config in service.get("configs") or []:
            source = config if isinstance(config, str) else config["source"]
            assert source in compose.get("configs", {}), f"{name}: unknown config {source}"


def test_every_long_lived_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        if is_one_shot(service):
            continue
        check = service.get("healthcheck") or {}
        assert check.get("test"), f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name} disables its healthcheck"
        assert service.get("restart") in ("unless-stopped", "always", "on-failure"), name


def test_no_secret_literals_in_compose(raw_compose: dict[str, Any]) -> None:
    """Values of secret-looking keys are bare ${VAR} / ${VAR:?...} (no default), or absent."""
    reference = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?\?[^}]*)?\}$")

    def walk(node: Any, where: str) -> Iterator[str]:
        if isinstance(node, dict):
            for key, value in node.items():
                scalar = isinstance(value, str | int | float) and not isinstance(value, bool)
                if SECRET_KEY.search(str(key)) and scalar and not reference.match(str(value)):
                    yield f"{where}.{key}: {value!r}"
                yield from walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for index, item in enumerate(node):
                if isinstance(item, str) and "=" in item:
                    key, _, value = item.partition("=")
                    if SECRET_KEY.search(key) and value and not reference.match(value):
                        yield f"{where}[{index}]: {item!r}"
                yield from walk(item, f"{where}[{index}]")

    assert list(walk(raw_compose, "compose")) == []


def test_urls_take_their_credentials_from_the_environment(compose: dict[str, Any]) -> None:
    """Interpolated with the stand-in .env, every password inside a URL is one of its secrets."""

    def strings(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for value in node.values():
                yield from strings(value)
        elif isinstance(node, list):
            for item in node:
                yield from strings(item)
        elif isinstance(node, str):
            yield node

    urls = [urlsplit(text) for text in strings(compose) if re.match(r"^[a-z][a-z0-9+.-]*://", text)]
    passwords = [url.password for url in urls if url.password is not None]
    assert passwords, "no URL with credentials found: the check is not looking at the right thing"
    assert set(passwords) <= set(REQUIRED_SECRETS.values())


def test_dagster_processes_share_one_instance(services: dict[str, dict[str, Any]]) -> None:
    envs = {name: environment_of(services[name]) for name in (*DAGSTER_SERVICES, "api", "migrate")}
    for key in ("DAGSTER_HOME", "DAGSTER_POSTGRES_URL", "DATABASE_URL", "REDIS_URL"):
        values = {name: env.get(key) for name, env in envs.items()}
        assert None not in values.values(), f"{key} missing: {values}"
        assert len(set(values.values())) == 1, f"{key} differs: {values}"
    env = envs["api"]
    dagster_url = urlsplit(env["DAGSTER_POSTGRES_URL"] or "")
    app_url = urlsplit(env["DATABASE_URL"] or "")
    assert dagster_url.scheme == "postgresql+psycopg2"
    assert dagster_url.hostname == app_url.hostname == "postgres"
    assert dagster_url.path == "/dagster", "Dagster gets its own database"
    assert app_url.path != "/dagster"
    assert urlsplit(env["REDIS_URL"] or "").hostname == "redis"
    assert env["CALLAUDIT_ENV"] == "production"


def test_dagster_wiring_is_consistent(compose: dict[str, Any], services: dict[str, dict[str, Any]]) -> None:
    code_server = argv_of(services["code-server"]["command"])
    assert code_server[:3] == ["dagster", "code-server", "start"]
    assert flag_value(code_server, "-m", "--module-name") == "orchestration.definitions"
    workspace_paths = {flag_value(argv_of(services[n]["command"]), "-w", "--workspace") for n in DAGSTER_SERVICES[1:]}
    assert workspace_paths == {"/app/workspace.yaml"}
    (location,) = yaml.safe_load(WORKSPACE.read_text(encoding="utf-8"))["load_from"]
    grpc = location["grpc_server"]
    # One workspace.yaml for every deployment: host and port come from the environment.
    app_env = environment_of(services["dagster-webserver"])
    assert app_env[grpc["host"]["env"]] == "code-server"
    assert "code-server" in services
    assert app_env[grpc["port"]["env"]] == flag_value(code_server, "-p", "--port")
    assert grpc["location_name"] == flag_value(code_server, "--location-name")
    webserver = argv_of(services["dagster-webserver"]["command"])
    api_target = urlsplit(environment_of(services["api"])["DAGSTER_WEBSERVER_URL"] or "")
    assert api_target.hostname == "dagster-webserver"
    assert str(api_target.port) == flag_value(webserver, "-p", "--port")
    (postgres_init,) = compose["configs"].values()
    assert "CREATE DATABASE dagster" in postgres_init["content"]


# --- Dockerfile and .dockerignore -------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    value: str
    stage: int


def dockerfile_instructions() -> list[Instruction]:
    text = re.sub(r"\\\n(\s*#[^\n]*\n)*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    instructions: list[Instruction] = []
    stage = -1
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keyword, _, value = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            stage += 1
        instructions.append(Instruction(keyword.upper(), value.strip(), stage))
    return instructions


def dockerignored(path: str) -> bool:
    """Approximate .dockerignore matching (last matching pattern wins; `!` re-includes)."""
    ignored = False
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        pattern = raw.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/").replace("**/", "*")
        parts = path.strip("/").split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            ignored = not negate
    return ignored


def test_dockerfile_builds_a_non_root_python_311_image(services: dict[str, dict[str, Any]]) -> None:
    instructions = dockerfile_instructions()
    args = {}
    for instruction in instructions:
        if instruction.keyword == "ARG" and "=" in instruction.value:
            name, _, default = instruction.value.partition("=")
            args[name] = default
    bases = [
        re.sub(r"\$\{?(\w+)\}?", lambda m: args[m[1]], i.value.split()[0]) for i in instructions if i.keyword == "FROM"
    ]
    assert bases
    assert all(base == "python:3.11-slim" for base in bases)
    final = max(i.stage for i in instructions)
    final_stage = [i for i in instructions if i.stage == final]
    users = [i.value for i in final_stage if i.keyword == "USER"]
    assert users, "the image must switch to a non-root user"
    assert users[-1].split(":")[0] not in ("root", "0"), "the image must run as a non-root user"
    assert any(i.keyword == "HEALTHCHECK" for i in final_stage)
    assert any(i.keyword == "RUN" and re.search(r"\bpip install \.(\s|$)", i.value) for i in instructions)

    env = " ".join(i.value for i in final_stage if i.keyword == "ENV")
    dagster_home = re.search(r"\bDAGSTER_HOME=(\S+)", env)
    assert dagster_home, "DAGSTER_HOME is set in the image"
    copies = {
        i.value.split()[-1]: i.value.split()[-2] for i in final_stage if i.keyword == "COPY" and "--from" not in i.value
    }
    # The instance is rendered into DAGSTER_HOME at build time (callaudit/instance.py), as the user it runs as.
    renders = [i.value for i in final_stage if i.keyword == "RUN" and "callaudit instance --write" in i.value]
    assert renders, "the image renders its default Dagster instance"
    assert f"chown callaudit:callaudit {dagster_home[1]}/dagster.yaml" in renders[0]
    assert copies.get("/app/workspace.yaml") == "workspace.yaml"
    for name in DAGSTER_SERVICES:
        assert environment_of(services[name])["DAGSTER_HOME"] == dagster_home[1]


def test_build_context_keeps_what_the_image_needs() -> None:
    needed = ["pyproject.toml", "callaudit/dagster.yaml.j2", "workspace.yaml", "callaudit/cli.py", "migrations/env.py"]
    sources = [
        i.value.split()[:-1] for i in dockerfile_instructions() if i.keyword == "COPY" and "--from" not in i.value
    ]
    needed += [src for group in sources for src in group if src != "." and not src.startswith("--")]
    for path in needed:
        assert (ROOT / path).exists(), f"{path} is missing from the repository"
        assert not dockerignored(path), f".dockerignore excludes {path}"
    for secret in (".env", ".env.production", ".venv/bin/python", ".callaudit/x", ".git/HEAD"):
        assert dockerignored(secret), f".dockerignore lets {secret} into the build context"
    assert not dockerignored(".env.example")


# --- .env.example ---------------------------------------------------------------------------------


def env_name(name: str, info: Any) -> str:
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return str(alias or info.alias or name).upper()


def env_example() -> dict[str, tuple[str, bool]]:
    """NAME -> (value, active) for every `NAME=value` or `# NAME=value` line."""
    entries: dict[str, tuple[str, bool]] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$", line.strip())
        if match:
            name, value = match[2], match[3].strip()
            assert name not in entries, f".env.example lists {name} twice"
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            entries[name] = (value, match[1] is None)
    return entries


def secret_fields() -> set[str]:
    return {env_name(name, info) for name, info in Settings.model_fields.items() if "SecretStr" in str(info.annotation)}


def test_env_example_lists_every_setting_and_compose_variable(raw_compose: dict[str, Any]) -> None:
    listed = env_example()
    settings_names = {env_name(name, info) for name, info in Settings.model_fields.items()}
    assert sorted(settings_names - set(listed)) == []
    text = "".join(  # $$ escapes a container-side $
        path.read_text(encoding="utf-8").replace("$$", "") for path in (COMPOSE_FILE, ROOT / "compose.scale.yaml")
    )
    compose_vars = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", text))
    assert sorted(compose_vars - set(listed)) == []
    assert {"DAGSTER_HOME", "DAGSTER_POSTGRES_URL", "LB_PORT", "POSTGRES_PASSWORD"} <= set(listed)
    stale = set(listed) - settings_names - compose_vars - {"DAGSTER_HOME"}
    assert sorted(stale) == [], "listed in .env.example but read by nothing"


def test_env_example_defaults_are_the_settings_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Each value shown parses to the field's default (Settings reads the environment and ./.env too)."""
    monkeypatch.chdir(tmp_path)
    for name, info in Settings.model_fields.items():
        alias = info.validation_alias
        for env in alias.choices if isinstance(alias, AliasChoices) else [env_name(name, info)]:
            monkeypatch.delenv(str(env), raising=False)
    by_env = {env_name(name, info): (name, info) for name, info in Settings.model_fields.items()}
    for env, (value, _) in env_example().items():
        if env not in by_env or value == "":
            continue
        name, info = by_env[env]
        parsed = getattr(Settings.model_validate({name: value}), name)
        default = info.get_default(call_default_factory=True)
        assert parsed == default, f".env.example shows {env}={value!r}, the default is {default!r}"


def test_env_example_has_no_secret_values_and_no_empty_assignments() -> None:
    secret_name = re.compile(r"PASSWORD$|SECRET|_KEY$|_TOKENS?$|_PASS$")
    secrets = secret_fields() | {name for name in env_example() if secret_name.search(name)}
    assert {"JWT_ACCESS_SECRET", "OPENAI_API_KEY", "DATABASE_URL", "POSTGRES_PASSWORD"} <= secrets
    for name, (value, active) in env_example().items():
        if name in secrets:
            assert value == "", f".env.example gives {name} a value"
        # An active `NAME=` is not "unset" for pydantic-settings (PORT= fails, a secret becomes "").
        assert not (active and value == ""), f".env.example sets {name} to an empty string"


# --- nginx: static reading --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def nginx_http() -> Directive:
    return parse_nginx(NGINX_CONF.read_text(encoding="utf-8")).one("http")


SSE_PATHS = ["/api/realtime/stream", "/api/realtime/audits/42", "/api/runs/3f1c/events", "/api/audits/42/chat"]
PLAIN_PATHS = ["/health", "/ready", "/api/audits/42", "/api/audits/42/chat/history", "/api/fiches"]


@pytest.mark.parametrize("path", SSE_PATHS)
def test_nginx_serves_sse_without_buffering(nginx_http: Directive, path: str) -> None:
    server = nginx_http.one("server")
    location = pick_location(server, path)
    levels = (location, server, nginx_http)
    assert effective("proxy_buffering", *levels) == [["off"]], f"{path} is buffered"
    assert effective("gzip", *levels) == [["off"]]
    assert effective("proxy_http_version", *levels) == [["1.1"]]
    headers = {args[0].lower(): args[1] for args in effective("proxy_set_header", *levels)}
    assert headers.get("connection") == ""
    assert headers.get("x-request-id") == "$req_id"
    assert seconds(effective("proxy_read_timeout", *levels)[0][0]) >= 3600
    assert effective("proxy_pass", *levels)


@pytest.mark.parametrize("path", PLAIN_PATHS)
def test_nginx_buffers_ordinary_requests(nginx_http: Directive, path: str) -> None:
    server = nginx_http.one("server")
    location = pick_location(server, path)
    levels = (location, server, nginx_http)
    assert effective("proxy_buffering", *levels) != [["off"]]
    assert seconds(effective("proxy_read_timeout", *levels)[0][0]) <= 300
    assert effective("proxy_pass", *levels)


def test_nginx_balances_the_api_service(nginx_http: Directive, services: dict[str, dict[str, Any]]) -> None:
    assert nginx_http.one("client_max_body_size").args == ["50m"]
    resolver = nginx_http.one("resolver").args
    assert resolver[0] == "127.0.0.11", "Docker's embedded DNS"
    assert any(arg.startswith("valid=") for arg in resolver), "re-resolved, so scaled replicas are picked up"
    server = nginx_http.one("server")
    (backend,) = [d.args for d in server.all("set") if d.args[0] == "$api_backend"]
    host, _, port = backend[1].partition(":")
    assert host == "api"
    assert host in services
    assert port == flag_value(argv_of(services["api"]["command"]), "--port")
    for location in server.all("location"):
        proxy_pass = location.all("proxy_pass")
        assert not proxy_pass or proxy_pass[0].args == ["http://$api_backend"], "resolved per request"
    next_upstream = nginx_http.one("proxy_next_upstream").args
    assert "non_idempotent" not in next_upstream, "POST/PATCH must never be replayed on another replica"
    assert "off" not in next_upstream
    health = pick_location(server, "/lb-health")
    assert health.args[0] == "="
    assert health.one("return").args[0] == "200"
    assert ["X-Request-Id", "$req_id", "always"] in [d.args for d in nginx_http.all("add_header")]


# --- nginx: the real binary -------------------------------------------------------------------------

NGINX = shutil.which("nginx") or next(
    (str(p) for p in (Path("/usr/sbin/nginx"), Path("/usr/local/sbin/nginx")) if p.is_file()), None
)
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install -y nginx)")


@needs_nginx
def test_nginx_accepts_the_configuration(tmp_path: Path) -> None:
    assert NGINX is not None
    result = subprocess.run(
        [
            NGINX,
            "-t",
            "-q",
            "-e",
            "stderr",
            "-p",
            str(tmp_path),
            "-c",
            str(NGINX_CONF),
            "-g",
            f"pid {tmp_path}/nginx.pid;",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr


class _StandInApi(BaseHTTPRequestHandler):
    """Echoes the forwarded headers; /api/realtime/* streams two events 1.5 s apart."""

    def do_GET(self) -> None:
        if self.path.startswith("/api/realtime/"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(b"data: first\n\n")
            self.wfile.flush()
            time.sleep(1.5)
            self.wfile.write(b"data: second\n\n")
            return
        body = json.dumps({k.lower(): v for k, v in self.headers.items()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _request(port: int, path: str, headers: Mapping[str, str] | None = None) -> tuple[dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        conn.sendall(f"GET {path} HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n{extra}\r\n".encode())
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    return {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}, body


@pytest.fixture
def live_nginx(tmp_path: Path) -> Iterator[int]:
    """nginx on a free port in front of a stand-in API; only `api:3002` and the listen port differ."""
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install -y nginx)")
    if os.geteuid() != 0:
        pytest.skip("a live nginx needs root here (its compiled temp and log paths)")
    backend = ThreadingHTTPServer(("127.0.0.1", 0), _StandInApi)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    port = _free_port()
    text = NGINX_CONF.read_text(encoding="utf-8")
    text = text.replace('set $api_backend "api:3002";', f'set $api_backend "127.0.0.1:{backend.server_address[1]}";')
    text = text.replace("listen 80 default_server;", f"listen 127.0.0.1:{port} default_server;")
    assert f"127.0.0.1:{port}" in text
    assert "api:3002" not in text
    conf = tmp_path / "nginx.conf"
    conf.write_text(text, encoding="utf-8")
    process = subprocess.Popen(
        [NGINX, "-e", "stderr", "-p", str(tmp_path), "-c", str(conf), "-g", f"daemon off; pid {tmp_path}/nginx.pid;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        backend.shutdown()
        backend.server_close()


def test_live_nginx_health_request_ids_and_forwarding(live_nginx: int) -> None:
    _, body = _request(live_nginx, "/lb-health")
    assert body == b"ok\n"
    minted, echoed = _request(live_nginx, "/api/echo", {"X-Forwarded-For": "6.6.6.6"})
    seen = json.loads(echoed)
    assert re.fullmatch(r"[0-9a-f]{32}", minted["x-request-id"])
    assert seen["x-request-id"] == minted["x-request-id"], "the upstream gets the id the client gets"
    assert seen["x-forwarded-for"] == "127.0.0.1", "a client cannot forge X-Forwarded-For"
    kept, echoed = _request(live_nginx, "/api/echo", {"X-Request-Id": "client-id-0001"})
    assert kept["x-request-id"] == json.loads(echoed)["x-request-id"] == "client-id-0001"
    replaced, _ = _request(live_nginx, "/api/echo", {"X-Request-Id": "bad id\u00e9<script>"})
    assert replaced["x-request-id"] != "bad id\u00e9<script>"


def test_live_nginx_sends_security_headers(live_nginx: int) -> None:
    """Drill 11: neither the API nor the compose nginx sent security headers."""
    for path in ("/lb-health", "/api/echo"):
        headers, _ = _request(live_nginx, path)
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in headers  # plain HTTP
    tls, _ = _request(live_nginx, "/api/echo", {"X-Forwarded-Proto": "https"})
    assert tls["strict-transport-security"].startswith("max-age=")


def test_live_nginx_streams_sse_unbuffered(live_nginx: int) -> None:
    with socket.create_connection(("127.0.0.1", live_nginx), timeout=10) as conn:
        conn.sendall(b"GET /api/realtime/stream HTTP/1.1\r\nHost: lb\r\nConnection: close\r\n\r\n")
        started, data = time.monotonic(), b""
        while b"first" not in data:
            chunk = conn.recv(65536)
            assert chunk, "stream closed before the first event"
            data += chunk
        first_after = time.monotonic() - started
        while chunk := conn.recv(65536):
            data += chunk
    assert first_after < 1.0, f"the first event waited {first_after:.2f}s: nginx buffered the stream"
    assert b"second" in data
