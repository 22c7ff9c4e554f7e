"""The catalogue's writes and shapes for `/api/products`, on a sync session (`session.run_sync`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session, selectinload

from api.products.schemas import (
    DocumentOut,
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
    GuaranteeTableOut,
    MatchOut,
    ProductLinkOut,
    SoldOut,
)
from domain.errors import ConflictError, FieldIssue, InvalidError, NotFoundError
from domain.models.products import (
    GuaranteeTable,
    ProductDocument,
    ProductFormule,
    ProductGamme,
    ProductGroupe,
)
from domain.products import catalogue

# --- shapes ---------------------------------------------------------------------------------------


def groupe_out(groupe: ProductGroupe) -> GroupeOut:
    return GroupeOut.model_validate(groupe, from_attributes=True)


def gamme_out(gamme: ProductGamme) -> GammeOut:
    return GammeOut.model_validate(gamme, from_attributes=True)


def formule_out(formule: ProductFormule) -> FormuleOut:
    return FormuleOut.model_validate(formule, from_attributes=True)


def _tables(tables: Iterable[GuaranteeTable]) -> list[GuaranteeTableOut]:
    return [GuaranteeTableOut.model_validate(t, from_attributes=True) for t in tables]


def _documents(documents: Iterable[ProductDocument]) -> list[DocumentOut]:
    return [DocumentOut.model_validate(d, from_attributes=True) for d in documents]


def formule_detail(formule: ProductFormule) -> FormuleDetail:
    gamme = formule.gamme
    return FormuleDetail(
        **formule_out(formule).model_dump(),
        gamme=gamme_out(gamme),
        groupe=groupe_out(gamme.groupe),
        garanties=_tables([*formule.guarantee_tables, *gamme.guarantee_tables]),
        documents=_documents([*formule.documents, *gamme.documents]),
    )


# --- reads ----------------------------------------------------------------------------------------


def groupe_detail(session: Session, groupe_id: int) -> GroupeDetail:
    groupe = session.scalars(
        select(ProductGroupe).where(ProductGroupe.id == groupe_id).options(selectinload(ProductGroupe.gammes))
    ).first()
    if groupe is None:
        raise NotFoundError("Groupe not found")
    return GroupeDetail(**groupe_out(groupe).model_dump(), gammes=[gamme_out(g) for g in groupe.gammes])


def gamme_detail(session: Session, gamme_id: int) -> GammeDetail:
    gamme = catalogue.load_gamme(session, gamme_id)
    if gamme is None:
        raise NotFoundError("Gamme not found")
    return GammeDetail(
        **gamme_out(gamme).model_dump(),
        groupe=groupe_out(gamme.groupe),
        formules=[formule_out(f) for f in gamme.formules],
        garanties=_tables(gamme.guarantee_tables),
        documents=_documents(gamme.documents),
    )


def get_formule_detail(session: Session, formule_id: int) -> FormuleDetail:
    formule = catalogue.load_formule(session, formule_id)
    if formule is None:
        raise NotFoundError("Formule not found")
    return formule_detail(formule)


def link_out(session: Session, fiche_id: str) -> ProductLinkOut:
    product, match, formule = catalogue.link_fiche(session, fiche_id)
    return ProductLinkOut(
        fiche_id=fiche_id,
        found=formule is not None,
        sold=SoldOut(**product.sold.as_json()),
        match=MatchOut(**match.as_json()),
        formule=formule_detail(formule) if formule is not None else None,
        sale=product.details,
        client_needs=product.client_needs,
    )


def list_statement(
    model: type[Any], search: str | None, parent: Any = None, parent_id: int | None = None
) -> Select[Any]:
    statement = select(model).order_by(model.libelle, model.id)
    if search:
        pattern = catalogue.like(search)
        statement = statement.where(model.libelle.ilike(pattern) | model.code.ilike(pattern))
    if parent_id is not None:
        statement = statement.where(parent == parent_id)
    return statement


# --- writes ---------------------------------------------------------------------------------------


def _code_taken(session: Session, statement: Select[Any], code: str, what: str) -> None:
    if session.scalar(select(exists(statement))):
        raise ConflictError(f"A {what} with code {code!r} already exists", field="code")


def _require(session: Session, model: type[Any], entity_id: int, what: str, field: str | None = None) -> Any:
    entity = session.get(model, entity_id)
    if entity is None:
        if field is not None:  # a parent named in the body: the body is wrong, not the URL
            raise InvalidError(f"Unknown {what}", issues=[FieldIssue(field, f"no {what} has this id")])
        raise NotFoundError(f"{what.capitalize()} not found")
    return entity


def create_groupe(session: Session, body: GroupeIn) -> GroupeOut:
    _code_taken(session, select(ProductGroupe.id).where(ProductGroupe.code == body.code), body.code, "groupe")
    groupe = ProductGroupe(code=body.code, libelle=body.libelle)
    session.add(groupe)
    session.flush()
    session.refresh(groupe)
    return groupe_out(groupe)


def update_groupe(session: Session, groupe_id: int, body: GroupePatch) -> GroupeOut:
    groupe: ProductGroupe = _require(session, ProductGroupe, groupe_id, "groupe")
    if body.code is not None and body.code != groupe.code:
        _code_taken(session, select(ProductGroupe.id).where(ProductGroupe.code == body.code), body.code, "groupe")
    for name, value in body.model_dump(by_alias=False, exclude_unset=True, exclude_none=True).items():
        setattr(groupe, name, value)
    session.flush()
    session.refresh(groupe)
    return groupe_out(groupe)


def _set_documents(session: Session, gamme: ProductGamme, documents: dict[str, str]) -> None:
    # The old rows go first: one document per type is a unique index, and a flush inserts before it deletes.
    gamme.documents.clear()
    session.flush()
    gamme.documents = [ProductDocument(gamme_id=gamme.id, document_type=t, url=u) for t, u in documents.items()]


def _gamme_code_taken(session: Session, groupe_id: int, code: str) -> None:
    statement = select(ProductGamme.id).where(ProductGamme.groupe_id == groupe_id, ProductGamme.code == code)
    _code_taken(session, statement, code, "gamme of this groupe")


def create_gamme(session: Session, body: GammeIn) -> GammeOut:
    _require(session, ProductGroupe, body.groupe_id, "groupe", "groupeId")
    _gamme_code_taken(session, body.groupe_id, body.code)
    gamme = ProductGamme(groupe_id=body.groupe_id, code=body.code, libelle=body.libelle)
    session.add(gamme)
    session.flush()
    if body.documents:
        _set_documents(session, gamme, body.documents)
    session.flush()
    session.refresh(gamme)
    return gamme_out(gamme)


def update_gamme(session: Session, gamme_id: int, body: GammePatch) -> GammeOut:
    gamme: ProductGamme = _require(session, ProductGamme, gamme_id, "gamme")
    if body.code is not None and body.code != gamme.code:
        _gamme_code_taken(session, gamme.groupe_id, body.code)
    changes = body.model_dump(by_alias=False, exclude_unset=True, exclude_none=True, exclude={"documents"})
    for name, value in changes.items():
        setattr(gamme, name, value)
    if body.documents is not None:
        _set_documents(session, gamme, body.documents)
    session.flush()
    session.refresh(gamme)
    return gamme_out(gamme)


def _formule_code_taken(session: Session, gamme_id: int, code: str) -> None:
    statement = select(ProductFormule.id).where(ProductFormule.gamme_id == gamme_id, ProductFormule.code == code)
    _code_taken(session, statement, code, "formule of this gamme")


def create_formule(session: Session, body: FormuleIn) -> FormuleOut:
    _require(session, ProductGamme, body.gamme_id, "gamme", "gammeId")
    _formule_code_taken(session, body.gamme_id, body.code)
    formule = ProductFormule(**body.model_dump(by_alias=False))
    session.add(formule)
    session.flush()
    session.refresh(formule)
    return formule_out(formule)


def update_formule(session: Session, formule_id: int, body: FormulePatch) -> FormuleOut:
    formule: ProductFormule = _require(session, ProductFormule, formule_id, "formule")
    if body.code is not None and body.code != formule.code:
        _formule_code_taken(session, formule.gamme_id, body.code)
    # Coverage fields may be cleared with an explicit null; code, label and table URL may not.
    changes = body.model_dump(by_alias=False, exclude_unset=True)
    for name in ("code", "libelle", "garanties_html"):
        if name in changes and changes[name] is None:
            raise InvalidError(f"{name} cannot be null", issues=[FieldIssue(_camel(name), "cannot be null")])
    for name, value in changes.items():
        setattr(formule, name, value)
    session.flush()
    session.refresh(formule)
    return formule_out(formule)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def delete(session: Session, model: type[Any], entity_id: int, what: str) -> None:
    """Deletes the entity and, by cascade, everything under it (audits keep their facts, not the plan)."""
    session.delete(_require(session, model, entity_id, what))
    session.flush()
