"""Building clients from the Dagster resource and from the API's settings."""

from __future__ import annotations

import dagster as dg
import httpx
import pytest

from callaudit.settings import load_settings
from resources.crm import CrmClient
from resources.crm.resource import CrmResource
from resources.redis.resource import RedisResource
from tests.fixtures.standins.crm import details_body


def test_resource_builds_a_configured_client(redis_url, redis_client, monkeypatch):
    monkeypatch.setenv("TEST_CRM_TOKEN", "env-token")
    seen: list[httpx.Request] = []

    def gateway(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=details_body("7"))

    @dg.asset
    async def fiche(crm: CrmResource, redis: RedisResource) -> dg.MaterializeResult[None]:
        aredis = redis.async_client()
        async with crm.client(aredis, transport=httpx.MockTransport(gateway)) as client:
            await client.fiche_details("7")
            assert client.config.fetch_concurrency == 2
            assert client.config.details_budget == 9
        await aredis.aclose()
        return dg.MaterializeResult(metadata=client.metrics.as_metadata())

    token = dg.EnvVar("TEST_CRM_TOKEN")
    crm = CrmResource(base_url="http://gw.test/", auth_token=token, fetch_concurrency=2, details_budget_seconds=9)
    result = dg.materialize([fiche], resources={"crm": crm, "redis": RedisResource(url=redis_url)})
    assert result.success
    [materialization] = result.asset_materializations_for_node("fiche")
    assert materialization.metadata["crm_requests"] == dg.IntMetadataValue(1)
    assert str(seen[0].url).startswith("http://gw.test/api/fiches/by-id/7?")
    assert seen[0].headers["Authorization"] == "Bearer env-token"


def test_resource_config_is_validated():
    with pytest.raises(ValueError, match="not_found_attempts"):
        CrmResource(base_url="http://gw.test", max_attempts=2, not_found_attempts=3).config()


@pytest.mark.parametrize(
    ("overrides", "base_url"),
    [
        ({"fiche_api_base_url": "https://gw.example/api/"}, "https://gw.example/api"),
        ({"demo_crm_port": 8123}, "http://127.0.0.1:8123/api"),  # unset: the local demo simulator
    ],
)
async def test_from_settings(aredis, monkeypatch, overrides, base_url):
    for name in ("FICHE_API_BASE_URL", "FICHE_API_URL", "FICHE_API_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(_env_file=None, fiche_api_auth_token="Bearer tok", fiche_fetch_concurrency=5, **overrides)
    async with CrmClient.from_settings(settings, aredis) as client:
        assert client.base_url == base_url
        assert client.config.fetch_concurrency == 5
        assert client.config.search_concurrency == 1
        assert client._http.headers["Authorization"] == "Bearer tok"
