"""Every partitions definition, in one module imported by assets, jobs and schedules.

Sales days, not fiches, are the unit Dagster tracks (ARCHITECTURE.md, decision 1): a day of
thousands of fiches is one partition; per-fiche state lives in the application tables.

The sales days depend on the deployment (SALES_PARTITIONS_START, SALES_TIMEZONE), which is not read
at import: the assets are declared with the settings' defaults (`DECLARED_SALES_DAYS`), and
`for_deployment` puts the deployment's in their place when `orchestration.definitions` builds the
definitions.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from callaudit.settings import Settings


def sales_days(start: dt.date, timezone: str) -> dg.DailyPartitionsDefinition:
    """One partition per sales day in the business time zone; `end_offset=1` makes today's (still
    growing) day a partition, so the refresh schedule can materialize it."""
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone=timezone, end_offset=1)


def sales_weeks(start: dt.date, timezone: str) -> dg.WeeklyPartitionsDefinition:
    """Weeks from Monday, in the business time zone: the agents' weekly views."""
    return dg.WeeklyPartitionsDefinition(start_date=start.isoformat(), timezone=timezone, day_offset=1)


#: Scorecard ids (as strings); kept in step with the active scorecards by the
#: `sync_scorecard_partitions` sensor, so a new scorecard can be backfilled from the UI.
scorecards = dg.DynamicPartitionsDefinition(name="scorecards")


def audit_partitions(days: dg.DailyPartitionsDefinition) -> dg.MultiPartitionsDefinition:
    """Audits: one partition per (sales day, scorecard); never per fiche (ARCHITECTURE.md, decision 1)."""
    return dg.MultiPartitionsDefinition({"sales_day": days, "scorecard": scorecards})


#: What the assets are declared with: the settings' defaults, not the environment's.
DECLARED_SALES_DAYS = sales_days(
    Settings.model_fields["sales_partitions_start"].default, Settings.model_fields["sales_timezone"].default
)
DECLARED_AUDIT_PARTITIONS = audit_partitions(DECLARED_SALES_DAYS)
DECLARED_SALES_WEEKS = sales_weeks(
    Settings.model_fields["sales_partitions_start"].default, Settings.model_fields["sales_timezone"].default
)


def for_deployment(asset: dg.AssetsDefinition, settings: Settings) -> dg.AssetsDefinition:
    """The asset with the deployment's sales days in place of the declared ones."""
    days = sales_days(settings.sales_partitions_start, settings.sales_timezone)
    deployed = {
        DECLARED_SALES_DAYS: days,
        DECLARED_AUDIT_PARTITIONS: audit_partitions(days),
        DECLARED_SALES_WEEKS: sales_weeks(settings.sales_partitions_start, settings.sales_timezone),
    }

    def swap(spec: dg.AssetSpec) -> dg.AssetSpec:
        declared = spec.partitions_def
        if declared is None or declared not in deployed:
            return spec
        return spec.replace_attributes(partitions_def=deployed[declared])

    return asset.map_asset_specs(swap)
