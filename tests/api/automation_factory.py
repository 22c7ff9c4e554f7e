"""Automation rows for API tests, written through the ORM: a schedule of one CRM group and a run of it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain.models import AutomationLog, AutomationRun, AutomationRunFicheResult, AutomationSchedule


async def add_schedule(session: AsyncSession, group_id: str | None, **fields: Any) -> int:
    """A DAILY 07:00 Paris schedule auditing yesterday's sales of `group_id` (None: every group)."""
    values: dict[str, Any] = {
        "name": f"Ventes {group_id or 'toutes'}",
        "schedule_type": "DAILY",
        "cron_expression": "0 7 * * *",
        "timezone": "Europe/Paris",
        "time_of_day": "07:00",
        "fiche_selection_mode": "date_range",
        "fiche_selection_date_range": "yesterday",
        "fiche_selection_groupes": [group_id] if group_id else [],
        "scope_group_ids": [group_id] if group_id else [],
        **fields,
    }
    schedule = AutomationSchedule(**values)
    session.add(schedule)
    await session.flush()
    return schedule.id


async def add_run(session: AsyncSession, schedule_id: int, **fields: Any) -> int:
    """A completed run with one successful and one ignored fiche, and two log lines."""
    run = AutomationRun(
        schedule_id=schedule_id,
        status="completed",
        trigger="manual",
        started_at=dt.datetime(2026, 6, 1, 5, tzinfo=dt.UTC),
        completed_at=dt.datetime(2026, 6, 1, 5, 3, tzinfo=dt.UTC),
        total_fiches=2,
        successful_fiches=1,
        ignored_fiches=1,
        audits_run=2,
        transcriptions_run=3,
        **fields,
    )
    session.add(run)
    await session.flush()
    session.add_all(
        [
            AutomationRunFicheResult(run_id=run.id, fiche_id="F-1", status="successful", transcribed=3, audit_ids=[]),
            AutomationRunFicheResult(
                run_id=run.id, fiche_id="F-2", status="ignored", ignore_reason="no recordings", recordings_count=0
            ),
            AutomationLog(run_id=run.id, level="info", message="Run started", metadata_={}),
            AutomationLog(run_id=run.id, level="warning", message="F-2 ignored", metadata_={"fiche_id": "F-2"}),
        ]
    )
    await session.flush()
    return run.id
