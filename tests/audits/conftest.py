"""Audit fixtures: a transcribed demo day in the real database, and the demo scorecard."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from assets.fiches import fiche_details, sales_fiches
from assets.transcripts import transcripts
from domain.models import FicheTranscription
from domain.scorecards.service import demo_document, import_document
from resources.llm.resource import LlmResource
from resources.stt.resource import SttResource
from tests.ingest.conftest import Simulator, crm_resources, simulator  # noqa: F401 - fixtures

DAY = "2026-03-02"


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


@pytest.fixture
def audit_resources(crm_resources: dict[str, Any], simulator: Simulator) -> dict[str, Any]:  # noqa: F811
    stt = SttResource(provider="reference", reference_base_url=simulator.base_url, concurrency=4, max_attempts=2)
    return {**crm_resources, "stt": stt, "llm": LlmResource(kind="heuristic")}


@pytest.fixture
def transcribed_day(audit_resources: dict[str, Any], sync_engine: Engine) -> list[str]:
    """The simulator's day ingested and transcribed; the ids of the fiches ready to audit."""
    assert dg.materialize([sales_fiches, fiche_details], partition_key=DAY, resources=audit_resources).success
    assert dg.materialize([transcripts], partition_key=DAY, resources=audit_resources).success
    with Session(sync_engine) as session:
        return sorted(
            session.scalars(select(FicheTranscription.fiche_id).where(FicheTranscription.status == "complete"))
        )


@pytest.fixture
def scorecard_id(sync_engine: Engine, clean_tables: None) -> int:
    with Session(sync_engine) as session, session.begin():
        return import_document(session, demo_document()).scorecard.id
