"""`GET /api/audits/{id}/logs`, `GET /api/transcriptions/{fiche_id}/logs`: the Dagster runs' own event logs.

The original kept a log table keyed by an id its traces did not use, so these routes were always
empty (§13.5 #39). Here the rows carry the ids of the runs that made them (the audit's run, each
rerun's run; the fiche's last transcription run), and the lines are read from Dagster's event log
storage (read-only, `DAGSTER_POSTGRES_URL`), filtered by level and time, oldest first, paginated.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol

import anyio
from dagster import EventLogEntry
from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field

from api.audits.service import run_ids
from api.deps import SessionDep, StateDep
from api.errors import ServiceUnavailable
from api.fiches.reads import transcription_run_id, visible_or_404
from api.fiches.schemas import FICHE_ID_PATTERN
from api.reviews.service import visible_audit
from api.schemas import Page, PageParams, page_params
from api.security import EntityId, Grant, require

router = APIRouter(tags=["run logs"])

Level = Literal["debug", "info", "warning", "error", "critical"]
LEVELS: Mapping[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


class RunLogReader(Protocol):
    def logs_for_run(self, run_id: str) -> Sequence[EventLogEntry]:
        """Every event of the run, oldest first (empty for an unknown run)."""
        ...


class EventLogStorage(Protocol):
    def get_logs_for_run(self, run_id: str) -> Sequence[EventLogEntry]: ...


class EventLogReader:
    """A Dagster event log storage, read only (Postgres in production, any storage in tests)."""

    def __init__(self, storage: EventLogStorage) -> None:
        self.storage = storage

    def logs_for_run(self, run_id: str) -> Sequence[EventLogEntry]:
        return self.storage.get_logs_for_run(run_id)


def get_run_log_reader(state: StateDep) -> RunLogReader:
    reader = state.run_logs
    if reader is None:
        url = state.settings.dagster_postgres_url
        if url is None:
            raise ServiceUnavailable("Run logs are unavailable: DAGSTER_POSTGRES_URL is not set")
        from dagster_postgres import PostgresEventLogStorage

        reader = EventLogReader(PostgresEventLogStorage(url.get_secret_value(), should_autocreate_tables=False))
        state.run_logs = reader
    return reader


ReaderDep = Annotated[RunLogReader, Depends(get_run_log_reader)]


@dataclass(frozen=True)
class LogLine:
    run_id: str
    at: dt.datetime
    level: str
    event_type: str
    step_key: str | None
    message: str


def log_line(entry: EventLogEntry) -> LogLine:
    event = entry.dagster_event
    return LogLine(
        run_id=entry.run_id,
        at=dt.datetime.fromtimestamp(entry.timestamp, dt.UTC),
        level=logging.getLevelName(entry.level).lower(),
        event_type=event.event_type.name if event else "log",
        step_key=entry.step_key,
        message=entry.user_message or (event.message if event and event.message else ""),
    )


def select_lines(
    lines: Iterable[LogLine], *, level: Level | None, since: dt.datetime | None, until: dt.datetime | None
) -> list[LogLine]:
    """At `level` or above, within `[since, until]`, oldest first."""
    floor = LEVELS[level] if level else 0
    return sorted(
        (
            line
            for line in lines
            if LEVELS.get(line.level, logging.INFO) >= floor
            and (since is None or line.at >= since)
            and (until is None or line.at <= until)
        ),
        key=lambda line: (line.at, line.run_id),
    )


class LogQuery(BaseModel):
    level: Level | None = Field(None, description="Only lines at this level or above")
    since: dt.datetime | None = Field(None, description="Only lines at or after this time (ISO 8601 with offset)")
    until: dt.datetime | None = Field(None, description="Only lines at or before this time (ISO 8601 with offset)")


class LogLineOut(BaseModel):
    run_id: str = Field(description="The Dagster run the line belongs to")
    at: dt.datetime = Field(description="When it was logged")
    level: str = Field(description="`debug`, `info`, `warning`, `error` or `critical`")
    event_type: str = Field(description="Dagster's event type (`STEP_START`, `RUN_FAILURE`...), `log` for a log line")
    step_key: str | None = Field(description="The op that logged it, if any")
    message: str = Field(description="The line")


async def _page(reader: RunLogReader, run_ids: Iterable[str], query: LogQuery, page: PageParams) -> Page[LogLineOut]:
    ids = sorted(set(run_ids))

    def read() -> list[LogLine]:
        return [log_line(entry) for run_id in ids for entry in reader.logs_for_run(run_id)]

    try:
        lines = await anyio.to_thread.run_sync(read)
    except Exception as exc:  # the Dagster database: an outage, not the caller's fault
        logging.getLogger(__name__).warning("run logs of %s unavailable: %s", ids, type(exc).__name__)
        raise ServiceUnavailable("Run logs are unavailable right now") from None
    selected = select_lines(lines, level=query.level, since=query.since, until=query.until)
    window = selected[page.offset : page.offset + page.limit]
    return page.paginate([LogLineOut(**line.__dict__) for line in window], len(selected))


ReadAudits = Annotated[Grant, Depends(require("audits", "read"))]
ReadTranscriptions = Annotated[Grant, Depends(require("transcriptions", "read"))]
FicheIdPath = Annotated[str, Path(pattern=FICHE_ID_PATTERN, description="CRM fiche id")]
Pages = Annotated[PageParams, Depends(page_params)]


@router.get("/audits/{audit_id}/logs", response_model=Page[LogLineOut], summary="Run logs of an audit")
async def audit_logs(  # noqa: PLR0917 - FastAPI path, query and dependencies
    audit_id: EntityId,
    grant: ReadAudits,
    session: SessionDep,
    reader: ReaderDep,
    query: Annotated[LogQuery, Query()],
    page: Pages,
) -> Page[LogLineOut]:
    """The event logs of the Dagster runs that made the audit and its reruns (their run ids are on the audit,
    its step revisions and its reruns), oldest first. 503 when Dagster's database cannot be read."""
    audit = await visible_audit(session, grant, audit_id)
    return await _page(reader, await run_ids(session, audit), query, page)


@router.get(
    "/transcriptions/{fiche_id}/logs", response_model=Page[LogLineOut], summary="Run logs of a fiche's transcription"
)
async def transcription_logs(  # noqa: PLR0917 - FastAPI path, query and dependencies
    fiche_id: FicheIdPath,
    grant: ReadTranscriptions,
    session: SessionDep,
    reader: ReaderDep,
    query: Annotated[LogQuery, Query()],
    page: Pages,
) -> Page[LogLineOut]:
    """The event log of the fiche's last transcription run, oldest first. 404 when the fiche is unknown or out
    of scope; an empty page when it was never transcribed."""
    await visible_or_404(session, grant, fiche_id)
    run_id = await transcription_run_id(session, fiche_id)
    return await _page(reader, [run_id] if run_id else [], query, page)
