"""Maintenance sensors: the audit watchdog fails audits nobody will finish and audits those fiches again."""

import datetime as dt

import dagster as dg

from domain.audits.store import fail_stuck_audits, stale_pending_runs
from domain.events import Event, audit_topic, fiche_topic
from orchestration.jobs import audit_fiches_job
from resources.database import DatabaseResource
from resources.redis.resource import RedisResource
from runs.contract import SOURCE_TAG, AuditFiches

#: A running audit whose worker sent no heartbeat for this long is failed (a running audit's worker beats every 100 s).
STUCK_AFTER = dt.timedelta(minutes=30)


def _not_started(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Whether Dagster still holds the run in its queue (its pending audits are not stuck)."""
    run = instance.get_run_by_id(run_id)
    return run is not None and run.status in (
        dg.DagsterRunStatus.QUEUED,
        dg.DagsterRunStatus.NOT_STARTED,
        dg.DagsterRunStatus.STARTING,
    )


@dg.sensor(
    job=audit_fiches_job,
    description="Fails audits left running by a worker that died (no heartbeat for 30 minutes) and audits "
    "queued by a launch whose run ended or vanished without starting them, then audits those fiches again.",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def audit_watchdog(
    context: dg.SensorEvaluationContext, database: DatabaseResource, redis: RedisResource
) -> dg.SensorResult | None:
    now = dt.datetime.now(dt.UTC)
    stale_before = now - STUCK_AFTER
    with database.session() as session:
        pending = stale_pending_runs(session, stale_before=stale_before)
    queued = {run_id for run_id in pending if _not_started(context.instance, run_id)} if pending else set()
    with database.session() as session:
        failed = fail_stuck_audits(session, stale_before=stale_before, now=now, queued_runs=queued)
        stuck = [(a.id, a.fiche_id, a.scorecard_id) for a in failed]
        notices = [(a.id, a.fiche_id, a.run_id, a.error or "stuck") for a in failed]
    if not stuck:
        return None
    context.log.warning("failed %d stuck audit(s): %s", len(stuck), [audit_id for audit_id, *_ in stuck])
    client = redis.sync_client()
    try:
        publisher = redis.publisher(client)
        for audit_id, fiche_id, run_id, error in notices:
            payload = {
                "audit_id": audit_id,
                "fiche_id": fiche_id,
                "run_id": run_id,
                "error": error,
                "failed_phase": "watchdog",
                "failed_at": now,
                "status": "failed",
            }
            publisher.publish(audit_topic(audit_id), Event.AUDIT_FAILED, payload)
            publisher.publish(fiche_topic(fiche_id), Event.AUDIT_FAILED, payload)
    finally:
        client.close()
    return dg.SensorResult(run_requests=_reaudits(stuck))


def _reaudits(stuck: list[tuple[int, str, int]]) -> list[dg.RunRequest]:
    """One re-audit run per scorecard for the fiches whose audit died (else nothing audits them again);
    keyed by the failed audits, so a sensor tick evaluated twice launches once."""
    by_scorecard: dict[int, list[tuple[int, str]]] = {}
    for audit_id, fiche_id, scorecard_id in stuck:
        by_scorecard.setdefault(scorecard_id, []).append((audit_id, fiche_id))
    return [
        dg.RunRequest(
            run_key="watchdog:" + ",".join(str(audit_id) for audit_id, _ in sorted(pairs)),
            run_config=AuditFiches(
                fiche_ids=sorted({fiche_id for _, fiche_id in pairs}),
                scorecard_id=scorecard_id,
                force=True,
                trigger_source="watchdog",
            ).run_config(),
            tags={SOURCE_TAG: "watchdog"},
        )
        for scorecard_id, pairs in sorted(by_scorecard.items())
    ]
