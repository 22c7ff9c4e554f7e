"""`audit_facts`: one row per latest audit x control point of a sales day, as the audit now stands.

The latest view (reruns and the overrides in force applied) is the one the report page, the chat
and calibration read: `domain.audits.reviews.step_states_of`. A day's rows are replaced as a whole
in one transaction, so a rebuilt partition never doubles nor mixes two builds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
import pyarrow as pa
from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from domain.audits.reviews import StepState, step_states_of
from domain.models import Audit, AuditControlPoint, AuditStatus, AuditStep, Fiche, ScorecardVersion
from domain.models.analytics import AuditFact
from domain.models.reviews import AuditReview, ReviewKind

#: The Parquet contract data teams build on. Pinned by hand (not derived from the table): a change
#: here is a breaking change for their queries, so the schema check and its test fail until it is
#: made on purpose.
FACTS_SCHEMA = pa.schema(
    [
        pa.field("audit_id", pa.int64(), nullable=False),
        pa.field("step_position", pa.int32(), nullable=False),
        pa.field("control_point_index", pa.int32(), nullable=False),
        pa.field("sales_day", pa.date32(), nullable=False),
        pa.field("fiche_id", pa.string(), nullable=False),
        pa.field("agent", pa.string()),
        pa.field("crm_group_id", pa.string()),
        pa.field("groupe", pa.string()),
        pa.field("scorecard_id", pa.int64(), nullable=False),
        pa.field("scorecard_version_id", pa.int64(), nullable=False),
        pa.field("scorecard_version", pa.int32(), nullable=False),
        pa.field("step_name", pa.string(), nullable=False),
        pa.field("step_weight", pa.int32(), nullable=False),
        pa.field("step_critical", pa.bool_(), nullable=False),
        pa.field("step_score", pa.int32(), nullable=False),
        pa.field("step_score_contribution", pa.float64()),
        pa.field("step_level", pa.string(), nullable=False),
        pa.field("control_point", pa.string(), nullable=False),
        pa.field("ai_status", pa.string(), nullable=False),
        pa.field("status", pa.string(), nullable=False),
        pa.field("human_changed", pa.bool_(), nullable=False),
        pa.field("changed_by", pa.string()),
        pa.field("evidence_count", pa.int32(), nullable=False),
        pa.field("first_evidence_second", pa.float64()),
        pa.field("auditor", pa.string(), nullable=False),
        pa.field("model", pa.string()),
        pa.field("prompt_version", pa.string(), nullable=False),
        pa.field("transcript_mode", pa.string(), nullable=False),
        pa.field("audit_score_percentage", pa.float64()),
        pa.field("audit_level", pa.string(), nullable=False),
        pa.field("audit_input_tokens", pa.int64(), nullable=False),
        pa.field("audit_output_tokens", pa.int64(), nullable=False),
        pa.field("audit_cost_usd", pa.float64(), nullable=False),
        pa.field("audited_minutes", pa.float64(), nullable=False),
        pa.field("audit_duration_seconds", pa.float64()),
        pa.field("completed_at", pa.timestamp("us", tz="UTC")),
    ]
)


def latest_audits_of(day: dt.date) -> Select[int]:
    """The day's audits the facts describe: latest, completed, not deleted, whatever the scorecard."""
    return (
        select(Audit.id)
        .join(Fiche, Fiche.fiche_id == Audit.fiche_id)
        .where(
            Fiche.sales_date == day,
            Audit.is_latest,
            Audit.deleted_at.is_(None),
            Audit.status == AuditStatus.COMPLETED,
        )
    )


def day_fingerprints(session: Session, days: Sequence[dt.date]) -> dict[dt.date, str]:
    """What each day's facts are built from, in one grouped query whatever the number of days: its
    audits (any state, so a deletion or a new attempt counts) with their last change, their newest step
    revision (a rerun), their reviews (an override) and the day's fiches' last change (an attribution
    moved). Equal fingerprints mean a rebuild would write the facts already written."""
    day = Fiche.sales_date
    of_audit = (
        select(func.max(AuditStep.id)).where(AuditStep.audit_id == Audit.id).scalar_subquery(),
        select(func.count(AuditReview.id)).where(AuditReview.audit_id == Audit.id).scalar_subquery(),
        select(func.max(AuditReview.id)).where(AuditReview.audit_id == Audit.id).scalar_subquery(),
    )
    statement = (
        select(
            day,
            func.count(Audit.id),
            func.max(Audit.updated_at),
            func.max(of_audit[0]),
            func.coalesce(func.sum(of_audit[1]), 0),
            func.max(of_audit[2]),
            func.max(Fiche.updated_at),
        )
        .outerjoin(Audit, Audit.fiche_id == Fiche.fiche_id)
        .where(day.in_(days))
        .group_by(day)
    )
    figures: dict[dt.date, Sequence[Any]] = dict.fromkeys(days, (0, None, None, 0, None, None))
    figures |= {found: values for found, *values in session.execute(statement)}
    return {d: "|".join(str(value) for value in values) for d, values in figures.items()}


def expected_rows(session: Session, day: dt.date) -> tuple[int, int]:
    """(audits, control points) of the day counted straight from the audit tables: what the facts must hold."""
    ids = latest_audits_of(day).subquery()
    audits = session.scalar(select(func.count()).select_from(ids)) or 0
    points = (
        session.scalar(
            select(func.count())
            .select_from(AuditControlPoint)
            .join(AuditStep, AuditStep.id == AuditControlPoint.step_id)
            .where(AuditStep.audit_id.in_(select(ids.c.id)), AuditStep.superseded_at.is_(None))
        )
        or 0
    )
    return int(audits), int(points)


def step_contribution(score: int, weight: int, audit_weight: int | None) -> float | None:
    """The step's part of its audit's score, in score points: min(score, weight) x 100 / the scorecard's
    total weight (`domain.audits.scoring`). The distinct steps' parts of an audit add up to its score
    before rounding; the score has no per-control-point term, so neither has the facts (decision 93)."""
    if audit_weight is None:
        return None
    return min(max(score, 0), weight) * 100 / audit_weight if audit_weight else 0.0


@dataclass(frozen=True)
class _AuditContext:
    audit: Audit
    fiche: Fiche
    scorecard_version: int


def _point_rows(ctx: _AuditContext, state: StepState) -> list[dict[str, Any]]:
    audit, fiche = ctx.audit, ctx.fiche
    rows = []
    for point in state.row.control_points:
        overrides = [
            review
            for review, in_force in state.reviews
            if in_force and review.kind == ReviewKind.CONTROL_POINT and review.control_point_index == point.index
        ]
        rows.append(
            {
                "audit_id": audit.id,
                "step_position": state.row.position,
                "control_point_index": point.index,
                "sales_day": fiche.sales_date,
                "fiche_id": audit.fiche_id,
                "agent": fiche.attribution_user_id,
                "crm_group_id": fiche.crm_group_id,
                "groupe": fiche.groupe,
                "scorecard_id": audit.scorecard_id,
                "scorecard_version_id": audit.scorecard_version_id,
                "scorecard_version": ctx.scorecard_version,
                "step_name": state.row.name,
                "step_weight": state.view.weight,
                "step_critical": state.view.is_critical,
                "step_score": state.view.score,
                "step_score_contribution": step_contribution(state.view.score, state.view.weight, audit.points_total),
                "step_level": state.view.niveau_conformite,
                "control_point": point.point,
                "ai_status": point.statut,
                "status": state.view.point(point.index).statut,
                "human_changed": bool(overrides),
                "changed_by": overrides[-1].actor if overrides else None,
                "evidence_count": len(point.citations),
                "first_evidence_second": min((c.start_seconds for c in point.citations), default=None),
                "auditor": audit.auditor,
                "model": audit.model,
                "prompt_version": audit.prompt_version,
                "transcript_mode": audit.transcript_mode,
                "audit_score_percentage": None if audit.score_percentage is None else float(audit.score_percentage),
                "audit_level": audit.niveau,
                "audit_input_tokens": audit.input_tokens,
                "audit_output_tokens": audit.output_tokens,
                "audit_cost_usd": audit.cost_usd,
                "audited_minutes": audit.audited_seconds / 60,
                "audit_duration_seconds": None if audit.duration_ms is None else audit.duration_ms / 1000,
                "completed_at": audit.completed_at,
            }
        )
    return rows


def day_facts(session: Session, day: dt.date) -> list[dict[str, Any]]:
    """The day's fact rows, ordered by audit, step and control point."""
    rows: Sequence[Any] = session.execute(
        select(Audit, Fiche, ScorecardVersion.version)
        .join(Fiche, Fiche.fiche_id == Audit.fiche_id)
        .join(ScorecardVersion, ScorecardVersion.id == Audit.scorecard_version_id)
        .where(Audit.id.in_(latest_audits_of(day)))
        .order_by(Audit.id)
    ).all()
    states = step_states_of(session, [audit.id for audit, _, _ in rows])
    return [
        fact
        for audit, fiche, version in rows
        for _, state in sorted(states.get(audit.id, {}).items())
        for fact in _point_rows(_AuditContext(audit, fiche, version), state)
    ]


def stored_counts(session: Session, day: dt.date) -> tuple[int, int]:
    """(facts, distinct audits) stored for the day."""
    rows, audits = session.execute(
        select(func.count(), func.count(AuditFact.audit_id.distinct())).where(AuditFact.sales_day == day)
    ).one()
    return int(rows), int(audits)


def stored_figures(session: Session, days: Sequence[dt.date]) -> dict[str, int]:
    """What `analytics.audit_facts` holds for those days: rows, audits, fiches, human-changed points."""
    rows, audits, fiches, changed = session.execute(
        select(
            func.count(),
            func.count(AuditFact.audit_id.distinct()),
            func.count(AuditFact.fiche_id.distinct()),
            func.count().filter(AuditFact.human_changed),
        ).where(AuditFact.sales_day.in_(days))
    ).one()
    return {"rows": int(rows), "audits": int(audits), "fiches": int(fiches), "human_changed": int(changed)}


def invalid_counts(session: Session, days: Sequence[dt.date]) -> tuple[int, int]:
    """(facts without a scorecard version, facts with a negative duration or second) of those days."""
    of_day = select(func.count()).select_from(AuditFact).where(AuditFact.sales_day.in_(days))
    unversioned = session.scalar(
        of_day.where(AuditFact.scorecard_version_id.is_(None) | AuditFact.scorecard_version.is_(None))
    )
    negative = session.scalar(
        of_day.where(
            (AuditFact.audit_duration_seconds < 0)
            | (AuditFact.audited_minutes < 0)
            | (AuditFact.first_evidence_second < 0)
        )
    )
    return int(unversioned or 0), int(negative or 0)


#: A stored score is rounded half up to 0.01 (`domain.audits.scoring`): its steps' exact parts may
#: differ from it by half of that (and a float's last bits).
SCORE_TOLERANCE = 0.005 + 1e-9


def score_mismatches(session: Session, days: Sequence[dt.date]) -> tuple[int, int]:
    """(audits of those days whose distinct steps' contributions do not add up to their stored score,
    audits with a step without a contribution) in one query."""
    steps = (
        select(
            AuditFact.audit_id,
            AuditFact.step_position,
            AuditFact.step_score_contribution.label("part"),
            AuditFact.audit_score_percentage.label("score"),
        )
        .where(AuditFact.sales_day.in_(days))
        .distinct()
        .subquery()
    )
    audits = (
        select(
            func.sum(steps.c.part).label("parts"),
            func.max(steps.c.score).label("score"),
            func.count().filter(steps.c.part.is_(None)).label("missing"),
        )
        .group_by(steps.c.audit_id)
        .subquery()
    )
    off, without = session.execute(
        select(
            func.count().filter(audits.c.missing == 0, func.abs(audits.c.parts - audits.c.score) > SCORE_TOLERANCE),
            func.count().filter(audits.c.missing > 0),
        )
    ).one()
    return int(off), int(without)


def replace_day(session: Session, day: dt.date, rows: Sequence[dict[str, Any]]) -> None:
    """The day's rows in `analytics.audit_facts` become `rows` (the caller's transaction makes it atomic).

    Written with COPY on the session's own connection: a day of 200 audits is ~7,000 rows, which an
    INSERT of many values sends several times slower (`benchmarks/analytics.py`)."""
    session.execute(delete(AuditFact).where(AuditFact.sales_day == day))
    if not rows:
        return
    connection = session.connection().connection.driver_connection
    assert isinstance(connection, psycopg.Connection), "COPY needs the psycopg driver"
    names = FACTS_SCHEMA.names
    table = f"{AuditFact.__table__.schema}.{AuditFact.__tablename__}"
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[name] for name in names])


def to_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """The rows as an Arrow table of the pinned schema (a missing or mistyped column raises)."""
    return pa.Table.from_pylist(list(rows), schema=FACTS_SCHEMA)


def stored_days(session: Session, first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    """The rows of those sales days (both included) as `analytics.audit_facts` holds them: what the
    downstream views read."""
    facts = session.scalars(
        select(AuditFact)
        .where(AuditFact.sales_day.between(first, last))
        .order_by(AuditFact.audit_id, AuditFact.step_position, AuditFact.control_point_index)
    )
    return [{name: getattr(fact, name) for name in FACTS_SCHEMA.names} for fact in facts]
