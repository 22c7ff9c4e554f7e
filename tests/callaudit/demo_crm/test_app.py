"""The simulator over HTTP: the gateway contract, audio, `/__sim/` controls, faults and counters."""

from __future__ import annotations

import asyncio
import io
import time
import wave
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from callaudit.demo_crm.app import create_app
from callaudit.demo_crm.config import FamilyFaults, Faults, Latency, SimulatorConfig
from callaudit.demo_crm.server import run_in_thread

SALES = "/api/fiches/sales-with-calls"
DAY_QUERY: dict[str, str] = {
    "start_date": "2025-09-25",
    "end_date": "2025-09-25",
    "status_id": "53",
    "include_recordings": "true",
    "include_transcriptions": "false",
}


def client_for(config: SimulatorConfig) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(config)), base_url="http://sim.test")


def faulty(**families: FamilyFaults) -> SimulatorConfig:
    return SimulatorConfig(seed=3, faults=Faults(**families))


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(SimulatorConfig(seed=3)) as test_client:
        yield test_client


async def get_json(client: httpx.AsyncClient, url: str, **params: Any) -> Any:
    response = await client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def first_fiche_id(client: httpx.AsyncClient) -> str:
    return str((await get_json(client, SALES, **DAY_QUERY))["fiches"][0]["id"])


async def test_gateway_routes_answer_the_contract(client: httpx.AsyncClient) -> None:
    assert (await get_json(client, "/health"))["status"] == "ok"
    sales = await client.get(SALES, params=DAY_QUERY)
    assert sales.headers["x-demo-crm"] == "simulator"
    assert sales.json()["total"] == 12
    path = f"/api/fiches/by-id/{sales.json()['fiches'][0]['id']}"
    details = await get_json(client, path, include_recordings="true", include_transcriptions="false")
    assert details["success"] is True
    assert "mail_devis" not in details
    assert "mail_devis" in await get_json(client, path, include_mail_devis="true")
    assert (await get_json(client, path, include_recordings="false"))["recordings"] == []
    missing = await client.get("/api/fiches/by-id/42")
    assert missing.status_code == 404
    assert missing.json()["success"] is False
    users = (await get_json(client, "/api/utilisateurs"))["data"]
    assert users["total_count"] == len(users["utilisateurs"])
    groups = (await get_json(client, "/api/utilisateurs/groupes", include_users="false"))["data"]["groupes"]
    assert len(groups) == 4
    assert all("user_ids" not in g for g in groups)
    groups = (await get_json(client, "/api/utilisateurs/groupes", include_users="true"))["data"]["groupes"]
    assert all(len(g["user_ids"]) == g["membres_count"] for g in groups)


async def test_invalid_queries_answer_400(client: httpx.AsyncClient) -> None:
    for params in (
        {**DAY_QUERY, "start_date": "25/09/2025"},
        {**DAY_QUERY, "end_date": "2025-09-01"},
        {"end_date": "2025-09-01"},
        {**DAY_QUERY, "include_recordings": "maybe"},
    ):
        response = await client.get(SALES, params=params)
        assert response.status_code == 400, params
        assert response.json()["success"] is False
    assert await get_json(client, SALES, **{**DAY_QUERY, "status_id": "12"}) == {"fiches": [], "total": 0}


async def test_audio_is_served_with_ranges(client: httpx.AsyncClient) -> None:
    fiche_id = await first_fiche_id(client)
    recording = (await get_json(client, f"/api/fiches/by-id/{fiche_id}"))["recordings"][0]
    url = recording["recording_url"]
    whole = await client.get(url)
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "audio/wav"
    assert int(whole.headers["content-length"]) == len(whole.content)
    transcript = await get_json(client, f"/__sim/transcripts/{recording['call_id']}")
    with wave.open(io.BytesIO(whole.content)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert abs(seconds - transcript["duration_seconds"]) < 0.1
    assert abs(seconds - recording["duration_seconds"]) < 0.1
    part = await client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"
    assert (await client.get(url, headers={"Range": "bytes=-10"})).content == whole.content[-10:]
    assert (await client.get(url, headers={"Range": f"bytes={len(whole.content)}-"})).status_code == 416
    assert (await client.get(url.replace(".wav", "0.wav"))).status_code == 404
    head = await client.head(url)
    assert head.headers["content-length"] == str(len(whole.content))
    assert head.content == b""


async def test_transcript_and_ground_truth_endpoints(client: httpx.AsyncClient) -> None:
    truth = await get_json(client, f"/__sim/ground-truth/{await first_fiche_id(client)}")
    first = truth["recordings"][0]
    transcript = await get_json(client, f"/__sim/transcripts/{first['call_id']}")
    assert transcript["language"] == "fr"
    assert [s["key"] for s in transcript["segments"]] == first["segments"]
    assert (await client.get("/__sim/transcripts/12345678901234567890")).status_code == 404
    assert (await client.get("/__sim/ground-truth/42")).status_code == 404


async def test_rate_limit_answers_429_with_retry_after() -> None:
    async with client_for(faulty(search=FamilyFaults(rate_limit_rate=1.0, retry_after_seconds=7))) as client:
        response = await client.get(SALES, params=DAY_QUERY)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "7"
        assert (await client.get("/api/utilisateurs")).status_code == 200, "other families are unaffected"
        assert (await get_json(client, "/__sim/stats"))["families"]["search"]["faults"] == {"429": 1}


async def test_transient_404_then_a_retry_succeeds() -> None:
    async with client_for(faulty(details=FamilyFaults(transient_404_rate=0.5))) as client:
        path = f"/api/fiches/by-id/{await first_fiche_id(client)}"
        statuses = [(await client.get(path)).status_code for _ in range(12)]
        assert set(statuses) == {200, 404}
        assert 200 in statuses[statuses.index(404) :], statuses


async def test_server_errors_and_timeouts_answer_in_kind() -> None:
    config = faulty(search=FamilyFaults(error_5xx_rate=1.0), users=FamilyFaults(timeout_rate=1.0, timeout_seconds=0.2))
    async with client_for(config) as client:
        assert (await client.get(SALES, params=DAY_QUERY)).status_code in {500, 502, 503}
        started = time.monotonic()
        assert (await client.get("/api/utilisateurs")).status_code == 504
        assert time.monotonic() - started >= 0.2


async def test_permanent_not_found_is_listed_but_never_found(client: httpx.AsyncClient) -> None:
    fiche_id = await first_fiche_id(client)
    config = SimulatorConfig(seed=3, faults=Faults(permanent_not_found=frozenset({fiche_id})))
    async with client_for(config) as broken:
        assert fiche_id in [f["id"] for f in (await get_json(broken, SALES, **DAY_QUERY))["fiches"]]
        assert {(await broken.get(f"/api/fiches/by-id/{fiche_id}")).status_code for _ in range(5)} == {404}


async def test_faults_change_at_runtime(client: httpx.AsyncClient) -> None:
    assert (await client.get(SALES, params=DAY_QUERY)).status_code == 200
    updated = await client.put("/__sim/config", json={"search": {"rate_limit_rate": 1.0}})
    assert updated.json()["faults"]["search"]["rate_limit_rate"] == 1.0
    assert (await client.get(SALES, params=DAY_QUERY)).status_code == 429
    invalid = await client.put("/__sim/config", json={"search": {"rate_limit_rate": 0.6, "error_5xx_rate": 0.6}})
    assert invalid.status_code == 400
    assert (await get_json(client, "/__sim/config"))["faults"]["search"]["error_5xx_rate"] == 0.0


async def test_bearer_token_is_required_when_configured() -> None:
    async with client_for(SimulatorConfig(token="s3cret-token")) as client:
        assert (await client.get(SALES, params=DAY_QUERY)).status_code == 401
        wrong = await client.get(SALES, params=DAY_QUERY, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = await client.get(SALES, params=DAY_QUERY, headers={"Authorization": "Bearer s3cret-token"})
        assert right.status_code == 200
        assert (await client.get("/health")).status_code == 200
        assert (await get_json(client, "/__sim/config"))["token"] == "**********"


async def test_peak_concurrency_is_exact_and_resets() -> None:
    config = SimulatorConfig(faults=Faults(details=FamilyFaults(latency=Latency(mean_ms=200))))
    with run_in_thread(config) as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            fiche_ids = [f["id"] for f in (await get_json(client, SALES, **DAY_QUERY))["fiches"][:10]]
            responses = await asyncio.gather(*(client.get(f"/api/fiches/by-id/{i}") for i in fiche_ids))
            assert [r.status_code for r in responses] == [200] * 10
            details = (await get_json(client, "/__sim/stats"))["families"]["details"]
            assert (details["peak_in_flight"], details["in_flight"], details["requests"]) == (10, 0, 10)
            reset = (await client.post("/__sim/stats/reset")).json()["families"]["details"]
            assert (reset["peak_in_flight"], reset["requests"]) == (0, 0)


def test_a_hung_request_ends_when_the_client_gives_up() -> None:
    config = SimulatorConfig(faults=Faults(details=FamilyFaults(timeout_rate=1.0, timeout_seconds=30)))
    with run_in_thread(config) as url:
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(f"{url}/api/fiches/by-id/1939900000", timeout=0.3)
        deadline = time.monotonic() + 5
        while (details := httpx.get(f"{url}/__sim/stats").json()["families"]["details"])["in_flight"]:
            assert time.monotonic() < deadline, "the simulator kept hanging after the client left"
            time.sleep(0.05)
        assert details["statuses"] == {"499": 1}
        assert details["faults"] == {"timeout": 1}


def test_config_from_env() -> None:
    config = SimulatorConfig.from_env(
        {
            "DEMO_CRM_SEED": "9",
            "DEMO_CRM_FICHES_PER_DAY": "1000",
            "DEMO_CRM_LATENCY_MS": "80",
            "DEMO_CRM_FAULT_RATE": "0.2",
            "DEMO_CRM_TOKEN": "t0k",
        }
    )
    assert (config.seed, config.fiches_per_day) == (9, 1000)
    assert config.token is not None
    assert config.token.get_secret_value() == "t0k"
    details = config.faults.details
    assert details.latency.mean_ms == 80
    assert details.error_5xx_rate == details.rate_limit_rate == details.timeout_rate == details.transient_404_rate
    assert details.error_5xx_rate == pytest.approx(0.05)
    assert SimulatorConfig.from_env({}) == SimulatorConfig.from_env({"DEMO_CRM_TOKEN": " "})
    assert SimulatorConfig.from_env({}).token is None
    with pytest.raises(ValueError, match="DEMO_CRM_LATENCY_MS"):
        SimulatorConfig.from_env({"DEMO_CRM_LATENCY_MS": "fast"})
    with pytest.raises(ValueError, match="fiches_per_day"):
        SimulatorConfig.from_env({"DEMO_CRM_FICHES_PER_DAY": "0"})


def test_settings_come_from_the_env_file_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Drill 13: the simulator ignored its settings in `.env`."""
    for name in ("DEMO_CRM_SEED", "DEMO_CRM_FICHES_PER_DAY", "DEMO_CRM_CONTROL"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / ".env").write_text("DEMO_CRM_SEED=7\nDEMO_CRM_FICHES_PER_DAY=3\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    config = SimulatorConfig.from_env()
    assert (config.seed, config.fiches_per_day) == (7, 3)
    monkeypatch.setenv("DEMO_CRM_SEED", "9")  # the environment wins over the file, as for every setting
    assert SimulatorConfig.from_env().seed == 9


async def test_runtime_control_answers_loopback_only_and_can_be_off() -> None:
    """Drill 13: `PUT /__sim/config` was open to anyone who could reach the simulator."""
    faults = Faults(details=FamilyFaults(error_5xx_rate=1.0)).model_dump(mode="json")

    def at(address: str, config: SimulatorConfig) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=create_app(config), client=(address, 5000))
        return httpx.AsyncClient(transport=transport, base_url="http://sim")

    async with at("192.0.2.10", SimulatorConfig()) as remote:
        assert (await remote.put("/__sim/config", json=faults)).status_code == 403
        assert (await remote.post("/__sim/stats/reset")).status_code == 403
        assert (await remote.get("/__sim/config")).json()["faults"]["details"]["error_5xx_rate"] == 0.0
    async with at("127.0.0.1", SimulatorConfig()) as local:
        assert (await local.put("/__sim/config", json=faults)).status_code == 200
    async with at("127.0.0.1", SimulatorConfig(control=False)) as off:
        assert (await off.put("/__sim/config", json=faults)).status_code == 404
    assert SimulatorConfig.from_env({"DEMO_CRM_CONTROL": "false"}).control is False
