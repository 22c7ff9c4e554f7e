"""Reruns (new revisions, comparison, events), human overrides (recomputed step and audit) and the
append-only trails, on a transcribed demo day in the real Postgres and Redis."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import dagster as dg
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from assets.calibration import audit_calibration
from domain.audits.gating import GatingRules
from domain.audits.heuristic import HeuristicAuditor
from domain.audits.reruns import RerunOutcome, RerunRequest
from domain.audits.reviews import (
    Actor,
    InvalidOverride,
    NotReviewable,
    StepRow,
    record_change,
    review_point,
    review_step,
    step_states,
)
from domain.audits.scoring import compute_compliance
from domain.audits.store import Trigger
from domain.models import Audit, AuditRerun, AuditRerunResult, AuditReview, AuditStep, ChangeKind, ScorecardVersion
from domain.scorecards.service import current_spec
from resources.database import sync_session_factory
from resources.llm.resource import LlmResource
from resources.redis.client import create_async_redis
from services.auditing import AuditEngine, Outcome
from services.reruns import Reruns
from tests.fixtures.audit_day import DAY
from tests.fixtures.audit_runs import rerun
from tests.fixtures.standins.llm import OpenAiStandIn, Reply, control_points, step_answer

ANALYST = Actor(7, "user:7")


def _audit(sync_engine: Engine, scorecard_id: int, fiche_id: str) -> int:
    with Session(sync_engine) as session:
        spec = current_spec(session, scorecard_id)
    engine = AuditEngine(
        HeuristicAuditor(), sync_session_factory(sync_engine), None, rules=GatingRules(), trigger=Trigger("test")
    )
    result = asyncio.run(engine.audit_fiche(fiche_id, spec, force=True))
    assert result.outcome == Outcome.COMPLETED
    assert result.audit_id is not None
    return result.audit_id


def _stored_matches_scratch(session: Session, audit_id: int) -> None:
    audit = session.get_one(Audit, audit_id)
    spec = session.get_one(ScorecardVersion, audit.scorecard_version_id).spec()
    scratch = compute_compliance([s.view for s in step_states(session, audit_id).values()], spec)
    assert audit.score_percentage == scratch.score_percentage
    assert (audit.niveau, audit.is_compliant) == (scratch.niveau, scratch.is_compliant)
    assert (audit.critical_passed, audit.points_earned) == (scratch.critical_passed, scratch.earned)


def _multi_point_step(session: Session, audit_id: int) -> StepRow:
    states = step_states(session, audit_id)
    return next(s.row for s in states.values() if len(s.row.control_points) > 1)


def test_a_step_rerun_adds_a_revision_compares_it_and_publishes_with_its_rerun_id(
    transcribed_day: list[str], scorecard_id: int, sync_engine: Engine, redis_url: str, redis_client: redis.Redis
) -> None:
    audit_id = _audit(sync_engine, scorecard_id, transcribed_day[0])
    with Session(sync_engine) as session:
        first = session.scalars(select(AuditStep).where(AuditStep.audit_id == audit_id, AuditStep.position == 2)).one()
        original = (first.id, first.score, first.conforme, [p.statut for p in first.control_points])

    outcome = rerun(
        sync_engine,
        RerunRequest("r1", audit_id, 2, instructions="Le consentement est au 2e appel"),
        redis_url=redis_url,
    )

    assert (outcome.status, outcome.revision) == ("completed", 2)
    with Session(sync_engine) as session:
        rows = session.scalars(
            select(AuditStep)
            .where(AuditStep.audit_id == audit_id, AuditStep.position == 2)
            .order_by(AuditStep.revision)
        ).all()
        assert [r.revision for r in rows] == [1, 2]
        old, new = rows
        # The AI's first verdict is kept as it was, only superseded.
        assert (old.id, old.score, old.conforme, [p.statut for p in old.control_points]) == original
        assert old.superseded_at is not None
        assert new.superseded_at is None
        assert (new.rerun_id, new.run_id, new.rerun_scope) == ("r1", "run-test", "step")
        audit = session.get_one(Audit, audit_id)
        assert [s.revision for s in audit.steps if s.position == 2] == [2]  # the audit reads the current one
        result = session.scalars(select(AuditRerunResult).where(AuditRerunResult.rerun_id == "r1")).one()
        assert (result.previous_revision, result.new_revision, result.status) == (1, 2, "completed")
        assert set(result.comparison) >= {"score", "conforme", "points", "citations_added", "citations_removed"}
        assert len(result.comparison["points"]) == len(new.control_points)
        _stored_matches_scratch(session, audit_id)

    events: list[tuple[str, dict[str, str]]] = redis_client.xrange(f"sse:audit:{audit_id}")  # type: ignore[assignment]
    kinds = [(fields["type"], json.loads(fields["data"])) for _, fields in events]
    rerun_events = [(kind, body) for kind, body in kinds if body.get("rerun_id") == "r1"]
    assert [kind for kind, _ in rerun_events] == ["audit.step_started", "audit.step_completed"]
    assert rerun_events[1][1]["status"] == "rerun_completed"
    assert rerun_events[1][1]["step_position"] == 2


def test_a_control_point_rerun_changes_that_point_only_and_re_derives_the_step(
    transcribed_day: list[str], scorecard_id: int, sync_engine: Engine
) -> None:
    audit_id = _audit(sync_engine, scorecard_id, transcribed_day[0])
    with Session(sync_engine) as session:
        step = _multi_point_step(session, audit_id)
        position, before = step.position, [(p.index, p.statut, p.commentaire) for p in step.control_points]

    outcome = rerun(sync_engine, RerunRequest("cp1", audit_id, position, control_point_index=2))

    assert outcome.status == "completed"
    assert [p["index"] for p in outcome.comparison["points"]] == [2]
    with Session(sync_engine) as session:
        state = step_states(session, audit_id)[position]
        after = [(p.index, p.statut, p.commentaire) for p in state.row.control_points]
        assert after[0] == before[0]
        assert after[2:] == before[2:]
        assert (state.row.rerun_scope, state.row.rerun_point_index, state.row.revision) == ("control_point", 2, 2)
        _stored_matches_scratch(session, audit_id)


def test_a_rerun_of_a_point_the_step_does_not_have_fails_without_a_revision(
    transcribed_day: list[str], scorecard_id: int, sync_engine: Engine
) -> None:
    audit_id = _audit(sync_engine, scorecard_id, transcribed_day[0])
    outcome = rerun(sync_engine, RerunRequest("bad", audit_id, 1, control_point_index=99))
    assert outcome.status == "failed"
    assert "not 99" in (outcome.error or "")
    with Session(sync_engine) as session:
        assert session.scalars(select(AuditStep.revision).where(AuditStep.audit_id == audit_id)).all() == [1] * len(
            step_states(session, audit_id)
        )
        assert session.scalars(select(AuditRerunResult.status).where(AuditRerunResult.rerun_id == "bad")).one() == (
            "failed"
        )


def test_custom_instructions_reach_the_model_and_the_revision_counts_tokens_and_cost(
    transcribed_day: list[str], scorecard_id: int, sync_engine: Engine, redis_url: str, redis_client: redis.Redis
) -> None:
    audit_id = _audit(sync_engine, scorecard_id, transcribed_day[0])
    with Session(sync_engine) as session:
        tokens_before = session.get_one(Audit, audit_id).input_tokens

    def answer(body: dict[str, Any]) -> Reply:
        return Reply(content=json.dumps(step_answer(control_points(body), score=1), ensure_ascii=False))

    with OpenAiStandIn(model="gpt-test") as server:
        server.responder = answer
        llm = LlmResource(
            kind="openai",
            api_key=server.key,
            base_url=server.base_url,
            model="gpt-test",
            max_attempts=1,
            prices_json=json.dumps({"gpt-test": {"input": 2.0, "cached_input": 0.5, "output": 8.0}}),
        )

        async def run() -> RerunOutcome:
            client = create_async_redis(redis_url)
            try:
                async with llm.auditor(client) as auditor:
                    reruns = Reruns(auditor, sync_session_factory(sync_engine), None, rules=GatingRules())
                    return await reruns.rerun(RerunRequest("oa", audit_id, 1, instructions="Consentement au 2e appel"))
            finally:
                await client.aclose()

        outcome = asyncio.run(run())
    assert outcome.status == "completed", outcome.error
    prompts = [json.dumps(seen.body, ensure_ascii=False) for seen in server.seen]
    assert any("Consentement au 2e appel" in p and "INSTRUCTIONS SPÉCIFIQUES" in p for p in prompts)
    with Session(sync_engine) as session:
        row = step_states(session, audit_id)[1].row
        assert row.input_tokens > 0
        assert row.cost_usd > 0
        assert row.transcript_mode == "prompt"
        assert session.get_one(Audit, audit_id).input_tokens == tokens_before + row.input_tokens


def test_a_control_point_override_recomputes_the_step_and_the_audit(
    transcribed_day: list[str], scorecard_id: int, sync_engine: Engine
) -> None:
    """The original stored the new status and left the step's score and the audit's level as they were."""
    audit_id = _audit(sync_engine, scorecard_id, transcribed_day[0])
    with Session(sync_engine) as session, session.begin():
        step = _multi_point_step(session, audit_id)
        position, weight, points = step.position, step.weight, len(step.control_points)
        for index in range(1, points + 1):
            state = review_point(
                session, audit_id, position, index, {"statut": "ABSENT"}, actor=ANALYST, reason="rien entendu"
            )
        assert (state.view.score, state.view.conforme) == (0, "NON_CONFORME")
        assert state.ai.score == step.score  # the AI's verdict is still there
        _stored_matches_scratch(session, audit_id)
        for index in range(1, points + 1):
            state = review_point(session, audit_id, position, index, {"statut": "PRESENT"}, actor=ANALYST, reason="ok")
        assert (state.view.score, state.view.conforme) == (weight, "CONFORME")
        _stored_matches_scratch(session, audit_id)
        trail = session.scalars(
            select(AuditReview).where(AuditReview.audit_id == audit_id).order_by(AuditReview.id)
        ).all()
        assert len(trail) == 2 * points
        assert {(r.actor_user_id, r.actor, r.kind) for r in trail} == {(7, "user:7", "control_point")}
        assert trail[points].previous["statut"] == "ABSENT"
        assert trail[points].override == {"statut": "PRESENT"}


def test_a_step_override_is_validated_trailed_and_lapses_when_the_step_is_rerun(
    transcribed_day: list[str], scorecard_id: int, sync_engine: Engine
) -> None:
    audit_id = _audit(sync_engine, scorecard_id, transcribed_day[0])
    with Session(sync_engine) as session, session.begin():
        weight = step_states(session, audit_id)[1].row.weight
        with pytest.raises(InvalidOverride) as invalid:
            review_step(session, audit_id, 1, {"conforme": "CONFORME", "score": weight + 1}, actor=ANALYST, reason="x")
        assert invalid.value.field == "body.score"
        assert invalid.value.kind == "invalid"  # rendered by the API as a 400 naming the field
        state = review_step(
            session, audit_id, 1, {"conforme": "NON_CONFORME", "score": 0}, actor=ANALYST, reason="pas de mention"
        )
        assert (state.view.conforme, state.view.score) == ("NON_CONFORME", 0)
        _stored_matches_scratch(session, audit_id)

    rerun(sync_engine, RerunRequest("after", audit_id, 1))

    with Session(sync_engine) as session:
        state = step_states(session, audit_id)[1]
        assert state.view == state.ai  # the rerun's verdict replaces the override...
        [(review, in_force)] = state.reviews  # ...which stays in the trail, no longer in force
        assert (review.reason, in_force) == ("pas de mention", False)
        _stored_matches_scratch(session, audit_id)


def test_a_deleted_audit_takes_no_override(transcribed_day: list[str], scorecard_id: int, sync_engine: Engine) -> None:
    audit_id = _audit(sync_engine, scorecard_id, transcribed_day[0])
    with Session(sync_engine) as session, session.begin():
        session.execute(text("UPDATE audits SET deleted_at = now() WHERE id = :id"), {"id": audit_id})
        with pytest.raises(NotReviewable):
            review_step(session, audit_id, 1, {"conforme": "CONFORME"}, actor=ANALYST, reason="x")


def test_trails_refuse_update_and_delete_even_for_the_applications_role(
    transcribed_day: list[str], scorecard_id: int, sync_engine: Engine
) -> None:
    audit_id = _audit(sync_engine, scorecard_id, transcribed_day[0])
    with Session(sync_engine) as session, session.begin():
        review_step(session, audit_id, 1, {"conforme": "PARTIEL"}, actor=ANALYST, reason="partiel")
        session.add(AuditRerun(rerun_id="t1", audit_id=audit_id, step_position=1, actor="user:7", run_id="run-t1"))
        record_change(session, audit_id, ChangeKind.SOFT_DELETE, actor=ANALYST, previous={}, new={"deleted": True})
    rerun(sync_engine, RerunRequest("t1", audit_id, 1))
    statements = [
        "UPDATE audit_reviews SET reason = 'rewritten'",
        "DELETE FROM audit_reviews",
        "UPDATE audit_rerun_results SET status = 'failed'",
        "DELETE FROM audit_rerun_results",
        "UPDATE audit_reruns SET actor = 'someone else'",
        "DELETE FROM audit_reruns",
        "UPDATE audit_changes SET kind = 'metadata'",
        "DELETE FROM audit_changes",
    ]
    for statement in statements:
        with sync_engine.connect() as connection, pytest.raises(DBAPIError, match="append-only audit trail"):
            connection.execute(text(statement))
    with Session(sync_engine) as session:
        assert session.scalars(select(AuditReview.reason)).all() == ["partiel"]


OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("step"), st.sampled_from(["CONFORME", "PARTIEL", "NON_CONFORME"]), st.integers(0, 10)),
        st.tuples(
            st.just("point"), st.sampled_from(["PRESENT", "ABSENT", "PARTIEL", "NON_APPLICABLE"]), st.integers(1, 4)
        ),
        st.tuples(st.just("rerun"), st.none(), st.none()),
        st.tuples(st.just("rerun_point"), st.none(), st.integers(1, 4)),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS, position=st.integers(1, 3))
def test_stored_score_and_level_equal_scoring_from_scratch_after_any_reruns_and_overrides(
    operations: list[tuple[str, Any, Any]],
    position: int,
    transcribed_day: list[str],
    scorecard_id: int,
    sync_engine: Engine,
) -> None:
    audit_id = _audit(sync_engine, scorecard_id, transcribed_day[0])
    for n, (kind, value, number) in enumerate(operations):
        with Session(sync_engine) as session, session.begin():
            state = step_states(session, audit_id)[position]
            points = len(state.row.control_points)
            if kind == "step":
                values = {"conforme": value, "score": min(number, state.row.weight)}
                review_step(session, audit_id, position, values, actor=ANALYST, reason=f"op {n}")
                assert step_states(session, audit_id)[position].view.conforme == value
            elif kind == "point":
                index = min(number, points)
                review_point(session, audit_id, position, index, {"statut": value}, actor=ANALYST, reason=f"op {n}")
                assert step_states(session, audit_id)[position].view.point(index).statut == value
        if kind == "rerun":
            assert rerun(sync_engine, RerunRequest(f"p{audit_id}-{n}", audit_id, position)).status == "completed"
        elif kind == "rerun_point":
            request = RerunRequest(f"p{audit_id}-{n}", audit_id, position, control_point_index=min(number, points))
            assert rerun(sync_engine, request).status == "completed"
        with Session(sync_engine) as session:
            _stored_matches_scratch(session, audit_id)


def test_the_calibration_asset_records_agreement_and_kappa_of_the_partitions_reviewed_audits(
    instance: dg.DagsterInstance,
    audit_resources: dict[str, Any],
    transcribed_day: list[str],
    scorecard_id: int,
    sync_engine: Engine,
) -> None:
    reviewed = _audit(sync_engine, scorecard_id, transcribed_day[0])
    _audit(sync_engine, scorecard_id, transcribed_day[1])  # not reviewed: not compared
    with Session(sync_engine) as session, session.begin():
        step = _multi_point_step(session, reviewed)
        flipped = "ABSENT" if step.control_points[0].statut != "ABSENT" else "PRESENT"
        position = step.position
        review_point(session, reviewed, position, 1, {"statut": flipped}, actor=ANALYST, reason="réécouté")
        points = sum(len(s.row.control_points) for s in step_states(session, reviewed).values())
    instance.add_dynamic_partitions("scorecards", [str(scorecard_id)])
    result = dg.materialize(
        [audit_calibration],
        partition_key=dg.MultiPartitionKey({"sales_day": DAY, "scorecard": str(scorecard_id)}),
        resources={"database": audit_resources["database"], "settings": audit_resources["settings"]},
        instance=instance,
    )
    assert result.success
    [event] = result.asset_materializations_for_node("audit_calibration")
    metadata: dict[str, Any] = {k: v.value for k, v in event.metadata.items()}
    assert (metadata["reviewed_audits"], metadata["points"]) == (1, points)
    assert metadata["agreement"] == round((points - 1) / points, 4)
    [top] = metadata["most_overridden"]
    assert (top["step_position"], top["control_point_index"], top["overrides"]) == (position, 1, 1)


def test_a_rerun_keeps_the_audits_tools_mode(
    transcribed_day: list[str], scorecard_id: int, sync_engine: Engine
) -> None:
    audit_id = _audit(sync_engine, scorecard_id, transcribed_day[0])
    with Session(sync_engine) as session, session.begin():
        session.execute(text("UPDATE audits SET use_rlm = true WHERE id = :id"), {"id": audit_id})
    assert rerun(sync_engine, RerunRequest("tools", audit_id, 1)).status == "completed"
    with Session(sync_engine) as session:
        assert step_states(session, audit_id)[1].row.transcript_mode == "tools"
