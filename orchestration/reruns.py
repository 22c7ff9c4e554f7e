"""Ad-hoc job: rerun one step (or one control point of it) of one audit, from `POST .../rerun`.

One run per rerun, in pool `llm` like audits, so reruns queue behind the model's caps instead of
piling up. The run's id is stored on the revision it makes and on the rerun's result, so the
audit's logs and the Dagster UI lead to each other. A rerun that could not be made (no such
point, analysis failed, audit deleted meanwhile) is recorded as failed, then fails the run.
"""

from typing import Any

import dagster as dg
from redis.asyncio import Redis as AsyncRedis

from assets.audits import gating_rules
from callaudit.pools import LLM
from callaudit.settings import Settings
from domain.audits.reruns import RerunOutcome, RerunRequest
from resources.database import DatabaseResource, sync_session_factory
from resources.llm.resource import LlmResource
from resources.redis import RedisUnavailable
from resources.redis.resource import RedisResource
from runs.contract import RERUN_AUDIT_STEP_JOB, SOURCE_TAG, RerunStep
from services.reruns import Reruns


@dg.op(pool=LLM, description="Rerun one audit step (or one control point) and store it as the step's next revision.")
def rerun_audit_step(  # noqa: PLR0917 - Dagster resources are parameters
    context: dg.OpExecutionContext,
    config: RerunStep,
    llm: LlmResource,
    redis: RedisResource,
    database: DatabaseResource,
    settings: dg.ResourceParam[Settings],
) -> dg.Output[dict[str, object]]:
    request = RerunRequest(
        rerun_id=config.rerun_id,
        audit_id=config.audit_id,
        position=config.step_position,
        control_point_index=config.control_point_index,
        instructions=config.custom_instructions,
    )

    async def main(client: AsyncRedis) -> RerunOutcome:
        async with llm.auditor(client) as auditor:
            reruns = Reruns(
                auditor,
                sync_session_factory(database.engine),
                redis.async_publisher(client),
                rules=gating_rules(settings),
                run_id=context.run_id,
                prompt_token_budget=settings.audit_prompt_token_budget,
            )
            return await reruns.rerun(request)

    try:
        outcome = redis.run(main)
    except RedisUnavailable as exc:
        raise dg.Failure(description=str(exc)) from None
    metadata: dict[str, Any] = {
        "audit_id": config.audit_id,
        "step_position": config.step_position,
        "status": outcome.status,
    }
    if outcome.status != "completed":
        raise dg.Failure(description=f"rerun {config.rerun_id} not made: {outcome.error}", metadata=metadata)
    comparison = outcome.comparison
    context.log.info(
        "audit %s step %s: revision %s, score %s -> %s",
        config.audit_id,
        config.step_position,
        outcome.revision,
        comparison["step_score"]["previous"],
        comparison["step_score"]["next"],
    )
    return dg.Output(
        {"rerun_id": outcome.rerun_id, "revision": outcome.revision},
        metadata={
            **metadata,
            "revision": outcome.revision,
            "score_before": comparison["step_score"]["previous"],
            "score_after": comparison["step_score"]["next"],
            "citations_added": len(comparison["citations_added"]),
            "citations_removed": len(comparison["citations_removed"]),
        },
    )


@dg.config_mapping
def _rerun_request(request: RerunStep) -> dg.RunConfig:
    return dg.RunConfig(ops={rerun_audit_step.name: request})


@dg.job(
    name=RERUN_AUDIT_STEP_JOB,
    config=_rerun_request,
    description="Ad-hoc: rerun one audit step or control point (`POST /api/audits/{id}/steps/{n}/rerun`); the result "
    "is a new revision of the step and the audit's score is recomputed.",
    tags={SOURCE_TAG: "rerun"},
)
def rerun_audit_step_job() -> None:
    rerun_audit_step()
