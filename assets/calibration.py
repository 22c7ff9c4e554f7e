"""Calibration asset: where the AI and the reviewers disagree, per (sales day, scorecard) like `audits`.

Reads the partition's reviewed audits (fiches of that sales day, that scorecard) and records the
AI-vs-human agreement, Cohen's kappa with its 95 % interval, the points most overridden and
disputed, as metadata a quality lead reads in the Dagster UI. Nothing is written to the tables:
the figures are recomputed from the trails, so a late review only needs a re-materialization.
"""

import datetime as dt

import dagster as dg

from assets.audits import audits
from assets.partitions import DECLARED_AUDIT_PARTITIONS
from callaudit.settings import Settings
from domain.audits.calibration import Agreement
from domain.audits.calibration_store import CalibrationFilters, calibration_report
from resources.database import DatabaseResource

CALIBRATION_VERSION = "calibration-1"


def _figures(agreement: Agreement) -> dict[str, float | int | None]:
    return {
        "points": agreement.n,
        "agreement": agreement.agreement,
        "kappa": agreement.kappa,
        "kappa_ci95_low": agreement.kappa_low,
        "kappa_ci95_high": agreement.kappa_high,
    }


@dg.asset(
    partitions_def=DECLARED_AUDIT_PARTITIONS,
    deps=[audits],
    group_name="audits",
    kinds={"python", "postgres"},
    code_version=CALIBRATION_VERSION,
)
def audit_calibration(
    context: dg.AssetExecutionContext, database: DatabaseResource, settings: dg.ResourceParam[Settings]
) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """AI-vs-human agreement on the partition's reviewed audits: observed agreement and Cohen's kappa (95 %
    interval) over the control points, confusion counts, and the control points most overridden and disputed.

    A quality lead reads here which points of the scorecard (or of its prompts) the reviewers correct most.
    """
    keys = context.partition_key.keys_by_dimension
    filters = CalibrationFilters(
        scorecard_id=int(keys["scorecard"]),
        sales_day=dt.date.fromisoformat(keys["sales_day"]),
        timezone=settings.sales_timezone,
    )
    with database.session() as session:
        report = calibration_report(session, filters)
    return dg.MaterializeResult(
        metadata={
            "reviewed_audits": report.audits,
            **_figures(report.overall),
            "confusion": dg.MetadataValue.json(report.overall.confusion),
            "most_overridden": dg.MetadataValue.json(report.most_overridden),
            "most_disputed": dg.MetadataValue.json(report.most_disputed),
            "per_point": dg.MetadataValue.json(
                [{k: v for k, v in p.items() if k != "confusion"} for p in report.points]
            ),
        }
    )
