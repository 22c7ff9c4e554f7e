"""Reruns of a step or of one control point, as a stage service: the rules and stores are in
`domain.audits.reruns`; the analysis is the first audit's (`services.auditing.analyse_checked_step`:
a product-verification step is checked against the facts the audit was given)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from domain.audits.auditor import Auditor
from domain.audits.gating import GatingRules
from domain.audits.reruns import (
    RerunOutcome,
    RerunRefused,
    RerunRequest,
    load_rerun_context,
    rerun_step_spec,
    store_failure,
    store_revision,
)
from domain.audits.reviews import NotReviewable
from domain.audits.timeline import Timeline
from domain.audits.timeline_store import load_timeline
from domain.errors import UnavailableError
from domain.events import audit_topic
from domain.products.audit_link import audit_facts, record_checks
from services.auditing import analyse_checked_step, transcript_mode_for
from services.base import StageService, utc_now
from services.ports import Publisher

log = logging.getLogger(__name__)


class Reruns(StageService):
    """Runs reruns with an auditor, a sync session factory (worker threads) and the event stream."""

    def __init__(
        self,
        auditor: Auditor,
        sessions: sessionmaker[Session],
        publisher: Publisher | None,
        *,
        rules: GatingRules,
        run_id: str | None = None,
        prompt_token_budget: int | None = None,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        super().__init__(sessions, publisher, clock=clock)
        self.auditor = auditor
        self.rules = rules
        self.run_id = run_id
        self.prompt_token_budget = prompt_token_budget

    async def _event(self, request: RerunRequest, event: str, payload: Mapping[str, Any]) -> None:
        body = {
            "audit_id": request.audit_id,
            "rerun_id": request.rerun_id,
            "run_id": self.run_id,
            "rerun_scope": request.scope,
            "step_position": request.position,
            "control_point_index": request.control_point_index,
            **payload,
        }
        await self._publish([audit_topic(request.audit_id)], event, body)

    async def rerun(self, request: RerunRequest) -> RerunOutcome:
        await self._event(
            request, "audit.step_started", {"started_at": self._clock().isoformat(), "status": "rerunning"}
        )
        try:
            context = await self._db(lambda s: load_rerun_context(s, request))
            timeline: Timeline = await self._db(lambda s: load_timeline(s, context.fiche_id))
            if timeline.is_empty:
                raise RerunRefused("no transcribed speech in the fiche's recordings")
            mode = transcript_mode_for(context.use_tools, timeline, self.prompt_token_budget)
            spec = rerun_step_spec(context.step, request, context.previous)
            facts = await self._db(lambda s: audit_facts(s, request.audit_id)) if spec.verify_product_info else None
            record, check = await analyse_checked_step(
                self.auditor,
                context.spec,
                spec,
                timeline,
                mode=mode,
                rules=self.rules,
                facts=facts,
                audit_id=request.audit_id,
            )
            if record.step.failed:
                raise RerunRefused(f"the analysis failed: {record.step.error}")
            if request.control_point_index is not None and len(record.step.points) != 1:
                raise RerunRefused("the analysis did not return the control point")
            now = self._clock()
            outcome = await self._db(lambda s: store_revision(s, request, record, run_id=self.run_id, now=now))
            if check is not None:
                await self._db(lambda s: record_checks(s, request.audit_id, {request.position: check}))
        except (RerunRefused, NotReviewable) as exc:
            return await self._failed(request, str(exc))
        except UnavailableError:
            raise
        except Exception as exc:
            log.exception("rerun %s failed", request.rerun_id)
            return await self._failed(request, f"{type(exc).__name__}: {exc}")
        await self._event(
            request,
            "audit.step_completed",
            {
                "step_name": context.step.name,
                "revision": outcome.revision,
                "score": outcome.comparison["step_score"]["next"],
                "max_score": context.step.weight,
                "conforme": outcome.comparison["step_conforme"]["next"],
                "comparison": {k: v for k, v in outcome.comparison.items() if not k.startswith("citations_")},
                "citations_added": len(outcome.comparison["citations_added"]),
                "citations_removed": len(outcome.comparison["citations_removed"]),
                "tokens_used": record.usage.total_tokens,
                "transcript_mode": mode.value,
                "completed_at": self._clock().isoformat(),
                "status": "rerun_completed",
            },
        )
        return outcome

    async def _failed(self, request: RerunRequest, error: str) -> RerunOutcome:
        outcome = await self._db(lambda s: store_failure(s, request, error, run_id=self.run_id))
        await self._event(request, "audit.step_failed", {"error": error, "status": "failed"})
        return outcome
