"""Row-level data scopes as SQL: which fiches (and everything hanging off a fiche) a grant reaches.

* ``ALL``   -> every row;
* ``GROUP`` -> ``Fiche.crm_group_id`` is the CRM group id of one of the principal's teams. Teams are
  matched by their *CRM group id*, never by display name, so renaming a team changes nothing;
* ``SELF``  -> ``Fiche.attribution_user_id`` equals the principal's ``crm_user_id`` (no CRM link: nothing).

Every route family filters in SQL through :func:`fiche_scope_clause` / :func:`apply_fiche_scope`, so
list totals and pages are computed on visible rows only. Single entities are loaded through the same
clause and an invisible row is indistinguishable from a missing one (the API answers 404 for both).
Entities attached to a fiche (recordings, audits, ...) join to ``Fiche`` and reuse the clause; the
audit list and grouped view read the same two columns from their copies on ``Audit``
(:func:`audit_scope_clause`, kept equal to the fiche's by triggers) so they need no join to filter.
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from sqlalchemy import ARRAY, ColumnElement, Select, String, any_, bindparam, false, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, Session

from domain.models.audits import Audit
from domain.models.auth import Team, TeamMember
from domain.models.fiches import Fiche
from domain.rbac import Scope

T = TypeVar("T")


class ScopeSubject(Protocol):
    """Who asks, reduced to what scoping needs (an API `Grant` is one)."""

    @property
    def scope(self) -> Scope: ...

    @property
    def crm_user_id(self) -> str | None: ...

    @property
    def crm_group_ids(self) -> frozenset[str]: ...


@dataclass(frozen=True)
class Subject:
    """A plain `ScopeSubject`, for code outside a request (assets, scripts, tests)."""

    scope: Scope
    crm_user_id: str | None = None
    crm_group_ids: frozenset[str] = field(default_factory=frozenset)


def owner_clause(
    subject: ScopeSubject,
    *,
    group_column: InstrumentedAttribute[Any] | ColumnElement[Any],
    owner_column: InstrumentedAttribute[Any] | ColumnElement[Any],
) -> ColumnElement[bool]:
    """The scope rule for any table carrying a CRM group id and a CRM owner id."""
    if subject.scope is Scope.ALL:
        return true()
    if subject.scope is Scope.GROUP:
        if not subject.crm_group_ids:
            return false()
        return group_column.in_(sorted(subject.crm_group_ids))
    if subject.crm_user_id is None:
        return false()
    return owner_column == subject.crm_user_id


def fiche_scope_clause(subject: ScopeSubject, fiche: type[Fiche] | Any = Fiche) -> ColumnElement[bool]:
    """`WHERE` clause restricting `fiche` (the model or an alias of it) to what `subject` may see."""
    return owner_clause(subject, group_column=fiche.crm_group_id, owner_column=fiche.attribution_user_id)


#: A subject's ids as parameters (`scope_parameters`), for statements built once per scope.
_GROUP_IDS = bindparam("scope_group_ids", type_=ARRAY(String))
_OWNER_ID = bindparam("scope_owner_id", type_=String)


def bound_fiche_scope_clause(scope: Scope, fiche: type[Fiche] | Any = Fiche) -> ColumnElement[bool]:
    """`fiche_scope_clause` of any subject with `scope`, the subject's ids the parameters of
    `scope_parameters`: the same fiches pass (a GROUP subject without linked teams matches no group,
    a SELF subject without a CRM id compares with NULL, which no fiche passes). A statement built
    once with it keeps SQLAlchemy's memoised cache key; one rebuilt per request walks its whole
    tree again to find its compiled form (decision 121)."""
    if scope is Scope.ALL:
        return true()
    if scope is Scope.GROUP:
        return fiche.crm_group_id == any_(_GROUP_IDS)
    return fiche.attribution_user_id == _OWNER_ID


def scope_parameters(subject: ScopeSubject) -> dict[str, Any]:
    """The parameters of `bound_fiche_scope_clause` for `subject`."""
    return {"scope_group_ids": sorted(subject.crm_group_ids), "scope_owner_id": subject.crm_user_id}


#: What a statement built for many subjects knows of one: its scope and whether it reaches any row
#: at all (a GROUP subject with a team linked to the CRM, a SELF subject with a CRM id).
ScopeShape = tuple[Scope, bool]


def scope_shape(subject: ScopeSubject) -> ScopeShape:
    if subject.scope is Scope.GROUP:
        return Scope.GROUP, bool(subject.crm_group_ids)
    if subject.scope is Scope.SELF:
        return Scope.SELF, subject.crm_user_id is not None
    return Scope.ALL, True


def bound_owner_clause(
    shape: ScopeShape, *, group_column: ColumnElement[Any] | Any, owner_column: ColumnElement[Any] | Any
) -> ColumnElement[bool]:
    """`owner_clause` of any subject of `shape`, its ids the parameters of `scope_parameters`. The
    SQL is `owner_clause`'s (the groups a list expanded at execution), so the plans are too."""
    scope, reaches = shape
    if scope is Scope.ALL:
        return true()
    if not reaches:
        return false()
    if scope is Scope.GROUP:
        return group_column.in_(bindparam("scope_group_ids", type_=group_column.type, expanding=True))
    return owner_column == _OWNER_ID


@functools.cache
def audit_scope_clause(shape: ScopeShape) -> ColumnElement[bool]:
    """`bound_owner_clause` of an audit's fiche, read from the audit's copies of its CRM group and
    owner (migration `i21c_audit_fiche_copies`: a trigger sets them from the fiche on every insert
    and fiche change, in the writer's statement), so the same audits pass, without a join."""
    owner = Audit.fiche_attribution_user_id
    return bound_owner_clause(shape, group_column=Audit.fiche_crm_group_id, owner_column=owner)


def apply_fiche_scope(statement: Select[Any], subject: ScopeSubject, fiche: type[Fiche] | Any = Fiche) -> Select[Any]:
    """`statement` (which must select from or join `fiche`) filtered to the subject's scope."""
    if subject.scope is Scope.ALL:
        return statement
    return statement.where(fiche_scope_clause(subject, fiche))


def reaches_all_of(wider: Scope, narrower: Scope) -> bool:
    """Whether one principal's `wider` scope reaches every fiche its `narrower` one does, so a fiche
    already found with the narrower needs no second look: ALL reaches all, a scope reaches itself,
    and GROUP and SELF reach neither of each other (an own sale booked in another group)."""
    return wider is Scope.ALL or wider is narrower


def team_group_ids_statement(user_id: int) -> Select[str | None]:
    """The CRM group ids of a user's teams (teams without a CRM link reach nothing)."""
    return (
        select(Team.crm_group_id)
        .join(TeamMember, TeamMember.team_id == Team.id)
        .where(TeamMember.user_id == user_id, Team.crm_group_id.is_not(None))
    )


def _subject(scope: Scope, crm_user_id: str | None, group_ids: Collection[str | None]) -> Subject:
    return Subject(scope, crm_user_id, frozenset(g for g in group_ids if g))


def load_subject(session: Session, *, user_id: int, crm_user_id: str | None, scope: Scope) -> Subject:
    """A subject for a user, reading their teams' CRM group ids now (sync callers: assets, scripts)."""
    return _subject(scope, crm_user_id, session.scalars(team_group_ids_statement(user_id)).all())


async def load_subject_async(session: AsyncSession, *, user_id: int, crm_user_id: str | None, scope: Scope) -> Subject:
    """The async twin of :func:`load_subject`."""
    return _subject(scope, crm_user_id, (await session.scalars(team_group_ids_statement(user_id))).all())


async def first_visible(session: AsyncSession, statement: Select[T]) -> T | None:
    """The first row of an already-scoped statement, or `None` when missing *or* out of scope."""
    return (await session.scalars(statement.limit(1))).first()
