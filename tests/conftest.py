"""The suite's root: shared fixtures are plugins of `tests/fixtures/` (one module per kind of fixture,
listed below), so a test in any folder gets them without importing a conftest.

`tests/fixtures/servers.py` holds the real Postgres and Redis; the list is kept by `retest.py` (every
module of `tests/fixtures/` that defines a fixture).
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings

pytest_plugins = [
    "tests.fixtures.audit_day",
    "tests.fixtures.crm_simulator",
    "tests.fixtures.dagster_stack",
    "tests.fixtures.day_storm",
    "tests.fixtures.deployment",
    "tests.fixtures.outbox",
    "tests.fixtures.servers",
    "tests.fixtures.uvicorn_server",
]

# Generation speed and per-example deadlines measure the machine, not the code: on CI's 2 shared
# cores a property test must not fail because a neighbour process took the CPU.
settings.register_profile("callaudit", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("callaudit")
