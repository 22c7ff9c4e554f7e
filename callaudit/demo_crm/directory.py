"""CRM groups (sales teams) and users (agents, team leads, an administrator) for a seed.

Fiches are attributed to active agents of a group, so the product's SELF / GROUP scopes and its
CRM-user linkage have something consistent to work with; ids are fixed per position so they stay
stable when names change with the seed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from callaudit.demo_crm.people import Person, ascii_slug, draw_person, landline_number
from callaudit.demo_crm.seeding import derive_rng

AGENTS_PER_GROUP = 5


@dataclass(frozen=True)
class Group:
    id: str
    nom: str
    agence_id: str
    agence_nom: str


GROUPS: tuple[Group, ...] = (
    Group("4", "NCA R1", "17", "1-NCAR1"),
    Group("7", "NCA R3", "19", "3-NCAR3"),
    Group("9", "LDV Lyon", "22", "2-LDVLYON"),
    Group("12", "SUD Marseille", "25", "4-SUDMRS"),
)
HEAD_OFFICE = Group("1", "Direction", "1", "SIEGE")

ROLE_ADMIN = ("1", "Administrateur")
ROLE_LEAD = ("2", "Responsable")
ROLE_AGENT = ("3", "Commercial")


@dataclass(frozen=True)
class User:
    id: str
    person: Person
    group: Group
    role: tuple[str, str]
    active: bool
    telephone: str

    @property
    def email(self) -> str:
        return f"{ascii_slug(self.person.prenom)}.{ascii_slug(self.person.nom)}@example.org"

    @property
    def login(self) -> str:
        return f"{ascii_slug(self.person.prenom)[0]}{ascii_slug(self.person.nom)}"


@dataclass(frozen=True)
class Directory:
    users: tuple[User, ...]

    def group_members(self, group: Group) -> tuple[User, ...]:
        return tuple(user for user in self.users if user.group == group)

    def active_agents(self, group: Group) -> tuple[User, ...]:
        return tuple(u for u in self.group_members(group) if u.active and u.role == ROLE_AGENT)

    def lead(self, group: Group) -> User:
        return next(u for u in self.group_members(group) if u.role == ROLE_LEAD)


@functools.lru_cache(maxsize=16)
def build_directory(seed: int) -> Directory:
    """Per group: one lead, five active agents, one former agent; plus one administrator."""
    rng = derive_rng(seed, "directory")
    users: list[User] = []
    seen: set[tuple[str, str]] = set()

    def add(group: Group, role: tuple[str, str], active: bool = True) -> None:
        person = draw_person(rng)
        while (person.prenom, person.nom) in seen:
            person = draw_person(rng)
        seen.add((person.prenom, person.nom))
        user_id = str(101 + len(users))
        users.append(User(user_id, person, group, role, active, landline_number(rng)))

    add(HEAD_OFFICE, ROLE_ADMIN)
    for group in GROUPS:
        add(group, ROLE_LEAD)
        for _ in range(AGENTS_PER_GROUP):
            add(group, ROLE_AGENT)
        add(group, ROLE_AGENT, active=False)
    return Directory(tuple(users))
