"""One regression test per item of reference §9.12 (the original's automation at HEAD), named after it.

Items 7, 8 and 11 are API behaviour (`tests/api/test_automation.py`, same names); the end to end run on
the simulator (`tests/orchestration/test_automation_schedules.py`) covers the real stages.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from callaudit.settings import get_settings
from domain.audits.store import Trigger
from domain.models import Audit
from domain.models.automation import AutomationLog, AutomationRun, AutomationRunFicheResult, AutomationSchedule
from domain.schedules.selection import DateRange, FicheSelection, local_today, selection_days
from tests.fixtures.schedules import DAY, Plan, harness, schedule, scorecards

pytestmark = pytest.mark.usefixtures("clean_tables")


def results(engine: Engine, run_id: int) -> dict[str, AutomationRunFicheResult]:
    with Session(engine) as session:
        rows = session.scalars(select(AutomationRunFicheResult).where(AutomationRunFicheResult.run_id == run_id))
        return {r.fiche_id: r for r in rows}


def the_run(engine: Engine, run_id: int) -> AutomationRun:
    with Session(engine) as session:
        return session.get_one(AutomationRun, run_id)


def test_9_12_01_every_selected_scorecard_runs_not_only_the_first(sync_engine: Engine) -> None:
    specific_a, specific_b, automatic = scorecards(sync_engine, 3, automatic=1)
    h = harness(sync_engine, {"F1": Plan(), "F2": Plan()})
    schedule_id = schedule(sync_engine, specific_audit_configs=[specific_a, specific_b], use_automatic_audits=True)
    run_id = h.run(schedule_id)
    audited = {(args[0][0], args[1]) for name, args in h.pipeline.calls if name == "audit"}
    assert {scorecard for _, scorecard in audited} == {specific_a, specific_b, automatic}
    rows = results(sync_engine, run_id)
    assert all(len(r.audit_ids) == 3 for r in rows.values())
    assert the_run(sync_engine, run_id).audits_run == 6


def test_9_12_02_automation_audits_are_made_like_manual_ones_and_linked_to_the_run(
    sync_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Dagster stage calls the very function `audit_fiches_job` calls (gating, tools mode, normalized
    rows), with the run and schedule on the trigger and the selection's `useRlm`."""
    import assets.audits
    import orchestration.jobs as module

    # The very function the manual launch's job (same module) calls.
    assert vars(module)["run_audits"] is assets.audits.run_audits
    seen: list[dict[str, object]] = []
    monkeypatch.setattr(module, "run_audits", lambda *args, **kwargs: seen.append(kwargs))
    context = type("Context", (), {"run_id": "dagster-1"})()
    pipeline = module.DagsterPipeline(
        context,
        crm=None,  # type: ignore[arg-type]
        stt=None,  # type: ignore[arg-type]
        llm=None,  # type: ignore[arg-type]
        redis=None,  # type: ignore[arg-type]
        database=None,  # type: ignore[arg-type]
        settings=get_settings(),
        automation_run_id=12,
        schedule_id=3,
    )
    pipeline.audit(["F1"], scorecard_id=7, use_rlm=True)
    [call] = seen
    trigger = call["trigger"]
    assert (call["scorecard_id"], call["use_rlm"], call["force"]) == (7, True, True)
    assert isinstance(trigger, Trigger)
    assert (trigger.source, trigger.automation_run_id, trigger.automation_schedule_id, trigger.run_id) == (
        "automation",
        12,
        3,
        "dagster-1",
    )


def test_9_12_03_ignored_fiches_are_recorded_with_their_reason_never_as_successes(sync_engine: Engine) -> None:
    [scorecard] = scorecards(sync_engine, 1)
    plans = {
        "F-OK": Plan(),
        "F-OTHER-GROUP": Plan(groupe="LDV Lyon", group_id="9"),
        "F-NO-CALL": Plan(recordings=0),
        "F-GONE": Plan(details="not_found"),
        "F-BIG": Plan(recordings=80),
    }
    h = harness(sync_engine, plans)
    schedule_id = schedule(
        sync_engine,
        specific_audit_configs=[scorecard],
        fiche_selection_groupes=["NCA R1"],
        fiche_selection_only_with_recordings=True,
        fiche_selection_max_recordings_per_fiche=60,
    )
    run_id = h.run(schedule_id)
    rows = results(sync_engine, run_id)
    assert set(rows) == set(plans)  # every fiche has a row; no "*" sentinel
    assert rows["F-OK"].status == "successful"
    assert {f: (r.status, r.ignore_reason) for f, r in rows.items() if f != "F-OK"} == {
        "F-OTHER-GROUP": ("ignored", "groupe not selected (LDV Lyon)"),
        "F-NO-CALL": ("ignored", "no recordings"),
        "F-GONE": ("ignored", "not found in the CRM"),
        "F-BIG": ("ignored", "too many recordings (80 > 60)"),
    }
    assert rows["F-BIG"].recordings_count == 80
    run = the_run(sync_engine, run_id)
    assert (run.total_fiches, run.successful_fiches, run.ignored_fiches, run.failed_fiches) == (5, 1, 4, 0)


def test_9_12_04_max_fiches_is_per_run_not_per_day(sync_engine: Engine) -> None:
    [scorecard] = scorecards(sync_engine, 1)
    second = DAY + dt.timedelta(days=1)
    plans = {f"A{i}": Plan() for i in range(3)} | {f"B{i}": Plan(day=second) for i in range(3)}
    h = harness(sync_engine, plans)
    schedule_id = schedule(
        sync_engine,
        specific_audit_configs=[scorecard],
        fiche_selection_max_fiches=4,
        fiche_selection_custom_end_date=second,
    )
    rows = results(sync_engine, h.run(schedule_id))
    assert sorted(f for f, r in rows.items() if r.status == "successful") == ["A0", "A1", "A2", "B0"]
    assert {r.ignore_reason for f, r in rows.items() if r.status == "ignored"} == {
        "not examined: maxFiches (4) reached"
    }


def test_9_12_04_use_rlm_skip_if_transcribed_and_priority_are_honoured(sync_engine: Engine) -> None:
    [scorecard] = scorecards(sync_engine, 1)
    h = harness(sync_engine, {"F1": Plan()})
    schedule_id = schedule(
        sync_engine,
        specific_audit_configs=[scorecard],
        fiche_selection_use_rlm=True,
        skip_if_transcribed=False,
        transcription_priority="high",
    )
    h.run(schedule_id)
    [(_, (ids, force, priority))] = [c for c in h.pipeline.calls if c[0] == "transcribe"]
    assert (ids, force, priority) == (["F1"], True, "high")
    [(_, (_, _, use_rlm))] = [c for c in h.pipeline.calls if c[0] == "audit"]
    assert use_rlm is True


def test_9_12_04_continue_on_error_off_stops_after_the_first_failed_batch(sync_engine: Engine) -> None:
    [scorecard] = scorecards(sync_engine, 1)
    second = DAY + dt.timedelta(days=1)
    plans = {"A1": Plan(details="failed"), "A2": Plan(), "B1": Plan(day=second)}
    h = harness(sync_engine, plans)
    schedule_id = schedule(
        sync_engine, specific_audit_configs=[scorecard], continue_on_error=False, fiche_selection_custom_end_date=second
    )
    rows = results(sync_engine, h.run(schedule_id))
    assert rows["A1"].status == "failed"
    assert rows["A2"].status == "successful"  # same batch as the failure
    assert (rows["B1"].status, rows["B1"].ignore_reason) == (
        "ignored",
        "run stopped after a failure (continueOnError is off)",
    )


def test_9_12_04_retry_failed_retries_up_to_max_retries(sync_engine: Engine) -> None:
    [scorecard] = scorecards(sync_engine, 1)
    plans = {"F-FLAKY": Plan(audit_fails=2), "F-BROKEN": Plan(audit_fails=9)}
    h = harness(sync_engine, plans)
    schedule_id = schedule(sync_engine, specific_audit_configs=[scorecard], retry_failed=True, max_retries=2)
    rows = results(sync_engine, h.run(schedule_id))
    assert (rows["F-FLAKY"].status, rows["F-FLAKY"].attempts) == ("successful", 3)
    assert (rows["F-BROKEN"].status, rows["F-BROKEN"].attempts) == ("failed", 3)
    assert "LLM timeout" in (rows["F-BROKEN"].error or "")
    assert h.pipeline.audit_attempts[("F-BROKEN", scorecard)] == 3


def test_9_12_05_one_fiche_failure_never_fails_the_run_and_a_rerun_notifies_once(sync_engine: Engine) -> None:
    [scorecard] = scorecards(sync_engine, 1)
    h = harness(sync_engine, {"F-OK": Plan(), "F-KO": Plan(details="failed")})
    schedule_id = schedule(sync_engine, specific_audit_configs=[scorecard])
    run_id = h.run(schedule_id)
    run = the_run(sync_engine, run_id)
    assert (run.status, run.successful_fiches, run.failed_fiches, run.error_message) == ("partial", 1, 1, None)
    assert h.events.names()[-1] == "automation.run.completed"
    # The Dagster run re-executed (a retry, a daemon restart): nothing is done or sent twice.
    calls = len(h.pipeline.calls)
    h.runner(run_id, schedule_id).execute()
    assert len(h.pipeline.calls) == calls
    assert [n.key for n in h.notifier.emails] == [f"automation-run:{run_id}:email:qualite@example.test"]
    assert [n.key for n in h.notifier.webhooks] == [f"automation-run:{run_id}:webhook"]


def test_9_12_05_a_run_that_fails_as_a_whole_says_why_once_even_when_re_executed(sync_engine: Engine) -> None:
    """The original rethrew to Inngest, whose retry re-sent the failure notices; here the failure is the
    run's record (status, error, schedule statistics, `automation.run.failed`) and a re-execution of the
    Dagster run leaves it as it is."""
    h = harness(sync_engine, {"F1": Plan()})
    schedule_id = schedule(sync_engine, specific_audit_configs=[987654])  # no such scorecard
    run_id = h.run(schedule_id)
    run = the_run(sync_engine, run_id)
    error = "no active scorecard to audit with (specificAuditConfigs, useAutomaticAudits)"
    assert (run.status, run.error_message, run.total_fiches) == ("failed", error, 0)
    assert run.completed_at is not None
    assert h.events.names() == ["automation.run.started", "automation.run.failed"]
    assert h.events.published[-1][1]["error"] == error
    assert h.pipeline.calls == []  # nothing was fetched, transcribed nor audited
    with Session(sync_engine) as session:
        stats = session.get_one(AutomationSchedule, schedule_id)
        assert (stats.total_runs, stats.failed_runs, stats.last_run_status) == (1, 1, "failed")
        logs = session.scalars(select(AutomationLog.message).where(AutomationLog.run_id == run_id)).all()
    assert any("no active scorecard" in line for line in logs)

    h.runner(run_id, schedule_id).execute()  # the Dagster run retried
    assert h.events.names() == ["automation.run.started", "automation.run.failed"]
    assert [n.key for n in h.notifier.emails] == [f"automation-run:{run_id}:email:qualite@example.test"]
    assert [(n.key, n.event) for n in h.notifier.webhooks] == [
        (f"automation-run:{run_id}:webhook", "automation.run.failed")
    ]
    with Session(sync_engine) as session:
        assert session.get_one(AutomationSchedule, schedule_id).total_runs == 1


def test_9_12_05_a_run_interrupted_midway_resumes_without_duplicating_audits(sync_engine: Engine) -> None:
    [scorecard] = scorecards(sync_engine, 1)
    h = harness(sync_engine, {"F1": Plan(), "F2": Plan()})
    schedule_id = schedule(sync_engine, specific_audit_configs=[scorecard])
    from tests.fixtures.schedules import new_run

    run_id = new_run(sync_engine, schedule_id)
    h.pipeline.run_id, h.pipeline.schedule_id = run_id, schedule_id
    h.pipeline.audit(["F1"], scorecard_id=scorecard, use_rlm=False)  # what the killed run had done
    h.runner(run_id, schedule_id).execute()
    with Session(sync_engine) as session:
        audits = session.scalars(select(Audit.fiche_id).where(Audit.automation_run_id == run_id)).all()
    assert sorted(audits) == ["F1", "F2"]


def test_9_12_06_dates_are_computed_in_the_schedule_time_zone() -> None:
    # 23:30 UTC on 2 March is already 3 March in Paris (and still 2 March on a server clock in UTC).
    now = dt.datetime(2026, 3, 2, 23, 30, tzinfo=dt.UTC)
    paris_today = local_today(now, ZoneInfo("Europe/Paris"))
    assert paris_today == dt.date(2026, 3, 3)
    assert selection_days(FicheSelection(date_range=DateRange.YESTERDAY), paris_today) == [dt.date(2026, 3, 2)]
    assert local_today(now, ZoneInfo("America/Guadeloupe")) == dt.date(2026, 3, 2)


def test_9_12_09_notices_are_french_html_and_text_and_the_webhook_goes_to_the_outbox_port(sync_engine: Engine) -> None:
    [scorecard] = scorecards(sync_engine, 1)
    h = harness(sync_engine, {"F1": Plan(details="failed")})
    schedule_id = schedule(sync_engine, name="Ventes <NCA>", specific_audit_configs=[scorecard])
    run_id = h.run(schedule_id)
    [email] = h.notifier.emails
    assert email.subject == "Automatisation « Ventes <NCA> » : exécution en échec"
    assert "Ventes &lt;NCA&gt;" in email.html
    assert "<table>" in email.html
    assert "F1 : details: CRM answered 500" in email.text
    [hook] = h.notifier.webhooks
    assert (hook.event, hook.payload["status"]) == ("automation.run.failed", "failed")
    assert hook.payload["run_id"] == str(run_id)
    assert hook.payload["failures"] == [{"fiche_id": "F1", "error": "details: CRM answered 500"}]


def test_9_12_10_transcription_goes_through_the_shared_transcriber(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Dagster stage calls `assets.transcripts.transcribe_fiches` (Redis claims per recording, the
    provider's semaphore and backoff), not a second in-process implementation."""
    import assets.transcripts
    import orchestration.jobs as module

    assert vars(module)["transcribe_fiches"] is assets.transcripts.transcribe_fiches
    seen: list[tuple[list[str], dict[str, object]]] = []

    class Report:
        fiches: list[object] = []

    def fake(stt: object, redis: object, database: object, ids: list[str], **kwargs: object) -> Report:
        seen.append((ids, kwargs))
        return Report()

    monkeypatch.setattr(module, "transcribe_fiches", fake)
    context = type("Context", (), {"run_id": "dagster-1"})()
    pipeline = module.DagsterPipeline(
        context,
        crm=None,  # type: ignore[arg-type]
        stt=None,  # type: ignore[arg-type]
        llm=None,  # type: ignore[arg-type]
        redis=None,  # type: ignore[arg-type]
        database=None,  # type: ignore[arg-type]
        settings=get_settings(),
        automation_run_id=1,
        schedule_id=1,
    )
    pipeline.transcribe(["F1"], force=False, priority="low")
    assert seen == [(["F1"], {"force": False, "priority": "low", "run_id": "dagster-1"})]


def test_9_12_12_a_partially_transcribed_fiche_is_never_audited_silently(sync_engine: Engine) -> None:
    [scorecard] = scorecards(sync_engine, 1)
    h = harness(sync_engine, {"F-FULL": Plan(), "F-HALF": Plan(transcription="partial")})
    schedule_id = schedule(sync_engine, specific_audit_configs=[scorecard])
    rows = results(sync_engine, h.run(schedule_id))
    audited = [args[0] for name, args in h.pipeline.calls if name == "audit"]
    assert audited == [["F-FULL"]]
    assert rows["F-HALF"].status == "failed"
    assert rows["F-HALF"].error == "not audited, transcription partial: 1 recording failed: provider 503"
