"""`GraphQLLauncher.launch_job` against a stand-in webserver that validates like dagster-webserver does.

The stand-in parses each request's query and variables against Dagster's own GraphQL schema
(`dagster_graphql`), so a mutation or variable Dagster would refuse fails here too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
import yaml
from dagster._core.definitions.repository_definition.valid_definitions import SINGLETON_REPOSITORY_NAME
from dagster_graphql.schema import create_schema
from graphql.execution.values import get_variable_values

from runs.contract import CODE_LOCATION, REPOSITORY
from runs.launcher import GraphQLLauncher, JobLaunch, LaunchFailed

SCHEMA = create_schema().graphql_schema
ROOT = Path(__file__).resolve().parents[2]
LAUNCH = JobLaunch(
    job_name="transcribe_fiches_job",
    run_config={"fiche_ids": ["F-1"], "priority": "high"},
    tags={"dagster/priority": "5", "app/source": "api", "app/user": "7"},
)


def _webserver(answer: dict[str, Any], seen: list[dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    def handle(request: httpx.Request) -> httpx.Response:
        assert (request.method, request.url.path) == ("POST", "/graphql")
        body = json.loads(request.content)
        document = graphql.parse(body["query"])
        assert graphql.validate(SCHEMA, document) == []
        [operation] = document.definitions
        assert isinstance(operation, graphql.OperationDefinitionNode)
        coerced = get_variable_values(SCHEMA, operation.variable_definitions or [], body["variables"])
        assert isinstance(coerced, dict), coerced  # a list of GraphQLErrors otherwise
        if operation.name and operation.name.value == "Existing":  # the idempotency look-up: no such run yet
            return httpx.Response(200, json={"data": {"runsOrError": {"__typename": "Runs", "results": []}}})
        seen.append(coerced)
        return httpx.Response(200, json={"data": {"launchRun": answer}})

    return handle


async def _launch(answer: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    seen: list[dict[str, Any]] = []
    transport = httpx.MockTransport(_webserver(answer, seen))
    async with httpx.AsyncClient(transport=transport) as http:
        launcher = GraphQLLauncher(
            http, "http://dagster.test/", fresh_client=lambda: httpx.AsyncClient(transport=transport)
        )
        run_id = await launcher.launch_job(LAUNCH)
    return run_id, seen


async def test_launch_run_sends_selector_config_and_tags() -> None:
    run_id, [variables] = await _launch({"__typename": "LaunchRunSuccess", "run": {"runId": "run-42"}})
    assert run_id == "run-42"
    params = variables["executionParams"]
    assert params["selector"] == {
        "repositoryLocationName": "callaudit",
        "repositoryName": "__repository__",
        "jobName": "transcribe_fiches_job",
    }
    assert params["runConfigData"] == LAUNCH.run_config
    assert params["executionMetadata"]["tags"] == [
        {"key": "dagster/priority", "value": "5"},
        {"key": "app/source", "value": "api"},
        {"key": "app/user", "value": "7"},
        {"key": "app/idempotency_key", "value": LAUNCH.idempotency()[0]},
    ]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            {"__typename": "RunConfigValidationInvalid", "errors": [{"message": "Missing required config entry"}]},
            "Missing required config entry",
        ),
        ({"__typename": "PipelineNotFoundError", "message": "Could not find Pipeline x"}, "Could not find Pipeline"),
        ({"__typename": "PythonError", "message": "boom"}, "boom"),
    ],
)
async def test_refusals_are_launch_failures(answer: dict[str, Any], message: str) -> None:
    with pytest.raises(LaunchFailed, match=message):
        await _launch(answer)


async def test_http_and_graphql_errors_are_launch_failures() -> None:
    for response in (httpx.Response(502), httpx.Response(200, json={"errors": [{"message": "bad"}]})):
        transport = httpx.MockTransport(lambda r, resp=response: resp)

        def fresh(transport: httpx.MockTransport = transport) -> httpx.AsyncClient:
            return httpx.AsyncClient(transport=transport)

        async with httpx.AsyncClient(transport=transport) as http:
            with pytest.raises(LaunchFailed):
                await GraphQLLauncher(http, "http://dagster.test", fresh_client=fresh).launch_job(LAUNCH)


def test_the_selector_names_what_the_workspace_serves() -> None:
    (location,) = yaml.safe_load((ROOT / "workspace.yaml").read_text(encoding="utf-8"))["load_from"]
    assert location["grpc_server"]["location_name"] == CODE_LOCATION
    assert REPOSITORY == SINGLETON_REPOSITORY_NAME
