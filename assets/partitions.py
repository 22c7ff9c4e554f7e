"""Every partitions definition, in one module imported by assets, jobs and schedules.

Sales days, not fiches, are the unit Dagster tracks (ARCHITECTURE.md, decision 1): a day of
thousands of fiches is one partition; per-fiche state lives in the application tables.
"""

from __future__ import annotations

import dagster as dg

from callaudit.settings import get_settings

_settings = get_settings()

#: One partition per sales day in the business time zone; `end_offset=1` makes today's (still
#: growing) day a partition, so the refresh schedule can materialize it.
sales_days = dg.DailyPartitionsDefinition(
    start_date=_settings.sales_partitions_start.isoformat(),
    timezone=_settings.sales_timezone,
    end_offset=1,
)

#: Weeks from Monday, in the business time zone: the agents' weekly views.
sales_weeks = dg.WeeklyPartitionsDefinition(
    start_date=_settings.sales_partitions_start.isoformat(),
    timezone=_settings.sales_timezone,
    day_offset=1,
)

#: Scorecard ids (as strings); kept in step with the active scorecards by the
#: `sync_scorecard_partitions` sensor, so a new scorecard can be backfilled from the UI.
scorecards = dg.DynamicPartitionsDefinition(name="scorecards")

#: Audits: one partition per (sales day, scorecard); never per fiche (ARCHITECTURE.md, decision 1).
audit_partitions = dg.MultiPartitionsDefinition({"sales_day": sales_days, "scorecard": scorecards})
