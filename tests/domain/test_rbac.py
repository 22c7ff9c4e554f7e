"""domain.rbac: guard suffixes, widest-scope merge, intersection, and the seeded table of reference §10.6."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.rbac import (
    BUILT_IN_ROLES,
    PERMISSIONS,
    Action,
    EffectiveGrant,
    RoleGrant,
    Scope,
    UnknownPermission,
    action_for_suffix,
    all_grants,
    intersect_grants,
    is_subset,
    legacy_permission_key,
    merge_role_grants,
    merge_role_grants_per_key,
    narrowest,
    parse_guard,
    widest,
)

S, G, A = Scope.SELF, Scope.GROUP, Scope.ALL


def test_scope_order() -> None:
    assert S < G < A
    assert sorted([A, S, G]) == [S, G, A]
    assert widest(S, None, G) is G
    assert widest() is None
    assert narrowest(A, G) is G
    assert narrowest(A, None) is None


@pytest.mark.parametrize(
    ("suffix", "action"),
    [("read", "read"), ("auth", "read"), ("write", "write"), ("run", "write"), ("rerun", "write"),
     ("fetch", "write"), ("use", "write"), ("test", "write")],
)  # fmt: skip
def test_guard_suffixes(suffix: str, action: str) -> None:
    assert action_for_suffix(suffix) == Action(action)


def test_parse_guard_handles_dotted_keys() -> None:
    assert parse_guard("admin.users.write") == ("admin.users", Action.WRITE)
    assert parse_guard("audit-configs.read") == ("audit-configs", Action.READ)
    assert parse_guard("realtime.auth") == ("realtime", Action.READ)
    for bad in ("fiches", "fiches.fly", "nope.read", "admin.read", ""):
        with pytest.raises(UnknownPermission):
            parse_guard(bad)


def test_catalogue_is_the_reference_list() -> None:
    assert set(PERMISSIONS) == {
        "fiches", "fiches.fetch", "audits", "audits.review", "audits.rerun", "audit-configs", "automation",
        "recordings", "transcriptions", "products",
        "chat", "realtime", "admin.users", "admin.roles", "admin.permissions",
        "webhooks",  # ours (docs/decisions.md): outbound webhook subscriptions
    }  # fmt: skip


# The table of reference §10.6, transcribed independently of domain.rbac, plus our `webhooks` row.
REFERENCE = """
fiches          | RW ALL | RW GROUP | R GROUP
fiches.fetch    | RW ALL | W GROUP  | -
audits          | RW ALL | RW GROUP | R GROUP
audits.review   | RW ALL | W GROUP  | -
audits.rerun    | RW ALL | W GROUP  | -
audit-configs   | RW ALL | R ALL    | R ALL
automation      | RW ALL | RW GROUP | R GROUP
recordings      | RW ALL | R GROUP  | R GROUP
transcriptions  | RW ALL | RW GROUP | R GROUP
products        | RW ALL | R ALL    | R ALL
chat            | RW ALL | RW GROUP | RW GROUP
realtime        | RW ALL | RW GROUP | R GROUP
admin.users     | RW ALL | -        | -
admin.roles     | RW ALL | -        | -
admin.permissions | RW ALL | -      | -
webhooks        | RW ALL | RW SELF  | -
"""


def _reference() -> dict[str, dict[str, tuple[bool, bool, Scope]]]:
    table: dict[str, dict[str, tuple[bool, bool, Scope]]] = {"admin": {}, "operator": {}, "viewer": {}}
    for line in REFERENCE.strip().splitlines():
        key, *cells = (c.strip() for c in line.split("|"))
        for role, cell in zip(("admin", "operator", "viewer"), cells, strict=True):
            if cell != "-":
                flags, scope = cell.split()
                table[role][key] = ("R" in flags, "W" in flags, Scope(scope))
    return table


def test_seeded_roles_are_exactly_the_reference_table() -> None:
    reference = _reference()
    assert set(BUILT_IN_ROLES) == set(reference)
    for role, definition in BUILT_IN_ROLES.items():
        actual = {g.key: (g.read, g.write, g.scope) for g in definition.grants}
        assert actual == reference[role], role
        assert len(actual) == len(definition.grants), f"{role} has duplicate grants"


def test_merge_keeps_the_widest_scope_per_action() -> None:
    merged = merge_role_grants(
        [
            RoleGrant("audits", read=True, write=False, scope=A),
            RoleGrant("audits", read=True, write=True, scope=S),
            RoleGrant("fiches", read=True, write=False, scope=G),
            RoleGrant("fiches", read=False, write=True, scope=S),
            RoleGrant("chat", read=False, write=False, scope=A),  # grants nothing
        ]
    )
    assert merged == {
        "audits": EffectiveGrant("audits", read_scope=A, write_scope=S),
        "fiches": EffectiveGrant("fiches", read_scope=G, write_scope=S),
    }
    assert merged["audits"].scope_for(Action.WRITE) is S


def test_viewer_plus_operator_is_operator() -> None:
    merged = merge_role_grants([*BUILT_IN_ROLES["viewer"].grants, *BUILT_IN_ROLES["operator"].grants])
    assert merged == merge_role_grants(BUILT_IN_ROLES["operator"].grants)


def test_per_key_merge_for_role_definitions() -> None:
    merged = merge_role_grants_per_key([RoleGrant("audits", True, False, S), RoleGrant("audits", False, True, A)])
    assert merged == {"audits": RoleGrant("audits", True, True, A)}


def test_legacy_keys_become_group_grants() -> None:
    assert legacy_permission_key("audits.rerun") == RoleGrant("audits", read=False, write=True, scope=G)
    assert legacy_permission_key("chat.use") == RoleGrant("chat", read=False, write=True, scope=G)
    assert legacy_permission_key("fiches.read") == RoleGrant("fiches", read=True, write=False, scope=G)


def test_intersection_never_widens() -> None:
    owner = {"fiches": EffectiveGrant("fiches", G, G), "audits": EffectiveGrant("audits", A, None)}
    token = {
        "fiches": EffectiveGrant("fiches", A, S),
        "audits": EffectiveGrant("audits", S, A),
        "admin.users": EffectiveGrant("admin.users", A, A),
    }
    assert intersect_grants(token, owner) == {
        "fiches": EffectiveGrant("fiches", G, S),
        "audits": EffectiveGrant("audits", S, None),
    }


def test_subset() -> None:
    owner = {"fiches": EffectiveGrant("fiches", G, None)}
    assert is_subset({"fiches": EffectiveGrant("fiches", S, None)}, owner)
    assert is_subset({"fiches": EffectiveGrant("fiches", G, None)}, owner)
    assert not is_subset({"fiches": EffectiveGrant("fiches", A, None)}, owner)
    assert not is_subset({"fiches": EffectiveGrant("fiches", None, S)}, owner)
    assert not is_subset({"audits": EffectiveGrant("audits", S, None)}, owner)
    assert is_subset({}, owner)
    assert all(g.read_scope is A and g.write_scope is A for g in all_grants(A).values())


scopes = st.sampled_from([None, S, G, A])
grants = st.dictionaries(
    st.sampled_from(sorted(PERMISSIONS)), st.tuples(scopes, scopes).map(lambda rw: rw), max_size=6
).map(lambda d: {k: EffectiveGrant(k, r, w) for k, (r, w) in d.items() if r or w})


@given(grants, grants)
def test_token_grants_are_within_the_owner_and_the_token(
    token: dict[str, EffectiveGrant], owner: dict[str, EffectiveGrant]
) -> None:
    effective = intersect_grants(token, owner)
    assert is_subset(effective, owner)
    assert is_subset(effective, token)


@given(
    st.lists(
        st.builds(
            RoleGrant, st.sampled_from(sorted(PERMISSIONS)), st.booleans(), st.booleans(), st.sampled_from([S, G, A])
        )
    )
)
def test_merge_is_monotonic(role_grants: list[RoleGrant]) -> None:
    merged = merge_role_grants(role_grants)
    for grant in role_grants:
        assert is_subset(merge_role_grants([grant]), merged)
