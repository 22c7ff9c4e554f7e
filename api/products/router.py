"""`/api/products`: the insurance product catalogue (reference §4.11), its import/export and fiche linking.

Reads need `products.read`, changes `products.write`; the catalogue itself is global (no data scope).
`/link-fiche/{fiche_id}` reads a fiche too, so it also needs `fiches.read` and answers 404 for a fiche
outside that scope (the original forgot this check). Lists page with `page` / `limit` (at most 100, as
the original) and filter with `search`. Static paths are declared before `/{id}` ones.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query

from api.deps import SessionDep
from api.errors import ErrorBody, Forbidden
from api.fiches.schemas import FICHE_ID_PATTERN
from api.products import service
from api.products.schemas import (
    CatalogueImportOut,
    FormuleDetail,
    FormuleIn,
    FormuleOut,
    FormulePatch,
    GammeDetail,
    GammeIn,
    GammeOut,
    GammePatch,
    GroupeDetail,
    GroupeIn,
    GroupeOut,
    GroupePatch,
    ProductDeletedOut,
    ProductLinkOut,
    SearchOut,
    StatsOut,
)
from api.schemas import Envelope, Page, PageParams, ok
from api.security import EntityId, Grant, IdIn, fetch_page, require, require_visible_fiches
from domain.models.products import ProductFormule, ProductGamme, ProductGroupe
from domain.products import catalogue
from domain.products.io import export_catalogue, import_catalogue
from domain.rbac import Action

router = APIRouter(
    prefix="/products",
    tags=["products"],
    responses={409: {"model": ErrorBody, "description": "A business code already used at that level"}},
)

Read = Annotated[Grant, Depends(require("products", "read"))]
Write = Annotated[Grant, Depends(require("products", "write"))]
MAX_LIMIT = 100


def page_params(
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most 100 (the original's limit)")] = 50,
) -> PageParams:
    return PageParams(page=page, limit=limit)


Pages = Annotated[PageParams, Depends(page_params)]
Search = Annotated[str | None, Query(max_length=100, description="In the label or the business code")]
FicheIdPath = Annotated[str, Path(pattern=FICHE_ID_PATTERN, description="CRM fiche id")]


@router.get("/stats", response_model=Envelope[StatsOut], summary="Catalogue counts")
async def product_stats(_: Read, session: SessionDep) -> Envelope[StatsOut]:
    """How many insurers, ranges, plans and parsed guarantee tables the catalogue holds."""
    return ok(StatsOut(**await session.run_sync(catalogue.stats)))


@router.get("/search", response_model=Envelope[SearchOut], summary="Search insurers, ranges and plans")
async def search_products(
    _: Read,
    session: SessionDep,
    q: Annotated[str, Query(min_length=1, max_length=100, description="Part of a label or a code")],
) -> Envelope[SearchOut]:
    """Up to 10 of each level whose label or code (or a plan's alternative label) contains `q`, case-insensitively."""
    groupes, gammes, formules = await session.run_sync(lambda s: catalogue.search(s, q.strip()))
    return ok(
        SearchOut(
            groupes=[service.groupe_out(g) for g in groupes],
            gammes=[service.gamme_out(g) for g in gammes],
            formules=[service.formule_out(f) for f in formules],
        )
    )


@router.get(
    "/link-fiche/{fiche_id}",
    response_model=Envelope[ProductLinkOut],
    summary="Match a fiche's sold product to the catalogue",
)
async def link_fiche(fiche_id: FicheIdPath, grant: Read, session: SessionDep) -> Envelope[ProductLinkOut]:
    """The fiche's `elements_souscription.produit` names matched to a plan: exactly (case-insensitive labels),
    else fuzzily (similarity thresholds 0.6 / 0.6 / 0.65), else `found: false` with the reason. With the plan's
    range, insurer, guarantee tables and documents, what was sold and the client's stated needs. Needs
    `fiches.read` too: a fiche outside that scope is a 404, like a missing one."""
    fiches = grant.principal.grant("fiches", Action.READ)
    if fiches is None:
        raise Forbidden("Missing permission fiches.read (needed to read the fiche)")
    await require_visible_fiches(session, fiches, [fiche_id])
    return ok(await session.run_sync(lambda s: service.link_out(s, fiche_id)))


@router.get(
    "/export",
    response_model=dict[str, Any],
    summary="Export the catalogue (the import format)",
)
async def export_products(_: Read, session: SessionDep) -> dict[str, Any]:
    """The whole catalogue as a bare `callaudit.products/1` document (no envelope), what `POST /import` takes."""
    return await session.run_sync(export_catalogue)


@router.post("/import", response_model=Envelope[CatalogueImportOut], summary="Import a catalogue document")
async def import_products(
    document: Annotated[dict[str, Any], Body(description="A `callaudit.products/1` document (see README)")],
    _: Write,
    session: SessionDep,
) -> Envelope[CatalogueImportOut]:
    """Upserts by business codes (insurer; range within insurer; plan within range): importing the same
    document again changes nothing. The whole document is validated first; a 400 lists every offending
    field by its path (`body.groupes[0].gammes[1].code`) and nothing is written."""
    counts = await session.run_sync(lambda s: import_catalogue(s, document))
    return ok(CatalogueImportOut(**counts.as_json()))


# --- groupes --------------------------------------------------------------------------------------


@router.get("/groupes", response_model=Page[GroupeOut], summary="Insurers")
async def list_groupes(_: Read, session: SessionDep, page: Pages, search: Search = None) -> Page[GroupeOut]:
    """By label, paginated."""
    rows, total = await fetch_page(session, service.list_statement(ProductGroupe, search), page)
    return page.paginate([service.groupe_out(g) for g in rows], total)


@router.post("/groupes", response_model=Envelope[GroupeOut], status_code=201, summary="Create an insurer")
async def create_groupe(body: GroupeIn, _: Write, session: SessionDep) -> Envelope[GroupeOut]:
    """`code` (2 characters at most, unique) and `libelle` (17 at most)."""
    return ok(await session.run_sync(lambda s: service.create_groupe(s, body)))


@router.get("/groupes/{groupe_id}", response_model=Envelope[GroupeDetail], summary="An insurer with its ranges")
async def get_groupe(groupe_id: EntityId, _: Read, session: SessionDep) -> Envelope[GroupeDetail]:
    """The insurer and its ranges (by code); 404 when it does not exist."""
    return ok(await session.run_sync(lambda s: service.groupe_detail(s, groupe_id)))


@router.put("/groupes/{groupe_id}", response_model=Envelope[GroupeOut], summary="Edit an insurer")
async def update_groupe(groupe_id: EntityId, body: GroupePatch, _: Write, session: SessionDep) -> Envelope[GroupeOut]:
    """Only the fields sent change."""
    return ok(await session.run_sync(lambda s: service.update_groupe(s, groupe_id, body)))


@router.delete("/groupes/{groupe_id}", response_model=Envelope[ProductDeletedOut], summary="Delete an insurer")
async def delete_groupe(groupe_id: EntityId, _: Write, session: SessionDep) -> Envelope[ProductDeletedOut]:
    """With its ranges and plans; audits keep the catalogue facts they used."""
    await session.run_sync(lambda s: service.delete(s, ProductGroupe, groupe_id, "groupe"))
    return ok(ProductDeletedOut(id=groupe_id))


# --- gammes ---------------------------------------------------------------------------------------


@router.get("/gammes", response_model=Page[GammeOut], summary="Product ranges")
async def list_gammes(
    _: Read,
    session: SessionDep,
    page: Pages,
    search: Search = None,
    groupe_id: Annotated[IdIn | None, Query(alias="groupeId", description="Ranges of this insurer")] = None,
) -> Page[GammeOut]:
    """By label, paginated; optionally one insurer's."""
    statement = service.list_statement(ProductGamme, search, ProductGamme.groupe_id, groupe_id)
    rows, total = await fetch_page(session, statement, page)
    return page.paginate([service.gamme_out(g) for g in rows], total)


@router.post("/gammes", response_model=Envelope[GammeOut], status_code=201, summary="Create a range")
async def create_gamme(body: GammeIn, _: Write, session: SessionDep) -> Envelope[GammeOut]:
    """`groupeId`, `code` (3 at most, unique within the insurer), `libelle` (29 at most) and optional
    `documents` (`{type: url}`), stored as the range's documents."""
    return ok(await session.run_sync(lambda s: service.create_gamme(s, body)))


@router.get("/gammes/{gamme_id}", response_model=Envelope[GammeDetail], summary="A range with plans, tables, documents")
async def get_gamme(gamme_id: EntityId, _: Read, session: SessionDep) -> Envelope[GammeDetail]:
    """The range with its insurer, its plans (by code), its guarantee tables and documents."""
    return ok(await session.run_sync(lambda s: service.gamme_detail(s, gamme_id)))


@router.put("/gammes/{gamme_id}", response_model=Envelope[GammeOut], summary="Edit a range")
async def update_gamme(gamme_id: EntityId, body: GammePatch, _: Write, session: SessionDep) -> Envelope[GammeOut]:
    """Only the fields sent change; `documents` replaces the range's documents."""
    return ok(await session.run_sync(lambda s: service.update_gamme(s, gamme_id, body)))


@router.delete("/gammes/{gamme_id}", response_model=Envelope[ProductDeletedOut], summary="Delete a range")
async def delete_gamme(gamme_id: EntityId, _: Write, session: SessionDep) -> Envelope[ProductDeletedOut]:
    """With its plans, tables and documents; audits keep the catalogue facts they used."""
    await session.run_sync(lambda s: service.delete(s, ProductGamme, gamme_id, "gamme"))
    return ok(ProductDeletedOut(id=gamme_id))


# --- formules -------------------------------------------------------------------------------------


@router.get("/formules", response_model=Page[FormuleOut], summary="Plans")
async def list_formules(
    _: Read,
    session: SessionDep,
    page: Pages,
    search: Search = None,
    gamme_id: Annotated[IdIn | None, Query(alias="gammeId", description="Plans of this range")] = None,
) -> Page[FormuleOut]:
    """By label, paginated; optionally one range's."""
    statement = service.list_statement(ProductFormule, search, ProductFormule.gamme_id, gamme_id)
    rows, total = await fetch_page(session, statement, page)
    return page.paginate([service.formule_out(f) for f in rows], total)


@router.post("/formules", response_model=Envelope[FormuleOut], status_code=201, summary="Create a plan")
async def create_formule(body: FormuleIn, _: Write, session: SessionDep) -> Envelope[FormuleOut]:
    """`gammeId`, `code` (4 at most, unique within the range), `libelle` (14 at most), `libelleAlternatif`
    (13 at most), the coverage summary fields (255 each) and `garantiesHtml` (required URL)."""
    return ok(await session.run_sync(lambda s: service.create_formule(s, body)))


@router.get("/formules/{formule_id}", response_model=Envelope[FormuleDetail], summary="A plan with its tables")
async def get_formule(formule_id: EntityId, _: Read, session: SessionDep) -> Envelope[FormuleDetail]:
    """With its range and insurer, the guarantee tables (the plan's, then its range's) and documents."""
    return ok(await session.run_sync(lambda s: service.get_formule_detail(s, formule_id)))


@router.put("/formules/{formule_id}", response_model=Envelope[FormuleOut], summary="Edit a plan")
async def update_formule(
    formule_id: EntityId, body: FormulePatch, _: Write, session: SessionDep
) -> Envelope[FormuleOut]:
    """Only the fields sent change; a coverage field sent as null is cleared."""
    return ok(await session.run_sync(lambda s: service.update_formule(s, formule_id, body)))


@router.delete("/formules/{formule_id}", response_model=Envelope[ProductDeletedOut], summary="Delete a plan")
async def delete_formule(formule_id: EntityId, _: Write, session: SessionDep) -> Envelope[ProductDeletedOut]:
    """With its tables and documents; audits keep the catalogue facts they used."""
    await session.run_sync(lambda s: service.delete(s, ProductFormule, formule_id, "formule"))
    return ok(ProductDeletedOut(id=formule_id))
