"""Ingestion fixtures: the demo CRM simulator in a thread and the real Dagster resources."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from callaudit.demo_crm.config import FamilyFaults, Faults, SimulatorConfig
from callaudit.demo_crm.server import run_in_thread
from callaudit.settings import get_settings
from resources.crm.resource import CrmResource
from resources.database import DatabaseResource
from resources.redis.resource import RedisResource


def faulty(rate: float, *, latency_ms: float = 5.0, timeout_seconds: float = 1.5) -> FamilyFaults:
    """`rate` of the requests fail, spread evenly over 5xx, 429, timeouts and transient 404s."""
    share = rate / 4
    return FamilyFaults.model_validate(
        {
            "latency": {"distribution": "uniform", "mean_ms": latency_ms, "spread_ms": latency_ms / 2},
            "error_5xx_rate": share,
            "rate_limit_rate": share,
            "retry_after_seconds": 0,
            "timeout_rate": share,
            "timeout_seconds": timeout_seconds,
            "transient_404_rate": share,
        }
    )


class Simulator:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.base_url}/__sim/stats", timeout=5)
        return dict(response.json())

    def reset(self) -> None:
        httpx.post(f"{self.base_url}/__sim/stats/reset", timeout=5)

    def configure(self, faults: Faults) -> None:
        response = httpx.put(f"{self.base_url}/__sim/config", json=faults.model_dump(mode="json"), timeout=5)
        response.raise_for_status()

    def details(self, fiche_id: str) -> dict[str, Any]:
        self.configure(Faults())
        return dict(httpx.get(f"{self.base_url}/api/fiches/by-id/{fiche_id}", timeout=5).json())


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with run_in_thread(SimulatorConfig(seed=7, fiches_per_day=10)) as url:
        yield Simulator(url)


@pytest.fixture
def crm_resources(
    simulator: Simulator, database_url: str, redis_url: str, redis_client: Any, clean_tables: None
) -> dict[str, Any]:
    """Real resources, with retry timings shrunk so fault-injected runs take seconds."""
    return {
        "crm": CrmResource(
            base_url=simulator.base_url,
            details_timeout_seconds=0.8,
            search_timeout_seconds=0.8,
            details_budget_seconds=30,
            search_budget_seconds=30,
            max_attempts=10,
            not_found_attempts=5,
            backoff_base_seconds=0.02,
            backoff_cap_seconds=0.1,
        ),
        "redis": RedisResource(url=redis_url),
        "database": DatabaseResource(url=database_url),
        "settings": get_settings(),
    }
