"""Who is calling: a user session, a machine API token or a legacy static token, and what it may do.

A `Principal` is read from the database (status, roles, grants, teams), or for a user session from
what the API process remembers until Postgres notifies a change (`api.auth.principal_cache`), so
disabling a user, changing roles or moving teams takes effect on the very next request.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.rbac import Action, EffectiveGrant, Scope


class PrincipalKind(enum.StrEnum):
    USER = "user"
    API_TOKEN = "api_token"  # noqa: S105 - kinds, not secrets
    STATIC_TOKEN = "static_token"  # noqa: S105


@dataclass(frozen=True)
class TeamRef:
    id: int
    name: str
    crm_group_id: str | None


@dataclass(frozen=True)
class Principal:
    kind: PrincipalKind
    grants: Mapping[str, EffectiveGrant]
    user_id: int | None = None
    email: str | None = None
    crm_user_id: str | None = None
    roles: tuple[str, ...] = ()
    teams: tuple[TeamRef, ...] = ()
    token_id: int | None = None

    @property
    def is_user(self) -> bool:
        return self.kind is PrincipalKind.USER

    @property
    def crm_group_ids(self) -> frozenset[str]:
        return frozenset(t.crm_group_id for t in self.teams if t.crm_group_id)

    @property
    def team_names(self) -> list[str]:
        return [t.name for t in self.teams]

    def grant(self, key: str, action: Action) -> Grant | None:
        effective = self.grants.get(key)
        scope = effective.scope_for(action) if effective else None
        if scope is None:
            return None
        return Grant(key=key, action=action, scope=scope, principal=self)

    def describe(self) -> str:
        """For logs: kind and ids only, never a secret."""
        if self.kind is PrincipalKind.USER:
            return f"user:{self.user_id}"
        if self.kind is PrincipalKind.API_TOKEN:
            return f"api-token {self.token_id} (owner {self.user_id})"
        return "static_token"


@dataclass(frozen=True)
class Grant:
    """What `require(key, action)` hands to a route: the scope to filter by and who asked.

    It satisfies `domain.scoping.ScopeSubject`, so `apply_fiche_scope(stmt, grant)` just works.
    """

    key: str
    action: Action
    scope: Scope
    principal: Principal = field(repr=False)

    @property
    def crm_user_id(self) -> str | None:
        return self.principal.crm_user_id

    @property
    def crm_group_ids(self) -> frozenset[str]:
        return self.principal.crm_group_ids
