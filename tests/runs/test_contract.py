"""The run contract and the jobs agree: every request model is its job's whole, valid run config."""

from __future__ import annotations

import dagster as dg
import pytest

from orchestration.definitions import defs
from orchestration.jobs import (
    audit_fiches_job,
    automation_run_job,
    fetch_fiches_job,
    sync_sales_day_job,
    transcribe_fiches_job,
)
from orchestration.reruns import rerun_audit_step_job
from runs.contract import (
    SALES_DAY_ASSETS,
    AuditFiches,
    FetchFiches,
    JobRequest,
    Origin,
    RerunStep,
    RunAutomation,
    TranscribeFiches,
    run_tags,
)
from runs.launch import job_launch

#: The jobs as defined (unbound: validating against them needs no resource's environment).
JOBS = {
    job.name: job
    for job in (fetch_fiches_job, transcribe_fiches_job, audit_fiches_job, automation_run_job, rerun_audit_step_job)
}
REQUESTS: list[JobRequest] = [
    FetchFiches(fiche_ids=["F-1"], force=True),
    TranscribeFiches(fiche_ids=["F-1", "F-2"], priority="low"),
    AuditFiches(fiche_ids=["F-1"], scorecard_id=3, use_rlm=True, trigger_source="batch", user_id=7),
    RunAutomation(automation_run_id=12),
    RerunStep(rerun_id="r-1", audit_id=4, step_position=2, control_point_index=1, custom_instructions="x"),
]


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: r.job_name)
def test_each_request_is_a_valid_run_config_of_its_job(request_: JobRequest) -> None:
    assert request_.job_name in {job.name for job in defs().jobs or []}
    assert dg.validate_run_config(JOBS[request_.job_name], request_.run_config())


def test_a_run_config_naming_ops_is_refused() -> None:
    """Launchers must not depend on op names: the job-level shape is the only one accepted."""
    ops_shaped = {"ops": {"transcribe_given_fiches": {"config": {"fiche_ids": ["F-1"]}}}}
    with pytest.raises(dg.DagsterInvalidConfigError):
        dg.validate_run_config(JOBS[TranscribeFiches.job_name], ops_shaped)


def test_every_op_of_the_audit_job_gets_the_same_request() -> None:
    request = AuditFiches(fiche_ids=["F-1"], scorecard_id=3, trigger_source="watchdog")
    resolved = dg.validate_run_config(JOBS[AuditFiches.job_name], request.run_config())
    configs = [op["config"] for op in resolved["ops"].values()]
    assert len(configs) == 2
    assert all(config == request.run_config() for config in configs)


def test_the_sales_day_backfill_selects_the_sync_jobs_assets() -> None:
    job = defs().resolve_job_def(sync_sales_day_job.name)
    assert {key.to_user_string() for key in job.asset_layer.executable_asset_keys} == set(SALES_DAY_ASSETS)


def test_tags_say_who_asked_and_in_which_order_the_queue_serves_it() -> None:
    origin = Origin(source="api", user_id=7, request_id="r-1", idempotency_key="k")
    assert run_tags(origin, "high") == {
        "dagster/priority": "5",
        "app/source": "api",
        "app/user": "7",
        "app/request_id": "r-1",
    }
    assert run_tags(Origin(source="automation"), "low") == {"dagster/priority": "-5", "app/source": "automation"}


def test_a_launch_carries_the_request_origin_and_client_key() -> None:
    request = TranscribeFiches(fiche_ids=["F-1"], priority="high")
    launch = job_launch(request, Origin(source="api", idempotency_key="k-1"), request.priority)
    assert (launch.job_name, launch.run_config, launch.idempotency_key) == (
        "transcribe_fiches_job",
        {"fiche_ids": ["F-1"], "priority": "high", "force": False},
        "k-1",
    )
    assert launch.tags["dagster/priority"] == "5"
