"""Audit asset: the day's transcribed fiches audited against one scorecard, per (sales day, scorecard).

Incremental: a fiche already audited from the same inputs (scorecard version, transcript version,
auditor, model, prompt version, transcript mode) is skipped unless `force`; a fiche whose
transcription is not complete is never audited (it waits for the next run). `code_version`
follows the prompt and heuristic versions, so Dagster shows partitions audited with old prompts
as stale.

Honest figures: the metadata gives the partition's state after the run (`day_*`, read from the
tables) beside what this run did; a run that audited nothing records no materialization (the
partition keeps its state and figures), and the `audits_cover_the_day` check fails while fiches of
the day are not ready or not audited.
"""

import datetime as dt
from collections.abc import Iterator
from typing import Any

import dagster as dg
from pydantic import Field
from redis.asyncio import Redis as AsyncRedis

from assets.fiches import fiche_details
from assets.metadata import failures_table
from assets.partitions import DECLARED_AUDIT_PARTITIONS
from assets.stage import day_feed, run_stage
from assets.transcripts import transcripts
from callaudit.pools import LLM
from callaudit.settings import Settings
from domain import stages
from domain.audits.gating import GatingRules
from domain.audits.prompts import PROMPT_VERSION
from domain.audits.store import Trigger
from domain.audits.versions import HEURISTIC_VERSION
from domain.partitions import audits_left_running, day_audits
from domain.scorecards.service import ScorecardNotFound, current_spec
from resources.database import DatabaseResource, sync_session_factory
from resources.llm.resource import LlmResource
from resources.redis import RedisUnavailable
from resources.redis.resource import RedisResource
from services.auditing import AuditEngine, AuditReport, Outcome
from services.drain import Feed


class AuditRunConfig(dg.Config):
    force: bool = Field(False, description="Audit again fiches already audited from the same inputs")
    use_rlm: bool = Field(False, description="Transcript tools mode instead of the whole transcript in the prompt")


def gating_rules(settings: Settings) -> GatingRules:
    return GatingRules(enabled=settings.audit_evidence_gating, min_quote_chars=settings.audit_evidence_min_quote_chars)


def run_audits(
    llm: LlmResource,
    redis: RedisResource,
    database: DatabaseResource,
    fiches: list[str] | Feed,
    *,
    scorecard_id: int,
    trigger: Trigger,
    settings: Settings,
    use_rlm: bool = False,
    force: bool = False,
) -> AuditReport:
    """Audit the fiches (or a day run's `Feed`) in a fresh event loop; `dg.Failure` when nothing can run
    at all, or when fiches were left to another run still auditing them."""
    try:
        with database.session() as session:
            spec = current_spec(session, scorecard_id)
    except ScorecardNotFound as exc:
        raise dg.Failure(description=str(exc)) from None

    async def main(client_redis: AsyncRedis) -> AuditReport:
        async with llm.auditor(client_redis) as auditor:
            engine = AuditEngine(
                auditor,
                sync_session_factory(database.engine),
                redis.async_publisher(client_redis),
                rules=gating_rules(settings),
                trigger=trigger,
                step_concurrency=settings.audit_step_per_audit_concurrency,
                fiche_concurrency=settings.audit_run_concurrency,
                prompt_token_budget=settings.audit_prompt_token_budget,
            )
            return await engine.audit_fiches(fiches, spec, use_rlm=use_rlm, force=force)

    report = run_stage(redis, main, fatal=(RedisUnavailable,))
    in_flight = [f.fiche_id for f in report.fiches if f.outcome is Outcome.IN_FLIGHT]
    if in_flight:
        # Skipped work is not success: the caller (a retry, a manual launch) must not read "done".
        raise dg.Failure(
            description=f"{len(in_flight)} fiche(s) not audited: another run is auditing them "
            f"({', '.join(in_flight[:10])}{', ...' if len(in_flight) > 10 else ''})",
            metadata=report_metadata(report),
        )
    return report


def report_metadata(report: AuditReport) -> dict[str, Any]:
    return {**report.metadata(), "failures": failures_table(report.failures, "fiche")}


@dg.asset(
    partitions_def=DECLARED_AUDIT_PARTITIONS,
    # Dagster maps the `sales_day` dimension onto the daily transcripts partition by itself.
    deps=[transcripts],
    group_name="audits",
    # And what audits the day (`openai` or `heuristic`), added by `orchestration.definitions`.
    kinds={"python", "postgres"},
    output_required=False,
    code_version=f"{PROMPT_VERSION}+{HEURISTIC_VERSION}",
    pool=LLM,
)
def audits(  # noqa: PLR0917 - Dagster resources are parameters
    context: dg.AssetExecutionContext,
    config: AuditRunConfig,
    llm: LlmResource,
    redis: RedisResource,
    database: DatabaseResource,
    settings: dg.ResourceParam[Settings],
) -> Iterator[dg.MaterializeResult]:  # type: ignore[type-arg]
    """Audits of the day's fully transcribed fiches against one scorecard's current version.

    Every step of a fiche is analysed concurrently, every citation is checked against the
    transcript (unsupported claims downgraded), and the verdict is scored as the reference's §7.7.
    While a run fetching or transcribing the day is under way, fiches are taken as their transcription
    completes (`services.drain`); one another run is auditing is waited for, not audited twice.
    Metadata: counts by outcome, average score, levels, tokens and cost.
    """
    keys = context.partition_key.keys_by_dimension
    day = dt.date.fromisoformat(keys["sales_day"])
    scorecard_id = int(keys["scorecard"])
    feed = day_feed(context, database, settings, stages.transcribed(day), {fiche_details.key, transcripts.key})
    trigger = Trigger(source="asset", run_id=context.run.run_id)
    report = run_audits(
        llm,
        redis,
        database,
        feed,
        scorecard_id=scorecard_id,
        trigger=trigger,
        settings=settings,
        use_rlm=config.use_rlm,
        force=config.force,
    )
    if report.failures:
        context.log.warning("%d audit(s) failed; first: %s", len(report.failures), next(iter(report.failures.items())))
    with database.session() as session:
        day_state = day_audits(session, day, scorecard_id)
    if not report.completed and not report.failures:
        context.log.info(
            "nothing audited (%d unchanged, %d not ready, %d in flight): no materialization, the partition keeps "
            "its state",
            report.count(Outcome.UNCHANGED),
            report.count(Outcome.NOT_READY),
            report.count(Outcome.IN_FLIGHT),
        )
        return
    yield dg.MaterializeResult(
        metadata={**day_state.metadata(), "scorecard_id": scorecard_id, **report_metadata(report)}
    )


def _partition(context: dg.AssetCheckExecutionContext) -> tuple[dt.date, int]:
    tags = context.run.tags
    return dt.date.fromisoformat(tags["dagster/partition/sales_day"]), int(tags["dagster/partition/scorecard"])


@dg.asset_check(
    asset=audits, description="Every citation of the partition's latest audits is found in its fiche's transcript."
)
def audit_citations_located(context: dg.AssetCheckExecutionContext, database: DatabaseResource) -> dg.AssetCheckResult:
    from domain.audits.checks import unlocated_citations

    day, scorecard_id = _partition(context)
    with database.session() as session:
        total, bad = unlocated_citations(session, day=day, scorecard_id=scorecard_id)
    return dg.AssetCheckResult(
        passed=not bad,
        metadata={"citations": total, "unlocated": len(bad), "examples": dg.MetadataValue.json(bad[:10])},
    )


@dg.asset_check(
    asset=audits,
    description="Every fiche of the partition is transcribed and audited (a WARN names what is missing).",
)
def audits_cover_the_day(context: dg.AssetCheckExecutionContext, database: DatabaseResource) -> dg.AssetCheckResult:
    day, scorecard_id = _partition(context)
    with database.session() as session:
        state = day_audits(session, day, scorecard_id)
    return dg.AssetCheckResult(
        passed=state.not_ready == 0 and state.waiting == 0 and state.failed == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=state.metadata(),
    )


@dg.asset_check(asset=audits, description="No audit of this run was left running.")
def audits_settled(context: dg.AssetCheckExecutionContext, database: DatabaseResource) -> dg.AssetCheckResult:
    with database.session() as session:
        running = audits_left_running(session, context.run.run_id)
    return dg.AssetCheckResult(passed=not running, metadata={"running": running})
