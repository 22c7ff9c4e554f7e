"""The run contract: job names, run tags, priorities and the typed request of every ad-hoc job.

Each request is the job's whole run config (a Dagster config mapping hands it to the job's ops), so
whoever launches a run builds the model and never names an op. The jobs themselves
(`orchestration/jobs.py`) take their names from here; a test checks both sides agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import dagster as dg
from pydantic import Field

#: The code location `workspace.yaml` (and `callaudit run`, compose) names.
CODE_LOCATION = "callaudit"
#: The name Dagster gives the repository of a code location's single `Definitions`.
REPOSITORY = "__repository__"

SYNC_SALES_DAY_JOB = "sync_sales_day"
TRANSCRIBE_SALES_DAY_JOB = "transcribe_sales_day"
AUDIT_SALES_DAY_JOB = "audit_sales_day"
FETCH_FICHES_JOB = "fetch_fiches_job"
TRANSCRIBE_FICHES_JOB = "transcribe_fiches_job"
AUDIT_FICHES_JOB = "audit_fiches_job"
AUTOMATION_RUN_JOB = "automation_run_job"
RERUN_AUDIT_STEP_JOB = "rerun_audit_step_job"
#: The assets of `SYNC_SALES_DAY_JOB`, partitioned by sales day (what a progressive fetch backfills).
SALES_DAY_ASSETS: tuple[str, ...] = ("sales_fiches", "fiche_details")

PRIORITY_TAG = "dagster/priority"
SOURCE_TAG = "app/source"
USER_TAG = "app/user"
REQUEST_ID_TAG = "app/request_id"
FETCH_JOB_TAG = "app/job_id"  # the progressive fetch a backfill serves
IDEMPOTENCY_TAG = "app/idempotency_key"
#: Prefix of the tags that say who asked for a run (published with `run.failed`).
APP_TAG_PREFIX = "app/"

Priority = Literal["low", "normal", "high"]
#: The QueuedRunCoordinator dequeues runs with a higher `dagster/priority` first, so a `high`
#: request overtakes queued `normal` and `low` ones (the original accepted a priority to no effect).
RUN_PRIORITY: dict[Priority, int] = {"high": 5, "normal": 0, "low": -5}


@dataclass(frozen=True)
class Origin:
    """Who asked for a run, and through what: it becomes the run's `app/*` tags."""

    source: str  # api | batch | automation | watchdog | demo …
    user_id: int | None = None
    request_id: str | None = None
    idempotency_key: str | None = None  # the client's `Idempotency-Key`, when it sent one


def run_tags(origin: Origin, priority: Priority = "normal") -> dict[str, str]:
    """Tags of a run: queue order, who asked, which request (for `run.failed`)."""
    tags = {PRIORITY_TAG: str(RUN_PRIORITY[priority]), SOURCE_TAG: origin.source}
    if origin.user_id is not None:
        tags[USER_TAG] = str(origin.user_id)
    if origin.request_id:
        tags[REQUEST_ID_TAG] = origin.request_id
    return tags


class JobRequest(dg.Config):
    """The run config of one ad-hoc job (`job_name`), given to the job as a whole."""

    job_name: ClassVar[str]

    def run_config(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class FetchFiches(JobRequest):
    job_name: ClassVar[str] = FETCH_FICHES_JOB

    fiche_ids: list[str] = Field(min_length=1, max_length=5000, description="CRM fiche ids")
    force: bool = Field(default=False, description="Refetch even fresh details (the refresh cooldown still applies)")


class TranscribeFiches(JobRequest):
    job_name: ClassVar[str] = TRANSCRIBE_FICHES_JOB

    fiche_ids: list[str] = Field(min_length=1, max_length=5000, description="CRM fiche ids")
    priority: Priority = Field(
        "normal", description="Carried on events and fiche status; launch with the matching `dagster/priority` tag"
    )
    force: bool = Field(default=False, description="Transcribe again recordings already transcribed")


class AuditFiches(JobRequest):
    job_name: ClassVar[str] = AUDIT_FICHES_JOB

    fiche_ids: list[str] = Field(min_length=1, max_length=5000, description="CRM fiche ids")
    scorecard_id: int = Field(description="Scorecard whose current version the fiches are audited with")
    use_rlm: bool = Field(
        default=False, description="Transcript tools mode instead of the whole transcript in the prompt"
    )
    force: bool = Field(default=True, description="Audit again even when an audit from the same inputs exists")
    trigger_source: str = Field(default="api", description="api | batch | automation | demo …, recorded on each audit")
    user_id: int | None = Field(default=None, description="The user who asked, recorded on each audit")


class RunAutomation(JobRequest):
    job_name: ClassVar[str] = AUTOMATION_RUN_JOB

    automation_run_id: int = Field(description="The automation run (its row holds the schedule's frozen configuration)")

    @property
    def idempotency_key(self) -> str:
        """One Dagster run per automation run, however often its launch is retried."""
        return f"automation-run:{self.automation_run_id}"


#: Carried by every Dagster run of an automation run, its value the run's id; `dagster.yaml` lets one such
#: Dagster run at a time execute it (a resume never runs beside the run it resumes).
AUTOMATION_RUN_TAG = "app/automation_run_id"

#: The highest `maxConcurrentRuns` of a schedule; `dagster.yaml` declares one run-queue limit per value.
MAX_CONCURRENT_SCHEDULE_RUNS = 5


def schedule_limit_tag(max_concurrent_runs: int) -> str:
    """The run-queue tag capping a schedule's runs at `max_concurrent_runs`, its value the schedule id.

    Dagster's tag concurrency limits apply one limit to every value of a key (`applyLimitPerUniqueValue`),
    so each cap has its key, limited to that cap in `dagster.yaml`: runs of one schedule queue, not overlap."""
    if not 1 <= max_concurrent_runs <= MAX_CONCURRENT_SCHEDULE_RUNS:
        raise ValueError(f"maxConcurrentRuns must be 1-{MAX_CONCURRENT_SCHEDULE_RUNS}, not {max_concurrent_runs}")
    return f"app/automation_schedule_limit_{max_concurrent_runs}"


def automation_tags(
    run_id: int,
    schedule_id: int,
    schedule_name: str,
    *,
    source: str,
    priority: str = "normal",
    max_concurrent_runs: int = 1,
) -> dict[str, str]:
    """What the Dagster UI shows of an automation run (its schedule, its record, what started it), and the tag
    that queues it behind the schedule's other runs beyond `max_concurrent_runs`."""
    return {
        SOURCE_TAG: source,
        AUTOMATION_RUN_TAG: str(run_id),
        "app/automation_schedule_id": str(schedule_id),
        "app/automation_schedule": schedule_name[:200],
        PRIORITY_TAG: str(RUN_PRIORITY.get(priority, 0)),  # type: ignore[call-overload]
        schedule_limit_tag(max_concurrent_runs): str(schedule_id),
    }


class RerunStep(JobRequest):
    job_name: ClassVar[str] = RERUN_AUDIT_STEP_JOB

    rerun_id: str = Field(min_length=1, max_length=32, description="The rerun's id, on its events and trail")
    audit_id: int = Field(ge=1)
    step_position: int = Field(ge=1, description="1-based step position")
    control_point_index: int | None = Field(None, ge=1, description="1-based; absent reruns the whole step")
    custom_instructions: str | None = Field(None, description="The user's instructions, put first in the prompt")
