"""One automation run, start to finish: select, ingest, transcribe, audit, record, notify (reference §9.5-9.9).

The stages go through ports (`Pipeline`: the same CRM sync, transcription and audit code, caps and
locks as every other run; `Events`; `RunNotifier`) so this flow is tested without Dagster; the
Dagster op (`orchestration/jobs.py`) plugs in the real ones.

Work is batched per sales day (manual ids: one batch): a day's fiches get their details, then their
transcriptions, then one audit call per scorecard, each over the whole batch. What each fiche went
through is recorded on it; a fiche's failure never fails the run (only an error outside any fiche
does), and a fiche whose transcription is incomplete is never audited: it is failed with the reason.

Re-executing a run (a Dagster retry, a daemon restart) is safe: a finished run returns at once; an
unfinished one starts over, and audits this run already completed are reused, not made again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from domain.models.audits import Audit, AuditStatus
from domain.models.automation import (
    FINISHED_RUN_STATUSES,
    AutomationRun,
    AutomationRunFicheResult,
    AutomationSchedule,
    FicheResultStatus,
    LogLevel,
    RunStatus,
)
from domain.models.fiches import Fiche, FicheFetchStatus
from domain.models.scorecards import Scorecard
from domain.models.transcripts import FicheTranscription, FicheTranscriptionStatus
from domain.schedules.notifications import RunNotifier, RunSummary, notices, wanted
from domain.schedules.results import FicheOutcome, Tally
from domain.schedules.selection import (
    Candidate,
    FicheSelection,
    SelectionMode,
    effective_max_recordings,
    local_today,
    scorecards_to_run,
    screen_after_details,
    screen_before_details,
    selection_days,
    split_ids,
)
from domain.schedules.store import add_log, finish_run, save_results, selection_from_json

#: CRM outcomes of a details fetch that leave the fiche without details.
_NOT_FOUND = ("not_found", "not_found_cached")


class Pipeline(Protocol):
    """The stages, each over a batch, with the caps, locks and throttles every run uses."""

    def sync_day(self, day: dt.date) -> None:
        """Search the CRM's sales of the day and record them (raises when the search fails)."""
        ...

    def fetch_details(self, fiche_ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
        """Details cache-first; per fiche its outcome (`fetched`, `cached`, `not_found`, `failed`...) and reason."""
        ...

    def transcribe(self, fiche_ids: Sequence[str], *, force: bool, priority: str) -> dict[str, int]:
        """Transcribe what the fiches miss (everything with `force`); recordings transcribed per fiche."""
        ...

    def audit(self, fiche_ids: Sequence[str], *, scorecard_id: int, use_rlm: bool) -> None:
        """Audit the fiches with the scorecard, linked to this run (outcomes are read back from the audits)."""
        ...


class DebugLog(Protocol):
    """Where a run's log lines are mirrored besides the table (`AUTOMATION_DEBUG_LOG_TO_FILE`)."""

    def __call__(self, when: dt.datetime, level: LogLevel, message: str, metadata: Mapping[str, Any]) -> None: ...


class Events(Protocol):
    def publish(self, event: str, payload: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class RunSettings:
    max_recordings_per_fiche: int
    batch_size: int = 200  # details fetched per round when filling `maxFiches`


@dataclass
class _Config:
    """The run's frozen configuration (its snapshot)."""

    selection: FicheSelection
    scope_group_ids: tuple[str, ...]
    timezone: str
    run_transcription: bool
    skip_if_transcribed: bool
    priority: str
    run_audits: bool
    use_automatic_audits: bool
    specific: list[int]
    continue_on_error: bool
    retry_failed: bool
    max_retries: int
    notify_on_complete: bool
    notify_on_error: bool
    webhook_url: str | None
    emails: list[str]

    @classmethod
    def of(cls, snapshot: dict[str, Any]) -> _Config:
        return cls(
            selection=selection_from_json(snapshot.get("ficheSelection") or {}),
            scope_group_ids=tuple(snapshot.get("scopeGroupIds") or ()),
            timezone=snapshot.get("timezone") or "UTC",
            run_transcription=snapshot.get("runTranscription", True),
            skip_if_transcribed=snapshot.get("skipIfTranscribed", True),
            priority=snapshot.get("transcriptionPriority") or "normal",
            run_audits=snapshot.get("runAudits", True),
            use_automatic_audits=snapshot.get("useAutomaticAudits", True),
            specific=[int(i) for i in snapshot.get("specificAuditConfigs") or []],
            continue_on_error=snapshot.get("continueOnError", True),
            retry_failed=snapshot.get("retryFailed", False),
            max_retries=int(snapshot.get("maxRetries") or 0),
            notify_on_complete=snapshot.get("notifyOnComplete", True),
            notify_on_error=snapshot.get("notifyOnError", True),
            webhook_url=snapshot.get("webhookUrl"),
            emails=list(snapshot.get("notifyEmails") or []),
        )


class RunFailed(Exception):
    """The run itself could not go on (not one fiche's failure)."""


class AutomationRunner:
    def __init__(
        self,
        run_id: int,
        *,
        sessions: sessionmaker[Session],
        pipeline: Pipeline,
        events: Events,
        notifier: Callable[[Session], RunNotifier],
        settings: RunSettings,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        dagster_run_id: str | None = None,
        debug_log: DebugLog | None = None,
    ) -> None:
        self.run_id = run_id
        self.sessions = sessions
        self.pipeline = pipeline
        self.events = events
        self.notifier = notifier
        self.settings = settings
        self.clock = clock
        self.dagster_run_id = dagster_run_id
        self.debug_log = debug_log
        self.outcomes: dict[str, FicheOutcome] = {}
        self.schedule_id = 0
        self.schedule_name = ""

    # --- records ----------------------------------------------------------------------------------

    def log(self, level: LogLevel, message: str, **metadata: Any) -> None:
        with self.sessions.begin() as session:
            self._log(session, level, message, metadata)

    def _log(self, session: Session, level: LogLevel, message: str, metadata: dict[str, Any]) -> None:
        add_log(session, self.run_id, level, message, metadata)
        if self.debug_log is not None:
            self.debug_log(self.clock(), level, message, metadata)

    def publish(self, event: str, **payload: Any) -> None:
        base = {
            "job_id": f"automation-run-{self.run_id}",
            "run_id": str(self.run_id),
            "schedule_id": str(self.schedule_id),
        }
        self.events.publish(event, {**base, **payload})

    def _outcome(self, fiche_id: str) -> FicheOutcome:
        return self.outcomes.setdefault(fiche_id, FicheOutcome(fiche_id))

    def ignore(self, fiche_id: str, reason: str, recordings: int | None = None) -> None:
        outcome = self._outcome(fiche_id)
        outcome.ignore(reason)
        outcome.recordings = recordings if recordings is not None else outcome.recordings

    # --- the run ----------------------------------------------------------------------------------

    def execute(self) -> RunStatus:
        """Run to the end; the final status. A run already finished is left as it is."""
        with self.sessions.begin() as session:
            run = session.get_one(AutomationRun, self.run_id)
            if run.status in FINISHED_RUN_STATUSES:
                return RunStatus(run.status)
            schedule = session.get_one(AutomationSchedule, run.schedule_id)
            self.schedule_id, self.schedule_name = schedule.id, schedule.name
            config = _Config.of(run.config_snapshot)
            run.status = RunStatus.RUNNING
            run.started_at = run.started_at or self.clock()
            run.dagster_run_id = self.dagster_run_id or run.dagster_run_id
            due_at = run.due_at
            active = schedule.is_active
        self.publish("automation.run.started", due_at=due_at, status="running")
        self.log(LogLevel.INFO, "Run started", dagster_run_id=self.dagster_run_id)
        try:
            if not active:
                raise RunFailed("the schedule was deactivated before the run started")
            self._process(config)
        except Exception as exc:
            return self._finish(config, error=str(exc) or type(exc).__name__)
        return self._finish(config)

    def _scorecards(self, config: _Config) -> list[int]:
        if not config.run_audits:
            return []
        with self.sessions() as session:
            ids = set(config.specific)
            usable = set(
                session.scalars(
                    select(Scorecard.id).where(
                        Scorecard.id.in_(ids), Scorecard.is_active, Scorecard.current_version_id.is_not(None)
                    )
                )
            )
            for missing in sorted(ids - usable):
                self.log(LogLevel.WARNING, f"Scorecard {missing} is inactive or gone: not used")
            if config.use_automatic_audits:
                usable |= set(
                    session.scalars(
                        select(Scorecard.id).where(
                            Scorecard.is_active, Scorecard.run_automatically, Scorecard.current_version_id.is_not(None)
                        )
                    )
                )
        if not usable:
            raise RunFailed("no active scorecard to audit with (specificAuditConfigs, useAutomaticAudits)")
        return sorted(usable)

    def _process(self, config: _Config) -> None:
        selection = config.selection
        scorecards = self._scorecards(config)
        tz = ZoneInfo(config.timezone)
        if selection.mode is SelectionMode.MANUAL:
            ids = list(split_ids(selection.fiche_ids))
            self.publish("automation.run.selection", mode="manual", total_fiches=len(ids), **_describe(selection))
            self.log(LogLevel.INFO, f"Manual selection of {len(ids)} fiche(s)")
            batches: list[tuple[dt.date | None, list[str] | None]] = [(None, ids)]
        else:
            days = selection_days(selection, local_today(self.clock(), tz))
            self.publish(
                "automation.run.selection",
                mode=selection.mode.value,
                total_dates=len(days),
                dates=[d.isoformat() for d in days],
                **_describe(selection),
            )
            self.log(
                LogLevel.INFO, f"{len(days)} sales day(s) in {config.timezone}", days=[d.isoformat() for d in days]
            )
            batches = [(day, None) for day in days]
        remaining = selection.max_fiches
        for index, (day, given) in enumerate(batches):
            if self._stopped(config):
                for later_day, later_ids in batches[index:]:
                    for fiche_id in later_ids or self._day_fiches(later_day):
                        self.ignore(fiche_id, "run stopped after a failure (continueOnError is off)")
                break
            if day is not None:
                try:
                    self.pipeline.sync_day(day)
                except Exception as exc:
                    self.log(LogLevel.ERROR, f"Sales search of {day} failed: {exc}", day=day.isoformat())
            batch = given if given is not None else self._day_fiches(day)
            taken = self._select(batch, config, scorecards, remaining)
            if remaining is not None:
                remaining -= len(taken)
            self._work(taken, config, scorecards)
            self._progress(index + 1, len(batches))
        if config.retry_failed:
            self._retry(config, scorecards)

    def _stopped(self, config: _Config) -> bool:
        return not config.continue_on_error and any(
            o.status is FicheResultStatus.FAILED for o in self.outcomes.values()
        )

    def _day_fiches(self, day: dt.date | None) -> list[str]:
        with self.sessions() as session:
            return list(session.scalars(select(Fiche.fiche_id).where(Fiche.sales_date == day).order_by(Fiche.fiche_id)))

    def _candidates(self, session: Session, ids: Sequence[str], scorecards: Sequence[int]) -> dict[str, Candidate]:
        rows = {f.fiche_id: f for f in session.scalars(select(Fiche).where(Fiche.fiche_id.in_(list(ids))))}
        audited: dict[str, set[int]] = {}
        if scorecards:
            for fiche_id, scorecard_id in session.execute(
                select(Audit.fiche_id, Audit.scorecard_id)
                .where(
                    Audit.fiche_id.in_(list(ids)),
                    Audit.scorecard_id.in_(list(scorecards)),
                    Audit.status == AuditStatus.COMPLETED,
                    Audit.deleted_at.is_(None),
                )
                .distinct()
            ):
                audited.setdefault(fiche_id, set()).add(scorecard_id)
        out = {}
        for fiche_id in ids:
            fiche = rows.get(fiche_id)
            details = fiche is not None and fiche.fetch_status == FicheFetchStatus.DETAILS
            out[fiche_id] = Candidate(
                fiche_id,
                groupe=fiche.groupe if fiche else None,
                crm_group_id=fiche.crm_group_id if fiche else None,
                recordings=fiche.recordings_count if fiche and details else None,
                audited_with=frozenset(audited.get(fiche_id, ())),
            )
        return out

    def _select(
        self, ids: Sequence[str], config: _Config, scorecards: Sequence[int], remaining: int | None
    ) -> list[str]:
        """The batch's fiches that pass every screen, at most `remaining`; the others ignored with a reason."""
        selection = config.selection
        ids = [i for i in dict.fromkeys(ids) if i not in self.outcomes]
        with self.sessions() as session:
            before = self._candidates(session, ids, scorecards)
        queue = []
        for fiche_id in ids:
            reason = screen_before_details(
                before[fiche_id], selection, scope_group_ids=config.scope_group_ids, scorecards=scorecards
            )
            if reason:
                self.ignore(fiche_id, reason)
            else:
                queue.append(fiche_id)
        max_recordings = effective_max_recordings(selection, self.settings.max_recordings_per_fiche)
        taken: list[str] = []
        while queue and (remaining is None or len(taken) < remaining):
            size = (
                self.settings.batch_size if remaining is None else min(remaining - len(taken), self.settings.batch_size)
            )
            chunk, queue = queue[:size], queue[size:]
            try:
                fetched = self.pipeline.fetch_details(chunk)
            except Exception as exc:
                fetched = dict.fromkeys(chunk, ("failed", str(exc)))
            with self.sessions() as session:
                after = self._candidates(session, chunk, scorecards)
            for fiche_id in chunk:
                outcome, reason = fetched.get(fiche_id, ("failed", "no answer for this fiche"))
                if outcome in _NOT_FOUND:
                    self.ignore(fiche_id, "not found in the CRM")
                    continue
                candidate = after[fiche_id]
                if candidate.recordings is None:
                    self._outcome(fiche_id).fail(f"details: {reason or outcome}")
                    continue
                ignored = screen_after_details(
                    candidate, selection, scope_group_ids=config.scope_group_ids, max_recordings=max_recordings
                )
                if ignored:
                    self.ignore(fiche_id, ignored, candidate.recordings)
                    continue
                self._outcome(fiche_id).recordings = candidate.recordings
                taken.append(fiche_id)
        for fiche_id in queue:
            self.ignore(fiche_id, f"not examined: maxFiches ({selection.max_fiches}) reached")
        return taken

    def _work(self, fiche_ids: list[str], config: _Config, scorecards: Sequence[int]) -> None:
        """Transcribe then audit a batch; per-fiche outcomes recorded, nothing raised for one fiche."""
        if not fiche_ids:
            return
        if config.run_transcription:
            try:
                done = self.pipeline.transcribe(
                    fiche_ids, force=not config.skip_if_transcribed, priority=config.priority
                )
            except Exception as exc:
                for fiche_id in fiche_ids:
                    self._outcome(fiche_id).fail(f"transcription: {exc}")
                return
            for fiche_id, count in done.items():
                if fiche_id in self.outcomes:
                    self.outcomes[fiche_id].transcribed += count
        ready = self._fully_transcribed(fiche_ids)
        if not scorecards:
            return
        with self.sessions() as session:
            candidates = self._candidates(session, ready, scorecards)
        for scorecard_id in scorecards:
            wanting = [
                f for f in ready if scorecard_id in scorecards_to_run(candidates[f], config.selection, scorecards)
            ]
            todo = [f for f in wanting if not self._audited(f, scorecard_id)]
            if todo:
                try:
                    self.pipeline.audit(todo, scorecard_id=scorecard_id, use_rlm=config.selection.use_rlm)
                except Exception as exc:
                    self.log(LogLevel.ERROR, f"Audits with scorecard {scorecard_id} stopped: {exc}")
            self._collect_audits(wanting, scorecard_id)

    def _fully_transcribed(self, fiche_ids: Sequence[str]) -> list[str]:
        """Fiches whose every recording is transcribed; the others fail with the reason (never audited on
        part of the conversation, reference §9.12 #12)."""
        with self.sessions() as session:
            statuses = {
                s.fiche_id: s
                for s in session.scalars(
                    select(FicheTranscription).where(FicheTranscription.fiche_id.in_(list(fiche_ids)))
                )
            }
        ready = []
        for fiche_id in fiche_ids:
            status = statuses.get(fiche_id)
            if status is not None and status.status == FicheTranscriptionStatus.COMPLETE:
                ready.append(fiche_id)
                continue
            reason = (
                f"transcription {status.status}" + (f": {status.reason}" if status.reason else "")
                if status
                else "not transcribed"
            )
            self._outcome(fiche_id).fail(f"not audited, {reason}")
        return ready

    def _audit_rows(self, fiche_ids: Sequence[str], scorecard_id: int) -> dict[str, Audit]:
        """This run's latest audit of each fiche with the scorecard."""
        with self.sessions() as session:
            rows = session.scalars(
                select(Audit)
                .where(
                    Audit.automation_run_id == self.run_id,
                    Audit.scorecard_id == scorecard_id,
                    Audit.fiche_id.in_(list(fiche_ids)),
                )
                .order_by(Audit.id)
            ).all()
            session.expunge_all()
        return {row.fiche_id: row for row in rows}

    def _audited(self, fiche_id: str, scorecard_id: int) -> bool:
        row = self._audit_rows([fiche_id], scorecard_id).get(fiche_id)
        return row is not None and row.status == AuditStatus.COMPLETED

    def _collect_audits(self, fiche_ids: Sequence[str], scorecard_id: int) -> None:
        rows = self._audit_rows(fiche_ids, scorecard_id)
        for fiche_id in fiche_ids:
            outcome = self._outcome(fiche_id)
            row = rows.get(fiche_id)
            if row is not None and row.status == AuditStatus.COMPLETED:
                if row.id not in outcome.audit_ids:
                    outcome.audit_ids.append(row.id)
            else:
                error = (row.error if row is not None else None) or "not audited (another run holds this fiche)"
                outcome.fail(f"audit with scorecard {scorecard_id}: {error}")

    def _retry(self, config: _Config, scorecards: Sequence[int]) -> None:
        for attempt in range(config.max_retries):
            failed = [f for f, o in self.outcomes.items() if o.status is FicheResultStatus.FAILED]
            if not failed:
                return
            self.log(LogLevel.INFO, f"Retry {attempt + 1} of {len(failed)} failed fiche(s)", fiche_ids=failed[:50])
            for fiche_id in failed:
                outcome = self.outcomes[fiche_id]
                outcome.status, outcome.error, outcome.attempts = (
                    FicheResultStatus.SUCCESSFUL,
                    None,
                    outcome.attempts + 1,
                )
            retried = self._refetch(failed)
            self._work(retried, config, scorecards)

    def _refetch(self, fiche_ids: list[str]) -> list[str]:
        try:
            fetched = self.pipeline.fetch_details(fiche_ids)
        except Exception as exc:
            fetched = dict.fromkeys(fiche_ids, ("failed", str(exc)))
        ok = []
        for fiche_id in fiche_ids:
            outcome, reason = fetched.get(fiche_id, ("failed", "no answer for this fiche"))
            if outcome in ("fetched", "cached"):
                ok.append(fiche_id)
            else:
                self.outcomes[fiche_id].fail(f"details: {reason or outcome}")
        return ok

    def _progress(self, done: int, total: int) -> None:
        tally = Tally.of(self.outcomes.values())
        self.publish(
            "automation.run.progress",
            days_processed=done,
            days_total=total,
            successful=tally.successful,
            failed=tally.failed,
            ignored=tally.ignored,
            audits=tally.audits,
        )
        with self.sessions.begin() as session:
            save_results(session, self.run_id, self.outcomes.values())

    def _finish(self, config: _Config, *, error: str | None = None) -> RunStatus:
        tally = Tally.of(self.outcomes.values())
        now = self.clock()
        with self.sessions.begin() as session:
            run = session.get_one(AutomationRun, self.run_id)
            save_results(session, self.run_id, self.outcomes.values())
            status = finish_run(
                session,
                run,
                tally,
                now=now,
                status=RunStatus.FAILED if error else None,
                error=error,
                details={"stage": "run"} if error else None,
            )
            message = f"Run {status}: {error}" if error else f"Run {status}"
            self._log(session, LogLevel.ERROR if error else LogLevel.INFO, message, tally.as_event())
            duration = run.duration_ms or 0
            summary = RunSummary(
                self.run_id,
                self.schedule_id,
                self.schedule_name,
                status,
                duration,
                tally,
                [o for o in self.outcomes.values() if o.status is FicheResultStatus.FAILED],
                error,
            )
            if wanted(status, on_complete=config.notify_on_complete, on_error=config.notify_on_error):
                self._notify(session, summary, config)
        if error:
            self.publish("automation.run.failed", status="failed", error=error, duration_ms=duration)
        else:
            self.publish("automation.run.completed", status=status.value, duration_ms=duration, **tally.as_event())
        return status

    def _notify(self, session: Session, summary: RunSummary, config: _Config) -> None:
        notifier = self.notifier(session)
        emails, hook = notices(summary, emails=config.emails, webhook_url=config.webhook_url)
        for email in emails:
            notifier.send_email(email)
        if hook is not None:
            notifier.send_webhook(hook)


def _describe(selection: FicheSelection) -> dict[str, Any]:
    return {
        "dateRange": selection.date_range.value if selection.date_range else None,
        "groupes": list(selection.groupes),
        "groupes_count": len(selection.groupes),
        "onlyWithRecordings": selection.only_with_recordings,
        "onlyUnaudited": selection.only_unaudited,
        "maxFiches": selection.max_fiches,
        "maxRecordingsPerFiche": selection.max_recordings_per_fiche,
        "useRlm": selection.use_rlm,
    }


def reconcile_stale(
    session: Session, runs: Iterable[AutomationRun], *, now: dt.datetime, why: Callable[[AutomationRun], str]
) -> list[int]:
    """Mark runs left pending/running as failed (their schedule's statistics counted once)."""
    ids = []
    for run in runs:
        message = why(run)
        saved = session.scalars(select(AutomationRunFicheResult).where(AutomationRunFicheResult.run_id == run.id))
        tally = Tally.of(
            FicheOutcome(
                r.fiche_id, FicheResultStatus(r.status), transcribed=r.transcribed, audit_ids=list(r.audit_ids)
            )
            for r in saved
        )
        finish_run(session, run, tally, now=now, status=RunStatus.FAILED, error=message, details={"stage": "scheduler"})
        add_log(session, run.id, LogLevel.ERROR, message)
        ids.append(run.id)
    return ids
