"""The Dagster stages of an automation run: which credentials and functions they use."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

import orchestration.jobs as module
from callaudit.settings import get_settings
from resources.crm.resource import CrmResource


class _Result:
    fiches, created = 3, 1


def test_sales_searches_use_the_schedule_crm_token_and_details_the_deployment_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    used: list[str | None] = []

    def fake_run_with_crm(crm: CrmResource, *args: Any, **kwargs: Any) -> tuple[tuple[_Result, int], dict[str, Any]]:
        used.append(crm.auth_token)
        return (_Result(), 0), {}

    monkeypatch.setattr(module, "run_with_crm", fake_run_with_crm)
    events: list[object] = []
    context = type("Context", (), {"run_id": "d-1", "log_event": lambda self, event: events.append(event)})()
    crm = CrmResource(base_url="http://crm.test", auth_token="deployment-token")
    pipeline = module.DagsterPipeline(
        context,
        crm=crm,
        stt=None,  # type: ignore[arg-type]
        llm=None,  # type: ignore[arg-type]
        redis=None,  # type: ignore[arg-type]
        database=None,  # type: ignore[arg-type]
        settings=get_settings(),
        automation_run_id=1,
        schedule_id=1,
        crm_token="schedule-token",
    )
    pipeline.sync_day(dt.date(2026, 3, 2))
    assert used == ["schedule-token"]
    assert pipeline.crm.auth_token == "deployment-token"  # details and everything else: the deployment's
    assert len(events) == 1  # the day's sales_fiches partition materialization
