"""The pairs calibration reads, from the database: reviewed audits' control points, AI and as they stand."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, exists, func, select
from sqlalchemy.orm import Session

from domain.audits.calibration import PointKey, PointPair, Report, calibrate
from domain.audits.reviews import step_states_of
from domain.models import Audit, AuditDispute, AuditReview, AuditStatus, Fiche, Scorecard, ScorecardVersion
from domain.models.reviews import ReviewKind


@dataclass(frozen=True)
class CalibrationFilters:
    scorecard_id: int | None = None
    scorecard_version: int | None = None
    date_from: dt.date | None = None  # on the audit's completion day in `timezone`
    date_to: dt.date | None = None
    timezone: str = "UTC"  # the deployment's SALES_TIMEZONE: days and weeks as the team lives them
    groupes: tuple[str, ...] = ()  # the fiche's CRM group name, exact
    auditor: str | None = None
    model: str | None = None
    sales_day: dt.date | None = None  # the asset's partition


def _audits(filters: CalibrationFilters, scope: ColumnElement[bool] | None) -> Select[*tuple[Any, ...]]:
    completed_day = func.date(func.timezone(filters.timezone, Audit.completed_at))
    conditions: list[ColumnElement[bool]] = [Audit.status == AuditStatus.COMPLETED, Audit.deleted_at.is_(None)]
    if scope is not None:
        conditions.append(scope)
    if filters.scorecard_id is not None:
        conditions.append(Audit.scorecard_id == filters.scorecard_id)
    if filters.scorecard_version is not None:
        conditions.append(ScorecardVersion.version == filters.scorecard_version)
    if filters.date_from is not None:
        conditions.append(completed_day >= filters.date_from)
    if filters.date_to is not None:
        conditions.append(completed_day <= filters.date_to)
    if filters.groupes:
        conditions.append(Fiche.groupe.in_(filters.groupes))
    if filters.auditor is not None:
        conditions.append(Audit.auditor == filters.auditor)
    if filters.model is not None:
        conditions.append(Audit.model == filters.model)
    if filters.sales_day is not None:
        conditions.append(Fiche.sales_date == filters.sales_day)
    return (
        select(Audit.id, Audit.scorecard_id, Scorecard.name, Audit.completed_at)
        .join(Fiche, Fiche.fiche_id == Audit.fiche_id)
        .join(Scorecard, Scorecard.id == Audit.scorecard_id)
        .join(ScorecardVersion, ScorecardVersion.id == Audit.scorecard_version_id)
        .where(*conditions)
    )


def _counts(session: Session, statement: Select[*tuple[Any, ...]]) -> dict[PointKey, int]:
    return {(card, position, index): n for card, position, index, n in session.execute(statement)}


def calibration_report(
    session: Session, filters: CalibrationFilters, scope: ColumnElement[bool] | None = None, *, top: int = 10
) -> Report:
    """Calibration of the matching audits a human reviewed (`scope`: the caller's visibility, SQL)."""
    matching = _audits(filters, scope)
    zone = ZoneInfo(filters.timezone)
    reviewed = matching.where(exists().where(AuditReview.audit_id == Audit.id))
    rows: Sequence[Any] = session.execute(reviewed).all()
    states = step_states_of(session, [audit_id for audit_id, *_ in rows])
    pairs = [
        PointPair(
            scorecard_id=scorecard_id,
            scorecard_name=name,
            step_position=position,
            control_point_index=point.index,
            point=point.point,
            ai=point.statut,
            human=state.view.point(point.index).statut,
            completed_on=completed_at.astimezone(zone).date(),
        )
        for audit_id, scorecard_id, name, completed_at in rows
        for position, state in states.get(audit_id, {}).items()
        for point in state.row.control_points
    ]
    ids = matching.with_only_columns(Audit.id).scalar_subquery()
    overrides = _counts(
        session,
        select(Audit.scorecard_id, AuditReview.step_position, AuditReview.control_point_index, func.count())
        .join(Audit, Audit.id == AuditReview.audit_id)
        .where(AuditReview.audit_id.in_(ids), AuditReview.kind == ReviewKind.CONTROL_POINT)
        .group_by(Audit.scorecard_id, AuditReview.step_position, AuditReview.control_point_index),
    )
    disputes = _counts(
        session,
        select(Audit.scorecard_id, AuditDispute.step_position, AuditDispute.control_point_index, func.count())
        .join(Audit, Audit.id == AuditDispute.audit_id)
        .where(AuditDispute.audit_id.in_(ids))
        .group_by(Audit.scorecard_id, AuditDispute.step_position, AuditDispute.control_point_index),
    )
    return calibrate(pairs, audits=len(rows), overrides=overrides, disputes=disputes, top=top)
