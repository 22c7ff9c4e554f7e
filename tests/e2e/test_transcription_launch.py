"""The API's launcher against a real dagster-webserver serving the real code location.

A run launched with `launch_job` is queued (QueuedRunCoordinator, no daemon here so it stays
queued) under the location and job the API names, with the `dagster/priority` tag the daemon
dequeues by, and the caller's tags.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from runs.contract import CODE_LOCATION, IDEMPOTENCY_TAG, TRANSCRIBE_FICHES_JOB, Priority, TranscribeFiches
from runs.launcher import GraphQLLauncher, JobLaunch, LaunchFailed
from tests.fixtures.processes import cli_env, free_port

ROOT = Path(__file__).resolve().parents[2]
LOCATION_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries { name
    locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""
RUN_QUERY = """
query Run($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { status jobName tags { key value } } }
}
"""


@pytest.fixture
def webserver(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """The real code location, or the module named by an indirect parameter (e.g. one that does not load)."""
    module = getattr(request, "param", "orchestration.definitions")
    home = tmp_path / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        yaml.safe_dump(
            {
                "run_coordinator": {"module": "dagster.core.run_coordinator", "class": "QueuedRunCoordinator"},
                "telemetry": {"enabled": False},
            }
        )
    )
    workspace = tmp_path / "workspace.yaml"
    location = {"module_name": module, "location_name": CODE_LOCATION,
                "working_directory": str(ROOT)}  # fmt: skip
    workspace.write_text(yaml.safe_dump({"load_from": [{"python_module": location}]}))
    port = free_port()
    log = (tmp_path / "webserver.log").open("w")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
         "-w", str(workspace)],
        # Resolved (not connected to) when a run is launched; nothing runs it here.
        env=cli_env(
            tmp_path / "home",
            DAGSTER_HOME=str(home),
            DATABASE_URL="postgresql://callaudit@127.0.0.1:9/callaudit",
            REDIS_URL="redis://127.0.0.1:9/0",
            FICHE_API_BASE_URL="http://127.0.0.1:9",
        ),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "webserver.log").read_text()[-3000:]
            try:
                if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail("dagster-webserver did not start within 60 s")
        answer = httpx.post(f"{url}/graphql", json={"query": LOCATION_QUERY}, timeout=30).json()
        [entry] = answer["data"]["workspaceOrError"]["locationEntries"]
        if module == "orchestration.definitions":
            assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.mark.slow
async def test_a_launched_transcription_run_is_queued_with_its_priority(webserver: str) -> None:
    async with httpx.AsyncClient() as http:
        launcher = GraphQLLauncher(http, webserver, timeout=30.0)
        launched = {}
        priorities: tuple[tuple[Priority, str], ...] = (("low", "-5"), ("high", "5"))
        for priority, tag in priorities:
            config = TranscribeFiches(fiche_ids=["F-1", "F-2"], priority=priority).run_config()
            tags = {"dagster/priority": tag, "app/source": "api", "app/user": "7"}
            launched[tag] = await launcher.launch_job(JobLaunch(TRANSCRIBE_FICHES_JOB, config, tags))
        for tag, run_id in launched.items():
            answer = await http.post(f"{webserver}/graphql", json={"query": RUN_QUERY, "variables": {"runId": run_id}})
            run = answer.json()["data"]["runOrError"]
            assert (run["__typename"], run["jobName"], run["status"]) == ("Run", TRANSCRIBE_FICHES_JOB, "QUEUED"), run
            tags = {t["key"]: t["value"] for t in run["tags"]}
            assert tags["dagster/priority"] == tag
            assert (tags["app/source"], tags["app/user"], tags["dagster/code_location"]) == ("api", "7", CODE_LOCATION)


@pytest.mark.slow
async def test_readiness_sees_the_code_location_and_the_instance(webserver: str) -> None:
    async with httpx.AsyncClient() as http:
        assert await GraphQLLauncher(http, webserver, timeout=30.0).readiness() == (
            "code location loaded, instance database answers"
        )


@pytest.mark.slow
@pytest.mark.parametrize("webserver", ["callaudit_no_such_module"], indirect=True)
async def test_readiness_fails_while_the_code_location_does_not_load(webserver: str) -> None:
    """Drill 2: `/ready` stayed 200 while launches failed; `/server_info` answers all along."""
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{webserver}/server_info")).status_code == 200
        with pytest.raises(LaunchFailed, match="failed to load"):
            await GraphQLLauncher(http, webserver, timeout=30.0).readiness()


class _AnswersFirstLaunchWith500(httpx.AsyncBaseTransport):
    """The real webserver behind it; the first `launchRun` is executed, then answered with HTTP 500,
    as dagster-webserver did with dead database connections after a Postgres restart."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.broken = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if not self.broken and b"launchRun" in request.content:
            self.broken = True
            await response.aread()
            return httpx.Response(500, text="Internal Server Error")
        return response


RUNS_WITH_TAG = """
query Tagged($filter: RunsFilter!) { runsOrError(filter: $filter) { ... on Runs { results { runId } } } }
"""


@pytest.mark.slow
async def test_launches_are_idempotent_end_to_end(webserver: str) -> None:
    """Drill 2: the webserver answered 500 but created the run; the client's retry launched a second one."""
    config = TranscribeFiches(fiche_ids=["F-9"], priority="normal").run_config()
    launch = JobLaunch(TRANSCRIBE_FICHES_JOB, config, {"app/source": "api", "app/request_id": "r1"})
    flaky = _AnswersFirstLaunchWith500()
    async with httpx.AsyncClient(transport=flaky) as http:
        launcher = GraphQLLauncher(http, webserver, timeout=30.0)
        first = await launcher.launch_job(launch)  # the 500 is retried and finds the run it created
        assert flaky.broken
        retried = await launcher.launch_job(JobLaunch(launch.job_name, config, {**launch.tags, "app/request_id": "r2"}))
        assert retried == first  # a client retry of the same launch, still queued, gets the same run
        key, _ = launch.idempotency()
        answer = await http.post(
            f"{webserver}/graphql",
            json={"query": RUNS_WITH_TAG, "variables": {"filter": {"tags": [{"key": IDEMPOTENCY_TAG, "value": key}]}}},
        )
        assert [r["runId"] for r in answer.json()["data"]["runsOrError"]["results"]] == [first]
        # a client's own key: the same key is the same run, another key is another run
        keyed = await launcher.launch_job(JobLaunch(launch.job_name, config, launch.tags, idempotency_key="k-1"))
        assert keyed != first
        again = await launcher.launch_job(JobLaunch(launch.job_name, config, launch.tags, idempotency_key="k-1"))
        assert again == keyed
