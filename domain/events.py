"""The event catalogue: every realtime event, the topics it goes to and the fields of its payload.

One module for the publishers (stages, sensors), the SSE endpoints, the webhooks and automation, so
an event's name and shape are written once. Names and fields follow the reference's Pusher catalogue
(§11.4), whose channels become topics: `private-audit-<id>` is `audit:<id>`, `private-fiche-<id>`
is `fiche:<id>`, `private-job-<id>` is `job:<id>` (a progressive fetch, a batch = a Dagster run, an
automation run) and `private-user-<id>` is `user:<id>`. There is no global topic: the original's
`private-global` showed every user's batch progress to everybody; batch events go to the run's job
topic only. Every payload also carries our `run_id` (the Dagster run, None outside a run).

Payload models accept extra fields (a publisher may add detail such as `cost_usd`); the fields
declared here are the contract a subscriber can rely on, checked by the tests on what the stages
really emit.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

# --- topics -------------------------------------------------------------------------------------------


class TopicKind(enum.StrEnum):
    AUDIT = "audit"
    FICHE = "fiche"
    JOB = "job"
    USER = "user"


_TOPIC_KEY = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_NUMERIC = re.compile(r"[1-9][0-9]{0,18}")


class InvalidTopic(ValueError):
    """A topic that is not `<audit|fiche|job|user>:<id>` with a well-formed id."""


@dataclass(frozen=True)
class Topic:
    kind: TopicKind
    key: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.key}"


def audit_topic(audit_id: int | str) -> str:
    return f"{TopicKind.AUDIT}:{audit_id}"


def fiche_topic(fiche_id: str) -> str:
    return f"{TopicKind.FICHE}:{fiche_id}"


def job_topic(job_id: str) -> str:
    """A progressive fetch (its job id), a batch (its Dagster run id), an automation run."""
    return f"{TopicKind.JOB}:{job_id}"


def user_topic(user_id: int | str) -> str:
    return f"{TopicKind.USER}:{user_id}"


def parse_topic(text: str) -> Topic:
    """`audit:12`, `fiche:1983200000`, `job:<uuid or run id>`, `user:7`; InvalidTopic otherwise."""
    kind, sep, key = text.partition(":")
    try:
        topic_kind = TopicKind(kind)
    except ValueError:
        raise InvalidTopic(f"unknown topic kind {kind!r}: expected one of audit, fiche, job, user") from None
    if not sep or not _TOPIC_KEY.fullmatch(key):
        raise InvalidTopic("a topic is '<kind>:<id>', the id made of letters, digits and '_.-' (at most 128)")
    if topic_kind in (TopicKind.AUDIT, TopicKind.USER) and not _NUMERIC.fullmatch(key):
        raise InvalidTopic(f"a {topic_kind} topic needs a numeric id")
    return Topic(topic_kind, key)


# --- payloads -----------------------------------------------------------------------------------------


class Payload(BaseModel):
    model_config = ConfigDict(extra="allow")

    run_id: str | None


class AuditPayload(Payload):
    fiche_id: str
    audit_id: int | None


class AuditStarted(AuditPayload):
    audit_config_id: int
    audit_config_name: str
    total_steps: int
    started_at: str
    status: Literal["started"]
    approach: dict[str, Any]


class AuditFicheFetchStarted(AuditPayload):
    from_cache: bool
    status: Literal["fetching"]


class AuditFicheFetchCompleted(AuditPayload):
    recordings_count: int
    prospect_name: str | None
    from_cache: bool
    status: Literal["fetched"]


class AuditConfigLoaded(AuditPayload):
    config_id: int
    config_name: str
    steps_count: int
    status: Literal["loaded"]


class AuditTranscriptionCheck(AuditPayload):
    total_recordings: int
    transcribed: int
    needs_transcription: int
    status: Literal["checked"]


class AuditTimelineGenerated(AuditPayload):
    recordings_count: int
    total_chunks: int
    status: Literal["generated"]


class AuditAnalysisStarted(AuditPayload):
    total_steps: int
    model: str
    status: Literal["analyzing"]


class AuditStepStarted(AuditPayload):
    step_position: int
    step_name: str
    total_steps: int
    step_weight: int
    is_critical: bool
    status: Literal["processing"]


class AuditStepCompleted(AuditPayload):
    step_position: int
    step_name: str
    score: float
    max_score: int
    conforme: str
    total_citations: int
    tokens_used: int
    status: Literal["completed"]


class AuditStepFailed(AuditPayload):
    step_position: int
    step_name: str
    error: str | None
    status: Literal["failed"]


class AuditProgress(AuditPayload):
    completed_steps: int
    total_steps: int
    failed_steps: int
    current_phase: str
    progress_percentage: int
    status: Literal["in_progress"]


class AuditComplianceCalculated(AuditPayload):
    overall_score: float
    score_percentage: float
    niveau: str
    is_compliant: bool
    critical_issues: list[str]
    status: Literal["calculated"]


class AuditCompleted(AuditPayload):
    overall_score: float
    score_percentage: float
    niveau: str
    is_compliant: bool
    successful_steps: int
    failed_steps: int
    total_tokens: int
    duration_seconds: float
    completed_at: str
    status: Literal["completed"]


class AuditFailed(AuditPayload):
    error: str
    failed_phase: str | None = None
    failed_at: str
    status: Literal["failed"]


class TranscriptionPayload(Payload):
    fiche_id: str


class TranscriptionStarted(TranscriptionPayload):
    total_recordings: int
    priority: str
    started_at: str
    status: Literal["started"]


class TranscriptionStatusCheck(TranscriptionPayload):
    total_recordings: int
    already_transcribed: int
    needs_transcription: int
    is_complete: bool
    status: Literal["checked"]


class TranscriptionRecordingStarted(TranscriptionPayload):
    call_id: str
    recording_index: int
    total_to_transcribe: int
    status: Literal["processing"]


class TranscriptionRecordingCompleted(TranscriptionPayload):
    call_id: str
    transcription_id: int
    recording_index: int
    total_to_transcribe: int
    status: Literal["completed"]


class TranscriptionRecordingFailed(TranscriptionPayload):
    call_id: str
    error: str
    recording_index: int
    total_to_transcribe: int
    status: Literal["failed"]


class TranscriptionProgress(TranscriptionPayload):
    total_recordings: int
    transcribed: int
    pending: int
    failed: int
    progress_percentage: int
    status: Literal["in_progress"]


class TranscriptionCompleted(TranscriptionPayload):
    """`outcome` is the fiche's transcription status (`complete`, `partial`, `skipped`)."""

    total_recordings: int
    transcribed: int
    failed: int
    duration_seconds: float
    completed_at: str
    outcome: str
    status: Literal["completed"]


class TranscriptionFailed(TranscriptionPayload):
    error: str
    failed_at: str
    status: Literal["failed"]


class BatchProgressPayload(Payload):
    batch_id: str
    operation_type: Literal["audit", "transcription"]
    total: int
    completed: int
    failed: int
    progress_percentage: int


class BatchCompletedPayload(BatchProgressPayload):
    duration_ms: int


class ProgressiveFetchPayload(Payload):
    """camelCase as in the reference: these payloads are also what the job's webhooks send."""

    jobId: str  # the reference's field names
    status: str
    startDate: str
    endDate: str
    progress: int
    completedDays: int
    totalDays: int
    totalFiches: int  # fiches cached for the job's date range so far, every group's (recounted each event)
    datesCompleted: list[str]
    datesRemaining: list[str]
    datesFailed: list[str]


class ProgressiveFetchProgress(ProgressiveFetchPayload):
    latestDate: str | None


class Notification(Payload):
    type: Literal["success", "error", "info", "warning"]
    message: str
    description: str | None = None
    duration: int = 5000


class AutomationRunStarted(Payload):
    job_id: str
    schedule_id: int
    due_at: str | None
    status: Literal["running"]


class AutomationRunSelection(Payload):
    mode: str
    total_fiches: int | None = None
    total_dates: int | None = None


class AutomationRunProgress(Payload):
    days_processed: int
    days_total: int
    successful: int
    failed: int
    ignored: int
    audits: int


class AutomationRunCompleted(Payload):
    status: Literal["completed", "partial", "failed"]
    total_fiches: int
    successful_fiches: int
    failed_fiches: int


class AutomationRunFailed(Payload):
    status: Literal["failed"]
    error: str
    duration_ms: int


class RunFailed(Payload):
    """A Dagster run failed (published by the run-failure sensor on the run's job topic)."""

    job_name: str
    error: str


# --- the catalogue ------------------------------------------------------------------------------------


class Event(enum.StrEnum):
    AUDIT_STARTED = "audit.started"
    AUDIT_FICHE_FETCH_STARTED = "audit.fiche_fetch_started"
    AUDIT_FICHE_FETCH_COMPLETED = "audit.fiche_fetch_completed"
    AUDIT_CONFIG_LOADED = "audit.config_loaded"
    AUDIT_TRANSCRIPTION_CHECK = "audit.transcription_check"
    AUDIT_TIMELINE_GENERATED = "audit.timeline_generated"
    AUDIT_ANALYSIS_STARTED = "audit.analysis_started"
    AUDIT_STEP_STARTED = "audit.step_started"
    AUDIT_STEP_COMPLETED = "audit.step_completed"
    AUDIT_STEP_FAILED = "audit.step_failed"
    AUDIT_PROGRESS = "audit.progress"
    AUDIT_COMPLIANCE_CALCULATED = "audit.compliance_calculated"
    AUDIT_COMPLETED = "audit.completed"
    AUDIT_FAILED = "audit.failed"
    TRANSCRIPTION_STARTED = "transcription.started"
    TRANSCRIPTION_STATUS_CHECK = "transcription.status_check"
    TRANSCRIPTION_RECORDING_STARTED = "transcription.recording_started"
    TRANSCRIPTION_RECORDING_COMPLETED = "transcription.recording_completed"
    TRANSCRIPTION_RECORDING_FAILED = "transcription.recording_failed"
    TRANSCRIPTION_PROGRESS = "transcription.progress"
    TRANSCRIPTION_COMPLETED = "transcription.completed"
    TRANSCRIPTION_FAILED = "transcription.failed"
    BATCH_PROGRESS = "batch.progress"
    BATCH_COMPLETED = "batch.completed"
    NOTIFICATION = "notification"
    PROGRESSIVE_FETCH_CREATED = "fiches.progressive_fetch.created"
    PROGRESSIVE_FETCH_PROGRESS = "fiches.progressive_fetch.progress"
    PROGRESSIVE_FETCH_COMPLETE = "fiches.progressive_fetch.complete"
    PROGRESSIVE_FETCH_FAILED = "fiches.progressive_fetch.failed"
    AUTOMATION_RUN_STARTED = "automation.run.started"
    AUTOMATION_RUN_SELECTION = "automation.run.selection"
    AUTOMATION_RUN_PROGRESS = "automation.run.progress"
    AUTOMATION_RUN_COMPLETED = "automation.run.completed"
    AUTOMATION_RUN_FAILED = "automation.run.failed"
    RUN_FAILED = "run.failed"


@dataclass(frozen=True)
class EventSpec:
    event: Event
    topics: tuple[TopicKind, ...]
    payload: type[Payload]
    emitted_by: str


_AUDIT = (TopicKind.AUDIT, TopicKind.FICHE)
_FICHE = (TopicKind.FICHE,)
_JOB = (TopicKind.JOB,)
_ENGINE = "services.auditing"
_STT = "services.transcription"
_FETCH = "domain.crm.fetch_jobs"
_AUTOMATION = "automation runs (issue 16)"
_CACHED = "not emitted: audits read the cached fiche"

CATALOGUE: Mapping[Event, EventSpec] = {
    spec.event: spec
    for spec in (
        EventSpec(Event.AUDIT_STARTED, _AUDIT, AuditStarted, _ENGINE),
        EventSpec(Event.AUDIT_FICHE_FETCH_STARTED, _AUDIT, AuditFicheFetchStarted, _CACHED),
        EventSpec(Event.AUDIT_FICHE_FETCH_COMPLETED, _AUDIT, AuditFicheFetchCompleted, _CACHED),
        EventSpec(Event.AUDIT_CONFIG_LOADED, _AUDIT, AuditConfigLoaded, _ENGINE),
        # Also on the fiche topic alone when the fiche is not ready (no audit row is started).
        EventSpec(Event.AUDIT_TRANSCRIPTION_CHECK, _AUDIT, AuditTranscriptionCheck, _ENGINE),
        EventSpec(Event.AUDIT_TIMELINE_GENERATED, _AUDIT, AuditTimelineGenerated, _ENGINE),
        EventSpec(Event.AUDIT_ANALYSIS_STARTED, _AUDIT, AuditAnalysisStarted, _ENGINE),
        EventSpec(Event.AUDIT_STEP_STARTED, _AUDIT, AuditStepStarted, _ENGINE),
        EventSpec(Event.AUDIT_STEP_COMPLETED, _AUDIT, AuditStepCompleted, _ENGINE),
        EventSpec(Event.AUDIT_STEP_FAILED, _AUDIT, AuditStepFailed, _ENGINE),
        EventSpec(Event.AUDIT_PROGRESS, _AUDIT, AuditProgress, _ENGINE),
        EventSpec(Event.AUDIT_COMPLIANCE_CALCULATED, _AUDIT, AuditComplianceCalculated, _ENGINE),
        EventSpec(Event.AUDIT_COMPLETED, _AUDIT, AuditCompleted, _ENGINE),
        EventSpec(Event.AUDIT_FAILED, _AUDIT, AuditFailed, f"{_ENGINE}, orchestration.sensors.maintenance"),
        EventSpec(Event.TRANSCRIPTION_STARTED, _FICHE, TranscriptionStarted, _STT),
        EventSpec(Event.TRANSCRIPTION_STATUS_CHECK, _FICHE, TranscriptionStatusCheck, _STT),
        EventSpec(Event.TRANSCRIPTION_RECORDING_STARTED, _FICHE, TranscriptionRecordingStarted, _STT),
        EventSpec(Event.TRANSCRIPTION_RECORDING_COMPLETED, _FICHE, TranscriptionRecordingCompleted, _STT),
        EventSpec(Event.TRANSCRIPTION_RECORDING_FAILED, _FICHE, TranscriptionRecordingFailed, _STT),
        EventSpec(Event.TRANSCRIPTION_PROGRESS, _FICHE, TranscriptionProgress, _STT),
        EventSpec(Event.TRANSCRIPTION_COMPLETED, _FICHE, TranscriptionCompleted, _STT),
        EventSpec(Event.TRANSCRIPTION_FAILED, _FICHE, TranscriptionFailed, _STT),
        EventSpec(Event.BATCH_PROGRESS, _JOB, BatchProgressPayload, f"{_ENGINE}, {_STT}"),
        EventSpec(Event.BATCH_COMPLETED, _JOB, BatchCompletedPayload, f"{_ENGINE}, {_STT}"),
        EventSpec(
            Event.NOTIFICATION,
            (TopicKind.USER,),
            Notification,
            f"{_FETCH}, {_ENGINE}, orchestration.sensors.run_status (the requester, at the end)",
        ),
        EventSpec(Event.PROGRESSIVE_FETCH_CREATED, _JOB, ProgressiveFetchPayload, "api.fiches.progressive"),
        EventSpec(Event.PROGRESSIVE_FETCH_PROGRESS, _JOB, ProgressiveFetchProgress, _FETCH),
        EventSpec(Event.PROGRESSIVE_FETCH_COMPLETE, _JOB, ProgressiveFetchPayload, _FETCH),
        EventSpec(Event.PROGRESSIVE_FETCH_FAILED, _JOB, ProgressiveFetchPayload, _FETCH),
        EventSpec(Event.AUTOMATION_RUN_STARTED, _JOB, AutomationRunStarted, _AUTOMATION),
        EventSpec(Event.AUTOMATION_RUN_SELECTION, _JOB, AutomationRunSelection, _AUTOMATION),
        EventSpec(Event.AUTOMATION_RUN_PROGRESS, _JOB, AutomationRunProgress, _AUTOMATION),
        EventSpec(Event.AUTOMATION_RUN_COMPLETED, _JOB, AutomationRunCompleted, _AUTOMATION),
        EventSpec(Event.AUTOMATION_RUN_FAILED, _JOB, AutomationRunFailed, _AUTOMATION),
        EventSpec(Event.RUN_FAILED, _JOB, RunFailed, "orchestration.sensors.run_status"),
    )
}


def validate_event(event: str, topic: str, payload: Mapping[str, Any]) -> Payload:
    """The payload checked against the catalogue; ValueError naming what is wrong."""
    spec = CATALOGUE[Event(event)]
    if parse_topic(topic).kind not in spec.topics:
        raise ValueError(f"{event} is not published on {topic}")
    return spec.payload.model_validate(payload)


# --- batch progress -----------------------------------------------------------------------------------

Emit = Callable[[str, str, Mapping[str, Any]], Awaitable[None]]


class BatchProgress:
    """`batch.progress` after every item of a run settles, then one `batch.completed`, on `job:<run_id>`.

    `emit` is the caller's best-effort publish (topic, event, payload). Items may settle concurrently:
    the counters are updated and the event built without an await in between, so each event carries
    a distinct, growing `completed + failed`.

    A day run that keeps taking fiches (`services.drain`) does not know its total up front: it is
    `growing`: it adds to `total` as it takes fiches (`expect`) and sends `batch.completed` once, on `close`.

    A batch someone asked for (`requester`) also ends with a `notification` on their user topic: the
    job topic is only followed by a page open on that batch, the user topic by the whole front end.
    """

    def __init__(
        self,
        emit: Emit,
        batch_id: str,
        operation_type: Literal["audit", "transcription"],
        total: int,
        *,
        growing: bool = False,
        requester: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._emit = emit
        self._requester = requester
        self._growing = growing
        self._clock = clock
        self._started = clock()
        self.batch_id = batch_id
        self.operation_type = operation_type
        self.total = total
        self.completed = 0
        self.failed = 0

    def _payload(self) -> dict[str, Any]:
        settled = self.completed + self.failed
        return {
            "run_id": self.batch_id,
            "batch_id": self.batch_id,
            "operation_type": self.operation_type,
            "total": self.total,
            "completed": self.completed,
            "failed": self.failed,
            "progress_percentage": round(100 * settled / self.total) if self.total else 100,
        }

    async def settled(self, *, ok: bool) -> None:
        if ok:
            self.completed += 1
        else:
            self.failed += 1
        progress = self._payload()
        done = not self._growing and self.completed + self.failed >= self.total
        completed = self._completed(progress) if done else None
        await self._emit(job_topic(self.batch_id), Event.BATCH_PROGRESS, progress)
        if completed is not None:
            await self._complete(completed)

    def expect(self, more: int) -> None:
        self.total += more

    async def close(self) -> None:
        """A growing batch's end: one `batch.completed` with what settled."""
        await self._complete(self._completed(self._payload()))

    def _completed(self, progress: dict[str, Any]) -> dict[str, Any]:
        return {**progress, "duration_ms": round(1000 * (self._clock() - self._started))}

    async def _complete(self, completed: dict[str, Any]) -> None:
        await self._emit(job_topic(self.batch_id), Event.BATCH_COMPLETED, completed)
        if self._requester is not None:
            await self._emit(user_topic(self._requester), Event.NOTIFICATION, batch_notification(completed))


def run_failed_notification(failed: Mapping[str, Any]) -> dict[str, Any]:
    """The launcher's `notification` of a `run.failed` payload: its first step error (already
    scrubbed), else the run's; `batch_id` is the run, so the front end can open it."""
    errors = failed["step_errors"]
    return {
        "run_id": failed["run_id"],
        "type": "error",
        "message": "Traitement en échec",
        "description": errors[0] if errors else failed["error"],
        "duration": 5000,
        "batch_id": failed["run_id"],
    }


#: Per operation: its messages when nothing failed, some did, all did; what a settled fiche is.
_BATCH_DONE = {
    "audit": ("Audit par lot terminé", "Audit par lot terminé avec des échecs", "Audit par lot en échec", "auditée(s)"),
    "transcription": (
        "Transcription terminée",
        "Transcription terminée avec des échecs",
        "Transcription en échec",
        "transcrite(s)",
    ),
}


def batch_notification(completed: Mapping[str, Any]) -> dict[str, Any]:
    """The requester's `notification` (reference §11.4 shape, French) of a `batch.completed` payload:
    success when nothing failed, a warning when some did, an error when all did; `batch_id` says
    which batch, so the front end can open it."""
    succeeded, partial, failure, done = _BATCH_DONE[completed["operation_type"]]
    failed, total = completed["failed"], completed["total"]
    if not failed:
        kind, message = "success", succeeded
    elif failed < total:
        kind, message = "warning", partial
    else:
        kind, message = "error", failure
    return {
        "run_id": completed["run_id"],
        "type": kind,
        "message": message,
        "description": f"{completed['completed']} fiche(s) {done} sur {total}, {failed} en échec.",
        "duration": 5000,
        "batch_id": completed["batch_id"],
    }
