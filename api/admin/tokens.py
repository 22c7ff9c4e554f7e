"""`/api/admin/api-tokens`: machine API tokens, replacing the original's all-powerful static tokens.

A token (`ca_pat_...`) acts for its owner with its own grants. At creation the grants must fit within
the owner's current grants (and the creator's); at every request they are intersected again with the
owner's current grants, so demoting or disabling the owner shrinks or stops the token at once. The
secret is shown once in the creation response and stored as an HMAC.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from api.admin.common import CONFLICT_RESPONSES
from api.admin.repository import ApiTokenRepository, ApiTokens, Permissions
from api.admin.schemas import ApiTokenCreate, ApiTokenCreated, ApiTokenOut, GrantIn, Revoked, TokenGrantOut
from api.auth.crypto import API_TOKEN_PREFIX, display_prefix, generate_token
from api.auth.dependencies import KeyringDep
from api.auth.service import load_api_token_grants, load_user_principal, utcnow
from api.deps import SessionDep
from api.errors import BadRequest, NotFound
from api.schemas import Envelope, Page, PageParams, ok, page_params
from api.security import EntityId, Grant, IdIn, require_all
from domain.models.auth import ApiToken
from domain.rbac import EffectiveGrant, is_subset, widest

log = logging.getLogger("callaudit.admin")

router = APIRouter(prefix="/api-tokens", tags=["admin: API tokens"], responses=CONFLICT_RESPONSES)

ReadTokens = Annotated[Grant, Depends(require_all("admin.users", "read"))]
WriteTokens = Annotated[Grant, Depends(require_all("admin.users", "write"))]


def _requested(grants: Sequence[GrantIn]) -> dict[str, EffectiveGrant]:
    merged: dict[str, EffectiveGrant] = {}
    for g in grants:
        current = merged.get(g.key, EffectiveGrant(g.key))
        read = g.scope if g.read else None
        write = g.scope if g.write else None
        merged[g.key] = EffectiveGrant(g.key, widest(current.read_scope, read), widest(current.write_scope, write))
    return {k: v for k, v in merged.items() if v.read or v.write}


async def _tokens_out(session: AsyncSession, rows: Sequence[tuple[ApiToken, str]]) -> list[ApiTokenOut]:
    now = utcnow()
    result = []
    for token, owner_email in rows:
        grants = await load_api_token_grants(session, token.id)
        result.append(
            ApiTokenOut(
                id=token.id,
                name=token.name,
                token_prefix=token.token_prefix,
                owner_user_id=token.owner_id,
                owner_email=owner_email,
                created_by_id=token.created_by_id,
                created_at=token.created_at,
                expires_at=token.expires_at,
                last_used_at=token.last_used_at,
                revoked_at=token.revoked_at,
                active=token.revoked_at is None and (token.expires_at is None or token.expires_at > now),
                permission_grants=[
                    TokenGrantOut(
                        key=g.key, read=g.read, write=g.write, read_scope=g.read_scope, write_scope=g.write_scope
                    )
                    for g in sorted(grants.values(), key=lambda g: g.key)
                ],
            )
        )
    return result


async def _get_token(tokens: ApiTokenRepository, token_id: int) -> tuple[ApiToken, str]:
    row = await tokens.get(token_id)
    if row is None:
        raise NotFound("API token not found")
    return row


@router.get("", response_model=Page[ApiTokenOut], summary="List API tokens (never their secrets)")
async def list_tokens(
    _: ReadTokens,
    session: SessionDep,
    tokens: ApiTokens,
    page: Annotated[PageParams, Depends(page_params)],
    owner_user_id: Annotated[IdIn | None, Query(description="Only the tokens of this user")] = None,
) -> Page[ApiTokenOut]:
    """API tokens with their owner, scope, display prefix, last use and revocation; never a secret."""
    rows, total = await tokens.page(page, owner_id=owner_user_id)
    return page.paginate(await _tokens_out(session, rows), total)


@router.get("/{token_id}", response_model=Envelope[ApiTokenOut], summary="One API token (never its secret)")
async def read_token(
    token_id: EntityId, _: ReadTokens, session: SessionDep, tokens: ApiTokens
) -> Envelope[ApiTokenOut]:
    """One API token (never its secret); 404 when it does not exist."""
    return ok((await _tokens_out(session, [await _get_token(tokens, token_id)]))[0])


@router.post(
    "",
    response_model=Envelope[ApiTokenCreated],
    status_code=201,
    summary="Create an API token; the secret is in this response only",
)
async def create_token(  # noqa: PLR0917 - FastAPI dependencies
    body: ApiTokenCreate,
    grant: WriteTokens,
    session: SessionDep,
    tokens: ApiTokens,
    permissions_repo: Permissions,
    keyring: KeyringDep,
) -> Envelope[ApiTokenCreated]:
    """Creates a machine token for its owner with the grants listed in `permission_grants`. The secret is in
    this response only: store it now."""
    creator = grant.principal
    owner_id = body.owner_user_id if body.owner_user_id is not None else creator.user_id
    if owner_id is None:
        raise BadRequest("owner_user_id is required when a static token creates an API token", field="owner_user_id")
    owner = await load_user_principal(session, owner_id)
    if owner is None:
        raise BadRequest("The owner must be an existing ACTIVE user", field="owner_user_id")
    if body.expires_at is not None:
        expires_at = body.expires_at if body.expires_at.tzinfo else body.expires_at.replace(tzinfo=dt.UTC)
        if expires_at <= utcnow():
            raise BadRequest("expires_at must be in the future", field="expires_at")
    else:
        expires_at = None
    requested = _requested(body.permission_grants)
    permissions = await permissions_repo.by_keys(list(requested))
    for index, g in enumerate(body.permission_grants):
        if g.key not in permissions:
            raise BadRequest(f"Unknown permission {g.key!r}", field=f"permission_grants.{index}.key")
    if not requested:
        raise BadRequest("Grant at least one read or write permission", field="permission_grants")
    if not is_subset(requested, owner.grants):
        raise BadRequest("The token's grants exceed its owner's", field="permission_grants")
    if not is_subset(requested, creator.grants):
        raise BadRequest("The token's grants exceed your own", field="permission_grants")
    secret = generate_token(API_TOKEN_PREFIX)
    token = ApiToken(
        owner_id=owner_id,
        created_by_id=creator.user_id,
        name=body.name,
        token_prefix=display_prefix(secret),
        token_hash=keyring.hash_api_token(secret),
        expires_at=expires_at,
    )
    await tokens.add(token, {permissions[key].id: (g.read_scope, g.write_scope) for key, g in requested.items()})
    log.info("API token %s created for user %s by %s", token.id, owner_id, creator.describe())
    out = (await _tokens_out(session, [await _get_token(tokens, token.id)]))[0]
    return ok(ApiTokenCreated(**dict(out), token=secret))


@router.delete("/{token_id}", response_model=Envelope[Revoked], summary="Revoke an API token (idempotent)")
async def revoke_token(token_id: EntityId, grant: WriteTokens, tokens: ApiTokens) -> Envelope[Revoked]:
    """Revokes the token at once; revoking again changes nothing."""
    token, _ = await _get_token(tokens, token_id)
    if token.revoked_at is None:
        await tokens.revoke(token.id, utcnow())
        log.info("API token %s revoked by %s", token.id, grant.principal.describe())
    return ok(Revoked())
