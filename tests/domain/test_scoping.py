"""domain.scoping on real rows: SELF / GROUP / ALL see exactly the right fiches."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, aliased

from domain.models import Fiche, Team, TeamMember, User
from domain.rbac import Scope
from domain.scoping import (
    Subject,
    apply_fiche_scope,
    bound_fiche_scope_clause,
    fiche_scope_clause,
    load_subject,
    reaches_all_of,
    scope_parameters,
)

# fiche id -> (CRM group, attributed CRM user)
FICHES = {
    "A1": ("G-A", "u-alice"),
    "A2": ("G-A", "u-bob"),
    "B1": ("G-B", "u-alice"),  # Alice's sale, booked in the other group
    "B2": ("G-B", "u-carol"),
    "N1": (None, "u-alice"),  # group unknown yet
    "N2": ("G-A", None),  # attribution unknown yet
}


@pytest.fixture
def rows(db_session: Session) -> dict[str, int]:
    for fiche_id, (group, owner) in FICHES.items():
        db_session.execute(
            insert(Fiche).values(
                fiche_id=fiche_id, crm_group_id=group, attribution_user_id=owner, groupe=f"name {group}"
            )
        )
    team_a = Team(name="Team A", crm_group_id="G-A")
    team_b = Team(name="Team B", crm_group_id="G-B")
    team_unlinked = Team(name="Team without CRM link", crm_group_id=None)
    alice = User(email="alice@example.test", crm_user_id="u-alice")
    nobody = User(email="nobody@example.test", crm_user_id=None)
    db_session.add_all([team_a, team_b, team_unlinked, alice, nobody])
    db_session.flush()
    db_session.add_all(
        [TeamMember(team_id=team_a.id, user_id=alice.id), TeamMember(team_id=team_unlinked.id, user_id=nobody.id)]
    )
    db_session.flush()
    return {"alice": alice.id, "nobody": nobody.id, "team_a": team_a.id, "team_b": team_b.id}


def visible(session: Session, subject: Subject) -> set[str]:
    """What `subject` sees, asserted the same through the clause built once per scope with the
    subject's ids as parameters (`bound_fiche_scope_clause`) as through the literal one."""
    statement = apply_fiche_scope(select(Fiche.fiche_id), subject)
    seen = set(session.scalars(statement).all())
    bound = select(Fiche.fiche_id).where(bound_fiche_scope_clause(subject.scope))
    assert set(session.scalars(bound, scope_parameters(subject)).all()) == seen
    return seen


def subject(session: Session, user_id: int, scope: Scope) -> Subject:
    crm_user_id = session.scalar(select(User.crm_user_id).where(User.id == user_id))
    return load_subject(session, user_id=user_id, crm_user_id=crm_user_id, scope=scope)


def test_all_sees_everything(db_session: Session, rows: dict[str, int]) -> None:
    assert visible(db_session, subject(db_session, rows["alice"], Scope.ALL)) == set(FICHES)


def test_group_matches_crm_group_ids_of_the_teams(db_session: Session, rows: dict[str, int]) -> None:
    assert visible(db_session, subject(db_session, rows["alice"], Scope.GROUP)) == {"A1", "A2", "N2"}


def test_self_matches_the_attribution(db_session: Session, rows: dict[str, int]) -> None:
    assert visible(db_session, subject(db_session, rows["alice"], Scope.SELF)) == {"A1", "B1", "N1"}


def test_no_crm_link_or_no_linked_team_sees_nothing(db_session: Session, rows: dict[str, int]) -> None:
    assert visible(db_session, subject(db_session, rows["nobody"], Scope.SELF)) == set()
    assert visible(db_session, subject(db_session, rows["nobody"], Scope.GROUP)) == set()
    assert visible(db_session, Subject(Scope.GROUP)) == set()
    assert visible(db_session, Subject(Scope.SELF)) == set()


def test_renaming_a_team_changes_no_visibility(db_session: Session, rows: dict[str, int]) -> None:
    before = visible(db_session, subject(db_session, rows["alice"], Scope.GROUP))
    # Give team A the name that fiches of group B carry, and team B team A's old name.
    db_session.execute(update(Team).where(Team.id == rows["team_a"]).values(name="name G-B"))
    db_session.execute(update(Team).where(Team.id == rows["team_b"]).values(name="Team A"))
    assert visible(db_session, subject(db_session, rows["alice"], Scope.GROUP)) == before


def test_relinking_a_team_moves_visibility(db_session: Session, rows: dict[str, int]) -> None:
    db_session.execute(update(Team).where(Team.id == rows["team_b"]).values(crm_group_id="G-OLD-B"))
    db_session.execute(update(Team).where(Team.id == rows["team_a"]).values(crm_group_id="G-B"))
    assert visible(db_session, subject(db_session, rows["alice"], Scope.GROUP)) == {"B1", "B2"}


def test_scopes_are_nested_for_a_member(db_session: Session, rows: dict[str, int]) -> None:
    all_ = visible(db_session, subject(db_session, rows["alice"], Scope.ALL))
    group = visible(db_session, subject(db_session, rows["alice"], Scope.GROUP))
    assert group <= all_
    assert visible(db_session, subject(db_session, rows["alice"], Scope.SELF)) <= all_


def test_clause_works_on_an_alias_and_in_joins(db_session: Session, rows: dict[str, int]) -> None:
    alias = aliased(Fiche)
    alice = subject(db_session, rows["alice"], Scope.GROUP)
    statement = select(alias.fiche_id).where(fiche_scope_clause(alice, alias))
    assert set(db_session.scalars(statement).all()) == {"A1", "A2", "N2"}
    counted = db_session.scalar(apply_fiche_scope(select(Fiche.id).where(Fiche.fiche_id == "B2"), alice))
    assert counted is None


def test_reaches_all_of_holds_on_real_rows(db_session: Session, rows: dict[str, int]) -> None:
    seen = {scope: visible(db_session, subject(db_session, rows["alice"], scope)) for scope in Scope}
    for wider in Scope:
        for narrower in Scope:
            assert reaches_all_of(wider, narrower) == (seen[narrower] <= seen[wider]), (wider, narrower)
