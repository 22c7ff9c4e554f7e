"""Versioned scorecards on the real Postgres: every edit a new immutable version, audits keep theirs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from domain.models import Audit, Scorecard, ScorecardStep, ScorecardVersion
from domain.rbac import Scope
from domain.scoping import Subject
from domain.scorecards import service
from domain.scorecards.io import read_document
from domain.scorecards.validation import InvalidScorecard
from tests.fixtures.factories.audits import add_audit
from tests.fixtures.factories.scorecards import THRESHOLDS, add_scorecard, sample_document, step_json

EVERYONE = Subject(Scope.ALL)


def _rows(session: Session, version_id: int) -> list[tuple[int, str, int]]:
    return [
        (s.position, s.name, s.weight)
        for s in session.scalars(
            select(ScorecardStep).where(ScorecardStep.version_id == version_id).order_by(ScorecardStep.position)
        )
    ]


def _current(session: Session, scorecard: Scorecard) -> ScorecardVersion:
    session.expire_all()
    return service.current_version(session, service.get_scorecard(session, scorecard.id))


def test_create_writes_version_one_with_steps(db_session: Session) -> None:
    scorecard = add_scorecard(db_session, steps=3)
    version = _current(db_session, scorecard)
    assert version.version == 1
    assert _rows(db_session, version.id) == [(1, "Étape 1", 2), (2, "Étape 2", 3), (3, "Étape 3", 4)]
    assert version.extra == {"complianceThresholds": THRESHOLDS}
    spec = service.current_spec(db_session, scorecard.id)
    assert (spec.version_id, spec.total_weight) == (version.id, 9)


def test_a_step_edit_makes_a_new_version_and_leaves_the_old_one_and_its_audits(db_session: Session) -> None:
    scorecard = add_scorecard(db_session, steps=3)
    v1 = _current(db_session, scorecard)
    audit_id = add_audit(db_session, None, v1)
    second_step = v1.steps[1]

    service.update_step(db_session, second_step.id, {"weight": 10, "prompt": "Nouveau prompt"})

    v2 = _current(db_session, scorecard)
    assert v2.version == 2
    assert v2.id != v1.id
    assert _rows(db_session, v2.id) == [(1, "Étape 1", 2), (2, "Étape 2", 10), (3, "Étape 3", 4)]
    assert v2.steps[1].prompt == "Nouveau prompt"
    assert v2.extra == {"complianceThresholds": THRESHOLDS}  # informational blocks carried forward
    # The old version is untouched and still readable, and the audit still points at it.
    assert _rows(db_session, v1.id) == [(1, "Étape 1", 2), (2, "Étape 2", 3), (3, "Étape 3", 4)]
    old = service.get_version(db_session, scorecard.id, 1).spec()
    assert old.steps[1].weight == 3
    assert old.steps[1].prompt == "Vérifie le point 2."
    assert db_session.get_one(Audit, audit_id).scorecard_version_id == v1.id


def test_flags_change_in_place_and_content_edits_version(db_session: Session) -> None:
    scorecard = add_scorecard(db_session)
    service.update(db_session, scorecard.id, is_active=False, run_automatically=True)
    assert _current(db_session, scorecard).version == 1
    service.update(db_session, scorecard.id, system_prompt="Tu es un auditeur.")  # unchanged: nothing written
    assert _current(db_session, scorecard).version == 1
    service.update(db_session, scorecard.id, name="Renommée", system_prompt="Autre persona")
    v2 = _current(db_session, scorecard)
    assert (v2.version, v2.name, v2.system_prompt) == (2, "Renommée", "Autre persona")
    refreshed = service.get_scorecard(db_session, scorecard.id)
    assert (refreshed.name, refreshed.is_active, refreshed.run_automatically) == ("Renommée", False, True)
    assert service.get_version(db_session, scorecard.id, 1).name != "Renommée"
    with pytest.raises(InvalidScorecard) as raised:
        service.update(db_session, scorecard.id, name="  ")
    assert [i.field for i in raised.value.issues] == ["name"]


def test_steps_move_insert_and_delete_keep_positions_one_to_n(db_session: Session) -> None:
    scorecard = add_scorecard(db_session, steps=4)
    v1 = _current(db_session, scorecard)
    service.update_step(db_session, v1.steps[3].id, {"position": 1})
    assert [n for _, n, _ in _rows(db_session, _current(db_session, scorecard).id)] == [
        "Étape 4", "Étape 1", "Étape 2", "Étape 3",
    ]  # fmt: skip
    service.add_step(db_session, scorecard.id, step_json(9, position=2, name="Insérée"))
    service.add_step(db_session, scorecard.id, {k: v for k, v in step_json(8, name="Fin").items() if k != "position"})
    v4 = _current(db_session, scorecard)
    assert [(p, n) for p, n, _ in _rows(db_session, v4.id)] == [
        (1, "Étape 4"), (2, "Insérée"), (3, "Étape 1"), (4, "Étape 2"), (5, "Étape 3"), (6, "Fin"),
    ]  # fmt: skip
    service.delete_step(db_session, v4.steps[2].id)
    v5 = _current(db_session, scorecard)
    assert [(p, n) for p, n, _ in _rows(db_session, v5.id)] == [
        (1, "Étape 4"), (2, "Insérée"), (3, "Étape 2"), (4, "Étape 3"), (5, "Fin"),
    ]  # fmt: skip
    assert v5.version == 5
    assert len(_rows(db_session, v4.id)) == 6


def test_reorder_rewrites_one_to_n_and_needs_every_step_once(db_session: Session) -> None:
    scorecard = add_scorecard(db_session, steps=3)
    ids = [s.id for s in _current(db_session, scorecard).steps]
    for bad in ([ids[0], ids[1]], [ids[0], ids[1], ids[1]], [*ids, ids[0]]):
        with pytest.raises(InvalidScorecard) as raised:
            service.reorder_steps(db_session, scorecard.id, bad)
        assert raised.value.issues[0].field == "stepIds"
    other = add_scorecard(db_session)
    with pytest.raises(InvalidScorecard) as raised:
        service.reorder_steps(db_session, scorecard.id, [ids[0], _current(db_session, other).steps[0].id, ids[2]])
    assert raised.value.issues[0].field == "stepIds[1]"

    service.reorder_steps(db_session, scorecard.id, [ids[2], ids[0], ids[1]])
    v2 = _current(db_session, scorecard)
    assert [(p, n) for p, n, _ in _rows(db_session, v2.id)] == [(1, "Étape 3"), (2, "Étape 1"), (3, "Étape 2")]
    same = [s.id for s in v2.steps]
    assert service.reorder_steps(db_session, scorecard.id, same).id == v2.id  # same order: no new version


def test_a_step_of_an_older_version_is_refused(db_session: Session) -> None:
    scorecard = add_scorecard(db_session, steps=2)
    stale = _current(db_session, scorecard).steps
    service.update_step(db_session, stale[0].id, {"name": "Changée"})
    attempts: list[Callable[[], object]] = [
        lambda: service.update_step(db_session, stale[1].id, {"weight": 9}),
        lambda: service.delete_step(db_session, stale[1].id),
        lambda: service.reorder_steps(db_session, scorecard.id, [stale[1].id, stale[0].id]),
    ]
    for attempt in attempts:
        with pytest.raises(service.StaleStep, match="belongs to version 1") as raised:
            attempt()
        assert raised.value.current_version == 2
    assert _current(db_session, scorecard).version == 2
    with pytest.raises(service.StepNotFound):
        service.update_step(db_session, 2**62, {"weight": 9})


def test_edits_are_validated_with_the_field_named(db_session: Session) -> None:
    scorecard = add_scorecard(db_session, steps=2)
    step = _current(db_session, scorecard).steps[0]
    cases: list[tuple[Any, str]] = [
        (lambda: service.update_step(db_session, step.id, {"weight": 11}), "weight"),
        (lambda: service.update_step(db_session, step.id, {"controlPoints": [" "]}), "controlPoints"),
        (lambda: service.update_step(db_session, step.id, {"position": 3}), "position"),
        (lambda: service.add_step(db_session, scorecard.id, step_json(1, position=4)), "position"),
        (lambda: service.add_step(db_session, scorecard.id, step_json(1, severityLevel="X")), "severityLevel"),
    ]
    for attempt, field in cases:
        with pytest.raises(InvalidScorecard) as raised:
            attempt()
        assert [i.field for i in raised.value.issues] == [field]
    assert _current(db_session, scorecard).version == 1


def test_the_last_step_cannot_be_deleted(db_session: Session) -> None:
    scorecard = add_scorecard(db_session, steps=1)
    with pytest.raises(service.LastStep):
        service.delete_step(db_session, _current(db_session, scorecard).steps[0].id)


def test_delete_is_refused_while_audits_use_the_scorecard(db_session: Session) -> None:
    used = add_scorecard(db_session)
    add_audit(db_session, None, _current(db_session, used), deleted=True)  # soft-deleted audits still reference it
    with pytest.raises(service.ScorecardInUse, match="deactivate it instead"):
        service.delete_scorecard(db_session, used.id)
    unused = add_scorecard(db_session)
    unused_id = unused.id
    service.delete_scorecard(db_session, unused_id)
    db_session.expire_all()
    assert db_session.get(Scorecard, unused_id) is None
    assert db_session.scalar(select(func.count()).where(ScorecardVersion.scorecard_id == unused_id)) == 0
    assert db_session.get(Scorecard, used.id) is not None


def test_import_as_new_scorecard_or_next_version(db_session: Session) -> None:
    document = sample_document(isActive=False, metadata={"k": 1})
    imported = service.import_document(db_session, document)
    assert imported.version_created
    assert imported.scorecard.is_active is False
    scorecard_id = imported.scorecard.id
    exported = service.export(db_session, scorecard_id)
    assert exported == document  # verbatim, its `version` label included
    assert imported.version.source_version == document["version"]

    again = service.import_document(db_session, exported, scorecard_id=scorecard_id)
    assert not again.version_created  # identical content: no new version
    same_name = service.import_document(db_session, exported)
    assert (same_name.scorecard.id, same_name.version_created) == (scorecard_id, False)
    with pytest.raises(service.NameTaken):
        service.import_document(db_session, {**exported, "description": "other"})
    changed = {**exported, "systemPrompt": "Nouveau", "metadata": {"k": 2}}
    third = service.import_document(db_session, changed, scorecard_id=scorecard_id)
    assert third.version.version == 2
    assert service.export(db_session, scorecard_id)["metadata"] == {"k": 2}
    assert service.export(db_session, scorecard_id, version=1)["metadata"] == {"k": 1}
    with pytest.raises(service.ScorecardNotFound):
        service.export(db_session, scorecard_id, version=3)


def test_latest_active_is_the_most_recently_created_active_one(db_session: Session) -> None:
    first = add_scorecard(db_session)
    second = add_scorecard(db_session)
    second.created_at = first.created_at + dt.timedelta(seconds=1)
    db_session.flush()
    assert service.latest_active(db_session) == second
    service.update(db_session, second.id, is_active=False)
    assert service.latest_active(db_session) == first


def test_check_reports_why_audits_could_not_use_it(db_session: Session) -> None:
    scorecard = add_scorecard(db_session)
    assert service.check(db_session, scorecard.id) == []
    service.update(db_session, scorecard.id, is_active=False)
    assert [i.field for i in service.check(db_session, scorecard.id)] == ["isActive"]


def test_usage_is_computed_from_the_audits(db_session: Session) -> None:
    scorecard = add_scorecard(db_session, steps=2)
    v1 = _current(db_session, scorecard)
    day = dt.datetime(2025, 3, 3, 10, tzinfo=dt.UTC)
    add_audit(db_session, None, v1, score="80.00", compliant=True, duration_ms=1000, created_at=day)
    add_audit(db_session, None, v1, score="50.00", compliant=False, duration_ms=3000, created_at=day)
    add_audit(
        db_session,
        None,
        v1,
        status="failed",
        score=None,
        compliant=None,
        duration_ms=None,
        created_at=day + dt.timedelta(hours=1),
    )
    add_audit(db_session, None, v1, score="0.00", compliant=False, deleted=True, created_at=day + dt.timedelta(days=9))
    service.update_step(db_session, v1.steps[0].id, {"weight": 9})
    v2 = _current(db_session, scorecard)
    add_audit(
        db_session, None, v2, score="95.50", compliant=True, duration_ms=2001, created_at=day + dt.timedelta(days=1)
    )
    add_audit(db_session, None, v2, status="running", score=None, compliant=None, created_at=day + dt.timedelta(days=2))
    unused = add_scorecard(db_session)

    stats = service.usage(db_session, [scorecard.id, unused.id], EVERYONE)
    assert stats[unused.id] == service.Usage()
    total = stats[scorecard.id]
    assert (total.total, total.completed, total.failed) == (5, 3, 1)
    assert total.average_score == round((80 + 50 + 95.5) / 3, 2)
    assert total.average_duration_ms == 2000
    assert total.compliance_rate == round(200 / 3, 2)
    assert total.last_used_at == day + dt.timedelta(days=2)

    by_version = service.usage_by_version(db_session, scorecard.id, EVERYONE)
    assert [(v.version, u.total, u.completed, u.average_score) for v, u in by_version] == [
        (1, 3, 2, 65.0),
        (2, 2, 1, 95.5),
    ]
    assert by_version[0][1].compliance_rate == 50.0


def test_seed_is_idempotent(db_session: Session) -> None:
    document = sample_document()
    first = service.seed_demo_scorecard(db_session, document)
    second = service.seed_demo_scorecard(db_session, document)
    assert "created" in first
    assert "unchanged (version 1)" in second
    scorecards = db_session.scalars(select(Scorecard).where(Scorecard.name == document["name"])).all()
    assert len(scorecards) == 1
    assert scorecards[0].run_automatically is True
    assert db_session.scalar(select(func.count()).where(ScorecardVersion.scorecard_id == scorecards[0].id)) == 1

    shipped_update = {**document, "systemPrompt": "Version 2 du produit"}
    assert "updated to version 2" in service.seed_demo_scorecard(db_session, shipped_update)
    step = _current(db_session, scorecards[0]).steps[0]
    service.update_step(db_session, step.id, {"weight": 1}, created_by_id=None)
    assert "edited since seeded" in service.seed_demo_scorecard(db_session, shipped_update)
    assert _current(db_session, scorecards[0]).version == 3


def test_the_demo_scorecard_seeds(db_session: Session) -> None:
    line = service.seed_demo_scorecard(db_session)
    name = read_document(service.demo_document()).name
    scorecard = db_session.scalars(select(Scorecard).where(Scorecard.name == name)).one()
    assert name in line
    assert service.check(db_session, scorecard.id) == []
    assert service.export(db_session, scorecard.id)["auditSteps"][0]["position"] == 1
