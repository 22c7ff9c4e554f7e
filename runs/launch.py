"""Launch a stage's run and record it as queued in the application database at once.

A launch is visible before its run starts: transcriptions mark their fiches `queued` with the
run id, audits get a `pending` audit per fiche carrying it (which the run takes over). A refused
launch raises `LaunchFailed` (an `unavailable` domain error, saying what could not be started) and
records nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncSession

from domain.audits.store import Trigger, queue_audits
from domain.scorecards.service import current_spec
from domain.transcripts.store import record_queued
from runs.contract import (
    AuditFiches,
    JobRequest,
    Origin,
    Priority,
    RerunStep,
    RunAutomation,
    TranscribeFiches,
    run_tags,
)
from runs.launcher import JobLaunch, LaunchFailed, RunLauncher


def job_launch(request: JobRequest, origin: Origin, priority: Priority = "normal") -> JobLaunch:
    """The launch of `request`'s job: its whole run config, and the tags of `origin` and `priority`."""
    return JobLaunch(
        job_name=request.job_name,
        run_config=request.run_config(),
        tags=run_tags(origin, priority),
        idempotency_key=origin.idempotency_key,
    )


async def _launch(launcher: RunLauncher, launch: JobLaunch, what: str) -> str:
    try:
        return await launcher.launch_job(launch)
    except LaunchFailed as exc:
        raise LaunchFailed(f"The {what} could not be started: {exc}") from None


async def launch_transcription(
    session: AsyncSession, launcher: RunLauncher, request: TranscribeFiches, origin: Origin
) -> str:
    """One `transcribe_fiches_job` run, its fiches marked queued; its run id. A retried request
    (same `Idempotency-Key`, or the same launch still in flight) gets the same run."""
    run_id = await _launch(launcher, job_launch(request, origin, request.priority), "transcription")
    now = dt.datetime.now(dt.UTC)
    await session.run_sync(
        lambda s: record_queued(s, request.fiche_ids, run_id=run_id, priority=request.priority, now=now)
    )
    return run_id


@dataclass(frozen=True)
class AuditsQueued:
    run_id: str
    audit_ids: list[int]  # none for a fiche whose audit with the scorecard is already in flight


async def launch_audits(
    session: AsyncSession, launcher: RunLauncher, request: AuditFiches, origin: Origin, priority: Priority
) -> AuditsQueued:
    """One `audit_fiches_job` run, with a `pending` audit per fiche carrying its run id."""
    run_id = await _launch(launcher, job_launch(request, origin, priority), "audit")
    trigger = Trigger(source=request.trigger_source, user_id=request.user_id, run_id=run_id)
    audit_ids = await session.run_sync(
        lambda s: queue_audits(
            s, request.fiche_ids, current_spec(s, request.scorecard_id), trigger, use_rlm=request.use_rlm
        )
    )
    return AuditsQueued(run_id, audit_ids)


async def launch_automation(launcher: RunLauncher, request: RunAutomation, tags: dict[str, str]) -> str:
    """The Dagster run of an automation run whose row already exists (it records itself); its run id."""
    launch = JobLaunch(request.job_name, request.run_config(), tags, idempotency_key=request.idempotency_key)
    return await _launch(launcher, launch, "automation run")


async def launch_rerun(launcher: RunLauncher, request: RerunStep, origin: Origin) -> str:
    """One `rerun_audit_step_job` run, first in the queue (someone is waiting for it); its run id.
    The rerun's trail row is the caller's to write, with this run id."""
    launch = job_launch(request, origin, "high")
    tagged = replace(launch, tags={**launch.tags, "app/audit_id": str(request.audit_id)})
    return await _launch(launcher, tagged, "rerun")
