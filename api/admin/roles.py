"""`/api/admin/roles`: roles and their grants. Built-in roles keep the grants `callaudit seed` gives them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends

from api.admin.common import CONFLICT_RESPONSES, flush_or_409
from api.admin.repository import PermissionRepository, Permissions, RoleRepository, Roles
from api.admin.schemas import Deleted, GrantIn, GrantOut, RoleCreate, RoleOut, RolePatch
from api.deps import SessionDep
from api.errors import BadRequest, Conflict, NotFound
from api.schemas import Envelope, Page, PageParams, ok, page_params
from api.security import EntityId, Grant, require_all
from domain.models.auth import Permission, Role, RolePermission
from domain.rbac import RoleGrant, UnknownPermission, legacy_permission_key, merge_role_grants_per_key

router = APIRouter(prefix="/roles", tags=["admin: roles"], responses=CONFLICT_RESPONSES)

ReadRoles = Annotated[Grant, Depends(require_all("admin.roles", "read"))]
WriteRoles = Annotated[Grant, Depends(require_all("admin.roles", "write"))]


async def _roles_out(roles_repo: RoleRepository, roles: Sequence[Role]) -> list[RoleOut]:
    counts = await roles_repo.user_counts([r.id for r in roles])
    result = []
    for role in roles:
        grants = sorted(role.grants, key=lambda g: g.permission.key)
        result.append(
            RoleOut(
                id=role.id,
                key=role.key,
                name=role.name,
                description=role.description,
                built_in=role.built_in,
                permissions=[g.permission.key for g in grants if g.can_read or g.can_write],
                permission_grants=[
                    GrantOut(key=g.permission.key, read=g.can_read, write=g.can_write, scope=g.scope) for g in grants
                ],
                user_count=counts.get(role.id, 0),
                created_at=role.created_at,
                updated_at=role.updated_at,
            )
        )
    return result


async def _get_role(roles_repo: RoleRepository, role_id: int) -> Role:
    role = await roles_repo.get(role_id)
    if role is None:
        raise NotFound("Role not found")
    return role


async def resolve_grants(
    permissions_repo: PermissionRepository, grants: Sequence[GrantIn] | None, legacy: Sequence[str] | None
) -> dict[str, tuple[Permission, RoleGrant]]:
    """Requested grants (modern and legacy forms) merged per key, each with its `Permission` row."""
    requested: list[RoleGrant] = [RoleGrant(g.key, g.read, g.write, g.scope) for g in grants or ()]
    for index, guard in enumerate(legacy or ()):
        try:
            requested.append(legacy_permission_key(guard))
        except UnknownPermission:
            raise BadRequest(f"Unknown permission {guard!r}", field=f"permission_keys.{index}") from None
    merged = merge_role_grants_per_key(requested)
    permissions = await permissions_repo.by_keys(list(merged))
    for index, grant in enumerate(grants or ()):
        if grant.key not in permissions:
            raise BadRequest(f"Unknown permission {grant.key!r}", field=f"permission_grants.{index}.key")
    return {key: (permissions[key], g) for key, g in merged.items() if g.read or g.write}


def _grant_rows(role_id: int, grants: dict[str, tuple[Permission, RoleGrant]]) -> list[RolePermission]:
    return [
        RolePermission(role_id=role_id, permission_id=p.id, can_read=g.read, can_write=g.write, scope=g.scope)
        for p, g in grants.values()
    ]


@router.get("", response_model=Page[RoleOut], summary="List roles with their grants")
async def list_roles(
    _: ReadRoles, roles_repo: Roles, page: Annotated[PageParams, Depends(page_params)]
) -> Page[RoleOut]:
    """Built-in and custom roles with their grants (permission, read / write, scope) and how many users have each."""
    roles, total = await roles_repo.page(page)
    return page.paginate(await _roles_out(roles_repo, roles), total)


@router.get("/{role_id}", response_model=Envelope[RoleOut], summary="One role")
async def get_role(role_id: EntityId, _: ReadRoles, roles_repo: Roles) -> Envelope[RoleOut]:
    """One role with its grants; 404 when it does not exist."""
    role = await _get_role(roles_repo, role_id)
    return ok((await _roles_out(roles_repo, [role]))[0])


@router.post("", response_model=Envelope[RoleOut], status_code=201, summary="Create a role")
async def create_role(
    body: RoleCreate, _: WriteRoles, session: SessionDep, roles_repo: Roles, permissions_repo: Permissions
) -> Envelope[RoleOut]:
    """A custom role with its grants (permission keys from `GET /api/admin/permissions`). 409 when the key exists."""
    if await roles_repo.key_taken(body.key):
        raise Conflict(f"Role {body.key!r} already exists", field="key")
    grants = await resolve_grants(permissions_repo, body.permission_grants, body.permission_keys)
    role = Role(key=body.key, name=body.name, description=body.description, built_in=False)
    session.add(role)
    await flush_or_409(session, f"Role {body.key!r} already exists")
    await roles_repo.replace_grants(role.id, _grant_rows(role.id, grants))
    return ok((await _roles_out(roles_repo, [await _get_role(roles_repo, role.id)]))[0])


@router.patch(
    "/{role_id}",
    response_model=Envelope[RoleOut],
    summary="Rename a role or replace its grants",
    description="Grants of built-in roles are managed by `callaudit seed` and cannot be changed here (409).",
)
async def patch_role(
    role_id: EntityId,
    body: RolePatch,
    _: WriteRoles,
    session: SessionDep,
    roles_repo: Roles,
    permissions_repo: Permissions,
) -> Envelope[RoleOut]:
    role = await _get_role(roles_repo, role_id)
    changes_grants = body.permission_grants is not None or body.permission_keys is not None
    if role.built_in and changes_grants:
        raise Conflict("Grants of built-in roles are managed by `callaudit seed`; create a custom role instead")
    if body.name is not None:
        role.name = body.name
    if "description" in body.model_fields_set:
        role.description = body.description
    if changes_grants:
        grants = await resolve_grants(permissions_repo, body.permission_grants, body.permission_keys)
        await roles_repo.replace_grants(role.id, _grant_rows(role.id, grants))
    await session.flush()
    return ok((await _roles_out(roles_repo, [await _get_role(roles_repo, role.id)]))[0])


@router.delete("/{role_id}", response_model=Envelope[Deleted], summary="Delete a custom role that no user has")
async def delete_role(role_id: EntityId, _: WriteRoles, session: SessionDep, roles_repo: Roles) -> Envelope[Deleted]:
    """Deletes a custom role. 409 for a built-in role or one still assigned to users."""
    role = await _get_role(roles_repo, role_id)
    if role.built_in:
        raise Conflict(f"Built-in role {role.key!r} cannot be deleted")
    if (await roles_repo.user_counts([role.id])).get(role.id):
        raise Conflict(f"Role {role.key!r} is assigned to users")
    await session.delete(role)
    await session.flush()
    return ok(Deleted())
