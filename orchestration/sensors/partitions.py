"""Partition sensors: the dynamic `scorecard` dimension of the audits follows the scorecards."""

import dagster as dg

from assets.partitions import scorecards
from domain.scorecards.service import versioned_scorecard_ids
from resources.database import DatabaseResource


@dg.sensor(
    description="Keeps the `scorecard` partition dimension equal to the scorecards that have a version.",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def sync_scorecard_partitions(context: dg.SensorEvaluationContext, database: DatabaseResource) -> dg.SensorResult:
    with database.session() as session:
        wanted = {str(i) for i in versioned_scorecard_ids(session)}
    existing = set(context.instance.get_dynamic_partitions(scorecards.name or "scorecards"))
    requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
    if wanted - existing:
        requests.append(scorecards.build_add_request(sorted(wanted - existing)))
    if existing - wanted:
        requests.append(scorecards.build_delete_request(sorted(existing - wanted)))
    return dg.SensorResult(dynamic_partitions_requests=requests)
