"""Reading the catalogue: counts, search, a plan with everything hanging off it, and a fiche's link to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session, selectinload

from domain.models.crm import FicheSubscription
from domain.models.products import (
    GuaranteeCategory,
    GuaranteeTable,
    ProductFormule,
    ProductGamme,
    ProductGroupe,
)
from domain.products.linking import PlanNames, ProductMatch, SoldProduct, link_product

SEARCH_LIMIT = 10


def stats(session: Session) -> dict[str, int]:
    def count(model: type[Any]) -> int:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)

    return {
        "groupes": count(ProductGroupe),
        "gammes": count(ProductGamme),
        "formules": count(ProductFormule),
        "garanties_parsed": count(GuaranteeTable),
    }


def plans_without_table(session: Session) -> list[str]:
    """`groupe/gamme/formule` codes of the plans with no guarantee table, of their own or of their range's:
    product verification would have nothing but the coverage summary to check them against."""
    has_table = or_(
        exists().where(GuaranteeTable.formule_id == ProductFormule.id),
        exists().where(GuaranteeTable.gamme_id == ProductFormule.gamme_id),
    )
    rows = session.execute(
        select(ProductGroupe.code, ProductGamme.code, ProductFormule.code)
        .join(ProductGamme, ProductGamme.id == ProductFormule.gamme_id)
        .join(ProductGroupe, ProductGroupe.id == ProductGamme.groupe_id)
        .where(~has_table)
        .order_by(ProductGroupe.code, ProductGamme.code, ProductFormule.code)
    ).all()
    return ["/".join(row) for row in rows]


def like(text: str) -> str:
    """A `LIKE` pattern matching `text` anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search(session: Session, q: str) -> tuple[list[ProductGroupe], list[ProductGamme], list[ProductFormule]]:
    """Up to ten of each level whose label or code (or plan's alternative label) contains `q`."""
    pattern = like(q)
    groupes = session.scalars(
        select(ProductGroupe)
        .where(or_(ProductGroupe.libelle.ilike(pattern), ProductGroupe.code.ilike(pattern)))
        .order_by(ProductGroupe.libelle, ProductGroupe.id)
        .limit(SEARCH_LIMIT)
    ).all()
    gammes = session.scalars(
        select(ProductGamme)
        .where(or_(ProductGamme.libelle.ilike(pattern), ProductGamme.code.ilike(pattern)))
        .order_by(ProductGamme.libelle, ProductGamme.id)
        .limit(SEARCH_LIMIT)
    ).all()
    formules = session.scalars(
        select(ProductFormule)
        .where(
            or_(
                ProductFormule.libelle.ilike(pattern),
                ProductFormule.code.ilike(pattern),
                ProductFormule.libelle_alternatif.ilike(pattern),
            )
        )
        .order_by(ProductFormule.libelle, ProductFormule.id)
        .limit(SEARCH_LIMIT)
    ).all()
    return list(groupes), list(gammes), list(formules)


def _tables_loaded(attribute: Any) -> Any:
    return selectinload(attribute).selectinload(GuaranteeTable.categories).selectinload(GuaranteeCategory.items)


def load_formule(session: Session, formule_id: int) -> ProductFormule | None:
    """A plan with its range and insurer, its and its range's guarantee tables and documents."""
    return session.scalars(
        select(ProductFormule)
        .where(ProductFormule.id == formule_id)
        .options(
            selectinload(ProductFormule.gamme).selectinload(ProductGamme.groupe),
            selectinload(ProductFormule.gamme).selectinload(ProductGamme.documents),
            selectinload(ProductFormule.gamme).options(_tables_loaded(ProductGamme.guarantee_tables)),
            selectinload(ProductFormule.documents),
            _tables_loaded(ProductFormule.guarantee_tables),
        )
    ).first()


def load_gamme(session: Session, gamme_id: int) -> ProductGamme | None:
    return session.scalars(
        select(ProductGamme)
        .where(ProductGamme.id == gamme_id)
        .options(
            selectinload(ProductGamme.groupe),
            selectinload(ProductGamme.formules),
            selectinload(ProductGamme.documents),
            _tables_loaded(ProductGamme.guarantee_tables),
        )
    ).first()


def plan_names(session: Session) -> list[PlanNames]:
    rows = session.execute(
        select(
            ProductFormule.id,
            ProductGroupe.libelle,
            ProductGamme.libelle,
            ProductFormule.libelle,
            ProductFormule.libelle_alternatif,
        )
        .join(ProductGamme, ProductGamme.id == ProductFormule.gamme_id)
        .join(ProductGroupe, ProductGroupe.id == ProductGamme.groupe_id)
        .order_by(ProductGroupe.code, ProductGamme.code, ProductFormule.code)
    ).all()
    return [PlanNames(*row) for row in rows]


@dataclass(frozen=True)
class FicheProduct:
    """What a fiche's subscription says about the sale, as product verification reads it (§7.9)."""

    sold: SoldProduct
    details: dict[str, Any]
    client_needs: Any


def fiche_product(session: Session, fiche_id: str) -> FicheProduct:
    subscription = session.get(FicheSubscription, fiche_id)
    if subscription is None:
        return FicheProduct(SoldProduct(None, None, None), {}, None)
    return FicheProduct(
        SoldProduct(subscription.produit_groupe_nom, subscription.produit_gamme_nom, subscription.produit_formule_nom),
        {
            "formule": subscription.produit_formule,
            "cotisation": subscription.produit_cotisation,
            "type_contrat": subscription.produit_type_contrat,
            "date_souscription": subscription.date_souscription.isoformat() if subscription.date_souscription else None,
            "num_contrat": subscription.num_contrat,
        },
        subscription.questions_conseil,
    )


def link_fiche(session: Session, fiche_id: str) -> tuple[FicheProduct, ProductMatch, ProductFormule | None]:
    """The fiche's sold product, how it matched the catalogue, and the matched plan fully loaded."""
    product = fiche_product(session, fiche_id)
    match = link_product(product.sold, plan_names(session))
    formule = load_formule(session, match.formule_id) if match.formule_id is not None else None
    return product, match, formule
