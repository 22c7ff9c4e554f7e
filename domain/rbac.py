"""Role-based access control, as pure data and functions (no database, no HTTP).

Vocabulary (reference §10.6-10.7):

* a **permission** is a base key such as ``audits`` or ``admin.users``;
* a **grant** gives ``read`` and/or ``write`` on one permission with a **scope**: ``SELF < GROUP < ALL``;
* a **guard** is the string a route checks, ``<key>.<suffix>``; ``read``/``auth`` need read, and
  ``write``/``run``/``rerun``/``fetch``/``use``/``test`` need write;
* a principal's **effective grant** per key merges all its roles: read and write are OR-ed, and the
  read scope (write scope) is the widest scope among the role grants giving read (write).

Everything here is deterministic and side-effect free so the rules can be unit-tested exhaustively;
``api.auth`` loads the rows and ``domain.scoping`` turns a scope into SQL.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


class Scope(enum.StrEnum):
    """How much data a grant reaches. Ordered: SELF < GROUP < ALL."""

    SELF = "SELF"
    GROUP = "GROUP"
    ALL = "ALL"

    @property
    def rank(self) -> int:
        return _SCOPE_RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Scope):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Scope):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Scope):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Scope):
            return NotImplemented
        return self.rank >= other.rank


_SCOPE_RANK = {Scope.SELF: 0, Scope.GROUP: 1, Scope.ALL: 2}


class Action(enum.StrEnum):
    READ = "read"
    WRITE = "write"


def widest(*scopes: Scope | None) -> Scope | None:
    present = [s for s in scopes if s is not None]
    return max(present, key=lambda s: s.rank) if present else None


def narrowest(*scopes: Scope | None) -> Scope | None:
    """The narrower of the scopes; `None` (no access) wins over any scope."""
    if any(s is None for s in scopes) or not scopes:
        return None
    return min((s for s in scopes if s is not None), key=lambda s: s.rank)


# --- catalogue ------------------------------------------------------------------------------------

#: Every permission key, with the description seeded into `permissions` (reference §10.6).
PERMISSIONS: Mapping[str, str] = {
    "fiches": "CRM sales records (fiches): cached lists, details, status",
    # Separate from `fiches` write: calling the CRM (and storing what it answers) is ingestion, which a
    # reader must not be able to trigger (CRM caps are shared with the pipeline).
    "fiches.fetch": "Live CRM calls: search a day, fetch or refresh fiche details, background range fetches",
    "audits": "Audits: read results, run them, edit their metadata; open disputes on what one may read",
    # Changing a verdict is a quality analyst's act, apart from running audits: a machine token or
    # a runner must not be able to rewrite scores, nor spend model calls on reruns, by default.
    "audits.review": "Override audit verdicts (steps, control points) and resolve disputes",
    "audits.rerun": "Rerun an audit step or one control point (model calls)",
    "audit-configs": "Audit configurations and their steps",
    "automation": "Automation schedules and runs",
    "recordings": "Call recordings",
    "transcriptions": "Transcriptions: read, launch",
    "products": "Insurance product catalogue",
    "chat": "Chat about audits and fiches",
    "realtime": "Realtime channel authorization",
    # SELF: one's own subscriptions; ALL: everyone's, and team subscriptions. What a subscription
    # receives is still bounded by its owner's read scope on the data each event is about.
    "webhooks": "Outbound webhooks: subscriptions, delivery log, redelivery",
    "admin.users": "Administration: users, teams, invitations, API tokens",
    "admin.roles": "Administration: roles and their grants",
    "admin.permissions": "Administration: the permission catalogue",
}

#: Guard suffix -> the action it needs (reference §10.6).
GUARD_SUFFIXES: Mapping[str, Action] = {
    "read": Action.READ,
    "auth": Action.READ,
    "write": Action.WRITE,
    "run": Action.WRITE,
    "rerun": Action.WRITE,
    "fetch": Action.WRITE,
    "use": Action.WRITE,
    "test": Action.WRITE,
}


class UnknownPermission(ValueError):
    """A permission key or guard that is not in the catalogue."""


def action_for_suffix(suffix: str) -> Action:
    try:
        return GUARD_SUFFIXES[suffix]
    except KeyError:
        raise UnknownPermission(f"unknown guard suffix {suffix!r}") from None


def parse_guard(guard: str) -> tuple[str, Action]:
    """`"admin.users.write"` -> `("admin.users", WRITE)`; the key must be in the catalogue."""
    key, sep, suffix = guard.rpartition(".")
    if not sep or key not in PERMISSIONS:
        raise UnknownPermission(f"unknown permission guard {guard!r}")
    return key, action_for_suffix(suffix)


# --- grants ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleGrant:
    """One row of `role_permissions`: read/write flags and a single scope."""

    key: str
    read: bool
    write: bool
    scope: Scope = Scope.SELF


@dataclass(frozen=True)
class EffectiveGrant:
    """What a principal may do on one permission key; `None` scope = no access for that action."""

    key: str
    read_scope: Scope | None = None
    write_scope: Scope | None = None

    @property
    def read(self) -> bool:
        return self.read_scope is not None

    @property
    def write(self) -> bool:
        return self.write_scope is not None

    def scope_for(self, action: Action) -> Scope | None:
        return self.read_scope if action is Action.READ else self.write_scope


Grants = Mapping[str, EffectiveGrant]


def merge_role_grants(grants: Iterable[RoleGrant]) -> dict[str, EffectiveGrant]:
    """Merge the grants of all a principal's roles: OR the flags, keep the widest scope per action."""
    merged: dict[str, EffectiveGrant] = {}
    for grant in grants:
        if not (grant.read or grant.write):
            continue
        current = merged.get(grant.key, EffectiveGrant(grant.key))
        merged[grant.key] = EffectiveGrant(
            grant.key,
            read_scope=widest(current.read_scope, grant.scope if grant.read else None),
            write_scope=widest(current.write_scope, grant.scope if grant.write else None),
        )
    return merged


def merge_role_grants_per_key(grants: Iterable[RoleGrant]) -> dict[str, RoleGrant]:
    """Collapse duplicate keys of one role's grant list (flags OR-ed, widest scope) as the admin API stores them."""
    merged: dict[str, RoleGrant] = {}
    for grant in grants:
        current = merged.get(grant.key)
        if current is None:
            merged[grant.key] = grant
            continue
        scope = widest(current.scope, grant.scope)
        assert scope is not None
        merged[grant.key] = RoleGrant(grant.key, current.read or grant.read, current.write or grant.write, scope)
    return merged


def intersect_grants(limit: Grants, owner: Grants) -> dict[str, EffectiveGrant]:
    """A token's effective grants: each action at the narrower of the token's and the owner's scope."""
    result: dict[str, EffectiveGrant] = {}
    for key, grant in limit.items():
        own = owner.get(key)
        if own is None:
            continue
        combined = EffectiveGrant(
            key,
            read_scope=narrowest(grant.read_scope, own.read_scope),
            write_scope=narrowest(grant.write_scope, own.write_scope),
        )
        if combined.read or combined.write:
            result[key] = combined
    return result


def is_subset(requested: Grants, available: Grants) -> bool:
    """True when every action of `requested` is available at an equal or wider scope."""
    for key, grant in requested.items():
        have = available.get(key, EffectiveGrant(key))
        for action in Action:
            want = grant.scope_for(action)
            if want is None:
                continue
            got = have.scope_for(action)
            if got is None or got < want:
                return False
    return True


def all_grants(scope: Scope) -> dict[str, EffectiveGrant]:
    """Read and write on every permission at one scope (static machine tokens)."""
    return {key: EffectiveGrant(key, scope, scope) for key in PERMISSIONS}


def legacy_permission_key(guard: str) -> RoleGrant:
    """A legacy `permission_keys` entry such as `audits.read` -> a GROUP grant (reference §10.6)."""
    key, action = parse_guard(guard)
    return RoleGrant(key, read=action is Action.READ, write=action is Action.WRITE, scope=Scope.GROUP)


# --- seeded roles ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleDefinition:
    key: str
    name: str
    description: str
    grants: tuple[RoleGrant, ...]


def _rw(key: str, scope: Scope) -> RoleGrant:
    return RoleGrant(key, read=True, write=True, scope=scope)


def _r(key: str, scope: Scope) -> RoleGrant:
    return RoleGrant(key, read=True, write=False, scope=scope)


ALL, GROUP = Scope.ALL, Scope.GROUP

#: The built-in roles exactly as the reference table (§10.6). `callaudit seed` enforces them.
BUILT_IN_ROLES: Mapping[str, RoleDefinition] = {
    "admin": RoleDefinition(
        "admin",
        "Administrator",
        "Everything, on all data",
        tuple(_rw(key, ALL) for key in PERMISSIONS),
    ),
    "operator": RoleDefinition(
        "operator",
        "Operator",
        "Quality analyst: works on the fiches and audits of their teams",
        (
            _rw("fiches", GROUP),
            RoleGrant("fiches.fetch", read=False, write=True, scope=GROUP),
            _rw("audits", GROUP),
            RoleGrant("audits.review", read=False, write=True, scope=GROUP),
            RoleGrant("audits.rerun", read=False, write=True, scope=GROUP),
            _r("audit-configs", ALL),
            _rw("automation", GROUP),
            _r("recordings", GROUP),
            _rw("transcriptions", GROUP),
            _r("products", ALL),
            _rw("chat", GROUP),
            _rw("realtime", GROUP),
            _rw("webhooks", Scope.SELF),
        ),
    ),
    "viewer": RoleDefinition(
        "viewer",
        "Viewer",
        "Read-only access to the data of their teams",
        (
            _r("fiches", GROUP),
            _r("audits", GROUP),
            _r("audit-configs", ALL),
            _r("automation", GROUP),
            _r("recordings", GROUP),
            _r("transcriptions", GROUP),
            _r("products", ALL),
            _rw("chat", GROUP),
            _r("realtime", GROUP),
        ),
    ),
}

DEFAULT_ROLE = "viewer"
