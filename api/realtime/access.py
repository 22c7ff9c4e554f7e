"""Who may follow a topic: the same scopes as the REST routes reading the same entities.

* `audit:<id>`  -> `audits` read, and the audit's fiche in that grant's scope;
* `fiche:<id>`  -> `fiches` read, and the fiche in scope;
* `job:<id>`    -> a progressive fetch: the user who asked for it, or `fiches` read over ALL (a
  range fetch spans every group); a run (batch): the user who launched it, or every fiche the run
  works on in the caller's `audits` / `transcriptions` read scope; an automation run (a number):
  `automation` read and its schedule in that grant's scope, as `GET /api/automation/runs/{id}`;
* `user:<id>`   -> that user only.

An unknown or out-of-scope entity is "not found", as everywhere (no existence oracle); a missing
permission is 403. The original let any user follow any job and a global channel (§11.3).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Grant, Principal
from api.errors import Forbidden, NotFound
from domain.events import Topic, TopicKind
from domain.models.audits import Audit
from domain.models.automation import AutomationRun, AutomationSchedule
from domain.models.fiches import Fiche
from domain.models.jobs import FicheFetchJob
from domain.models.transcripts import FicheTranscription
from domain.rbac import Action, Scope
from domain.schedules.store import schedule_scope_clause
from domain.scoping import apply_fiche_scope

NOT_FOUND = "Topic not found"


def _grant(principal: Principal, key: str) -> Grant:
    grant = principal.grant(key, Action.READ)
    if grant is None:
        raise Forbidden(f"Missing permission {key}.read")
    return grant


async def _visible(session: AsyncSession, statement: Select[Any]) -> bool:
    return bool(await session.scalar(select(statement.exists())))


async def authorize_topic(session: AsyncSession, principal: Principal, topic: Topic) -> None:
    """Returns when `principal` may follow `topic`; raises Forbidden / NotFound otherwise."""
    if topic.kind is TopicKind.USER:
        if principal.user_id is None or str(principal.user_id) != topic.key:
            raise NotFound(NOT_FOUND)
        return
    if topic.kind is TopicKind.AUDIT:
        grant = _grant(principal, "audits")
        statement = select(Audit.id).join(Fiche, Fiche.fiche_id == Audit.fiche_id).where(Audit.id == int(topic.key))
        if not await _visible(session, apply_fiche_scope(statement, grant)):
            raise NotFound(NOT_FOUND)
        return
    if topic.kind is TopicKind.FICHE:
        grant = _grant(principal, "fiches")
        if not await _visible(session, apply_fiche_scope(select(Fiche.id).where(Fiche.fiche_id == topic.key), grant)):
            raise NotFound(NOT_FOUND)
        return
    if not await _job_visible(session, principal, topic.key):
        raise NotFound(NOT_FOUND)


async def _job_visible(session: AsyncSession, principal: Principal, job_id: str) -> bool:
    if job_id.isdigit():  # fetch jobs and Dagster runs are UUIDs, automation runs are numbered
        return await _automation_run_visible(session, principal, int(job_id))
    fetch = (await session.execute(select(FicheFetchJob.requested_by_id).where(FicheFetchJob.id == job_id))).first()
    if fetch is not None:
        owner = principal.user_id is not None and fetch.requested_by_id == principal.user_id
        fiches = principal.grant("fiches", Action.READ)
        return owner or (fiches is not None and fiches.scope is Scope.ALL)
    return await _run_visible(session, principal, job_id)


async def _automation_run_visible(session: AsyncSession, principal: Principal, run_id: int) -> bool:
    grant = principal.grant("automation", Action.READ)
    if grant is None:
        return False
    statement = (
        select(AutomationRun.id)
        .join(AutomationSchedule, AutomationSchedule.id == AutomationRun.schedule_id)
        .where(AutomationRun.id == run_id, schedule_scope_clause(grant))
    )
    return await _visible(session, statement)


async def _run_visible(session: AsyncSession, principal: Principal, run_id: str) -> bool:
    """A Dagster run's topic: its launcher, or a reader of every fiche it audits and transcribes."""
    audited = select(Audit.fiche_id, Audit.trigger_user_id).where(Audit.run_id == run_id)
    audits = (await session.execute(audited)).all()
    transcribed = list(
        await session.scalars(select(FicheTranscription.fiche_id).where(FicheTranscription.run_id == run_id))
    )
    if not audits and not transcribed:
        return False
    if principal.user_id is not None and any(a.trigger_user_id == principal.user_id for a in audits):
        return True
    for key, fiche_ids in (("audits", {a.fiche_id for a in audits}), ("transcriptions", set(transcribed))):
        if not fiche_ids:
            continue
        grant = principal.grant(key, Action.READ)
        if grant is None:
            return False
        if grant.scope is Scope.ALL:
            continue
        statement = apply_fiche_scope(select(Fiche.fiche_id).where(Fiche.fiche_id.in_(fiche_ids)), grant)
        if set(await session.scalars(statement)) != fiche_ids:
            return False
    return True
