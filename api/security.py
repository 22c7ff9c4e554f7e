"""What every route family imports to be authenticated, authorized and scoped the same way.

```python
from api.security import EntityId, Grant, IdStr, fetch_page, get_visible_or_404, require
from domain.scoping import apply_fiche_scope

ReadFiches = Annotated[Grant, Depends(require("fiches", "read"))]

@router.get("/{fiche_id}", response_model=Envelope[FicheOut])
async def get_fiche(fiche_id: EntityId, grant: ReadFiches, session: SessionDep) -> Envelope[FicheOut]:
    fiche = await get_visible_or_404(session, apply_fiche_scope(select(Fiche).where(Fiche.id == fiche_id), grant))
    ...

@router.get("", response_model=Page[FicheOut])
async def list_fiches(grant: ReadFiches, session: SessionDep, page: Annotated[PageParams, Depends(page_params)]):
    rows, total = await fetch_page(session, apply_fiche_scope(select(Fiche).order_by(Fiche.id), grant), page)
    return page.paginate([FicheOut.model_validate(r) for r in rows], total)
```

* 401 anonymous / invalid credentials, 403 missing grant (both from `require`): `api/auth/`.
* Ids and client strings as they cross the wire: `api/wire.py`.
* 404 for missing or out-of-scope entities, pages counted after scoping: `api/scoped.py`.

This module holds nothing of its own: it is the one import line for those three.
"""

from __future__ import annotations

from api.auth.dependencies import CurrentPrincipal, CurrentUser, OptionalPrincipal, require, require_all
from api.auth.principal import Grant, Principal, PrincipalKind
from api.scoped import fetch_page, fetch_rows_page, get_visible_or_404, require_visible_fiches, visible_fiche_ids
from api.wire import (
    MAX_ID,
    CanonicalPathInt,
    Email,
    EntityId,
    IdIn,
    IdStr,
    Password,
    Str64,
    Str128,
    Str255,
    Str2000,
)

__all__ = [
    "MAX_ID",
    "CanonicalPathInt",
    "CurrentPrincipal",
    "CurrentUser",
    "Email",
    "EntityId",
    "Grant",
    "IdIn",
    "IdStr",
    "OptionalPrincipal",
    "Password",
    "Principal",
    "PrincipalKind",
    "Str64",
    "Str128",
    "Str255",
    "Str2000",
    "fetch_page",
    "fetch_rows_page",
    "get_visible_or_404",
    "require",
    "require_all",
    "require_visible_fiches",
    "visible_fiche_ids",
]
