"""The insurance product catalogue (reference §2.9): insurers -> ranges -> plans, guarantee tables, documents.

Each level has a database id (`id`) and a business code (`code`) unique within its parent; imports are
keyed by the codes (`domain.products.io`), so re-importing a catalogue updates rows in place. Tables are
prefixed `product_` (the original's bare `groupes` / `documents` would be ambiguous beside the CRM's).
Code and label lengths are the original's column sizes, enforced by the API and by imports.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from domain.models.base import Base, IdMixin, TimestampMixin

GROUPE_CODE_MAX, GROUPE_LIBELLE_MAX = 2, 17
GAMME_CODE_MAX, GAMME_LIBELLE_MAX = 3, 29
FORMULE_CODE_MAX, FORMULE_LIBELLE_MAX, FORMULE_ALT_MAX = 4, 14, 13
COVERAGE_MAX = 255
URL_MAX = 2000

#: A plan's coverage summary, in the original's order (§2.9): what the prompt lists, "NON COUVERT" when empty.
COVERAGE_FIELDS: tuple[str, ...] = (
    "hospitalisation",
    "hospi_non_optam",
    "dentaire",
    "optique",
    "optique_vc",
    "medecines",
    "soins_non_optam",
    "chambre_particuliere",
    "medecine_douce",
    "appareils_auditifs",
    "maternite",
    "cure_thermale",
    "frais_dossier",
    "delai_attente",
)


def _coverage() -> Mapped[str | None]:
    return mapped_column(String(COVERAGE_MAX))


class ProductGroupe(IdMixin, TimestampMixin, Base):
    """An insurer (`groupes`)."""

    __tablename__ = "product_groupes"

    code: Mapped[str] = mapped_column(String(GROUPE_CODE_MAX), unique=True, nullable=False)
    libelle: Mapped[str] = mapped_column(String(GROUPE_LIBELLE_MAX), nullable=False)

    gammes: Mapped[list[ProductGamme]] = relationship(
        back_populates="groupe", cascade="all, delete-orphan", passive_deletes=True, order_by="ProductGamme.code"
    )


class ProductGamme(IdMixin, TimestampMixin, Base):
    """A product range (`gammes`) of one insurer."""

    __tablename__ = "product_gammes"
    __table_args__ = (UniqueConstraint("groupe_id", "code"),)

    groupe_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("product_groupes.id", ondelete="CASCADE"), nullable=False, index=True
    )
    code: Mapped[str] = mapped_column(String(GAMME_CODE_MAX), nullable=False)
    libelle: Mapped[str] = mapped_column(String(GAMME_LIBELLE_MAX), nullable=False)

    groupe: Mapped[ProductGroupe] = relationship(back_populates="gammes")
    formules: Mapped[list[ProductFormule]] = relationship(
        back_populates="gamme", cascade="all, delete-orphan", passive_deletes=True, order_by="ProductFormule.code"
    )
    documents: Mapped[list[ProductDocument]] = relationship(
        primaryjoin="ProductDocument.gamme_id == ProductGamme.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ProductDocument.document_type",
    )
    guarantee_tables: Mapped[list[GuaranteeTable]] = relationship(
        primaryjoin="GuaranteeTable.gamme_id == ProductGamme.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="GuaranteeTable.id",
    )


class ProductFormule(IdMixin, TimestampMixin, Base):
    """A plan (`formules`) of a range, with its coverage summary (free text, as the insurer writes it)."""

    __tablename__ = "product_formules"
    __table_args__ = (UniqueConstraint("gamme_id", "code"),)

    gamme_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("product_gammes.id", ondelete="CASCADE"), nullable=False, index=True
    )
    code: Mapped[str] = mapped_column(String(FORMULE_CODE_MAX), nullable=False)
    libelle: Mapped[str] = mapped_column(String(FORMULE_LIBELLE_MAX), nullable=False)
    libelle_alternatif: Mapped[str | None] = mapped_column(String(FORMULE_ALT_MAX))
    hospitalisation: Mapped[str | None] = _coverage()
    hospi_non_optam: Mapped[str | None] = _coverage()
    dentaire: Mapped[str | None] = _coverage()
    optique: Mapped[str | None] = _coverage()
    optique_vc: Mapped[str | None] = _coverage()
    medecines: Mapped[str | None] = _coverage()
    soins_non_optam: Mapped[str | None] = _coverage()
    chambre_particuliere: Mapped[str | None] = _coverage()
    medecine_douce: Mapped[str | None] = _coverage()
    appareils_auditifs: Mapped[str | None] = _coverage()
    maternite: Mapped[str | None] = _coverage()
    cure_thermale: Mapped[str | None] = _coverage()
    frais_dossier: Mapped[str | None] = _coverage()
    delai_attente: Mapped[str | None] = _coverage()
    garanties_html: Mapped[str] = mapped_column(String(URL_MAX), nullable=False)

    gamme: Mapped[ProductGamme] = relationship(back_populates="formules")
    documents: Mapped[list[ProductDocument]] = relationship(
        primaryjoin="ProductDocument.formule_id == ProductFormule.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="ProductDocument.document_type",
    )
    guarantee_tables: Mapped[list[GuaranteeTable]] = relationship(
        primaryjoin="GuaranteeTable.formule_id == ProductFormule.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="GuaranteeTable.id",
    )

    def coverage(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in COVERAGE_FIELDS}


_ONE_OWNER = "(gamme_id IS NULL) <> (formule_id IS NULL)"


class GuaranteeTable(IdMixin, TimestampMixin, Base):
    """A parsed guarantee table (`garanties_parsed`), attached to a range or to one plan."""

    __tablename__ = "product_guarantee_tables"
    __table_args__ = (CheckConstraint(_ONE_OWNER, name="one_owner"),)

    gamme_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("product_gammes.id", ondelete="CASCADE"), index=True
    )
    formule_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("product_formules.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str | None] = mapped_column(Text)
    intro_text: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False, default=list, server_default="{}")
    formule_indicator: Mapped[str | None] = mapped_column(Text)
    notes_and_legal: Mapped[str | None] = mapped_column(Text)

    categories: Mapped[list[GuaranteeCategory]] = relationship(
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="(GuaranteeCategory.section_index, GuaranteeCategory.display_order)",
    )


class GuaranteeCategory(IdMixin, Base):
    __tablename__ = "product_guarantee_categories"

    table_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("product_guarantee_tables.id", ondelete="CASCADE"), nullable=False, index=True
    )
    section_index: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    category_name: Mapped[str] = mapped_column(Text, nullable=False)
    display_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    items: Mapped[list[GuaranteeItem]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="GuaranteeItem.display_order"
    )


class GuaranteeItem(IdMixin, Base):
    __tablename__ = "product_guarantee_items"

    category_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("product_guarantee_categories.id", ondelete="CASCADE"), nullable=False, index=True
    )
    guarantee_name: Mapped[str] = mapped_column(Text, nullable=False)
    guarantee_value: Mapped[str] = mapped_column(Text, nullable=False)
    display_order: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class ProductDocument(IdMixin, TimestampMixin, Base):
    """An official document of a range or a plan (`cg`, `garanties`, `dipa`, `logo`, ...), one per type."""

    __tablename__ = "product_documents"
    __table_args__ = (
        CheckConstraint(_ONE_OWNER, name="one_owner"),
        Index(None, "gamme_id", "document_type", unique=True, postgresql_where="gamme_id IS NOT NULL"),
        Index(None, "formule_id", "document_type", unique=True, postgresql_where="formule_id IS NOT NULL"),
    )

    gamme_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("product_gammes.id", ondelete="CASCADE"))
    formule_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("product_formules.id", ondelete="CASCADE"))
    document_type: Mapped[str] = mapped_column(String(32), nullable=False)
    url: Mapped[str] = mapped_column(String(URL_MAX), nullable=False)


class AuditProductLink(Base):
    """How an audit's fiche was matched to the catalogue (§7.9) and the catalogue facts its product steps used.

    One row per audit that has `verifyProductInfo` steps; `strategy` `none` records that nothing matched
    (an outcome, not an error). `formule_id` is cleared if the plan is later deleted; `facts` keeps what
    the auditor was shown, so the audit detail stays true to the run.
    """

    __tablename__ = "audit_product_links"
    __table_args__ = (CheckConstraint("strategy IN ('exact', 'fuzzy', 'none')", name="strategy"),)

    audit_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("audits.id", ondelete="CASCADE"), primary_key=True)
    strategy: Mapped[str] = mapped_column(String(8), nullable=False)
    formule_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("product_formules.id", ondelete="SET NULL"), index=True
    )
    sold: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict, server_default="{}")
    scores: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict, server_default="{}")
    facts: Mapped[dict[str, Any] | None] = mapped_column(JSONB(none_as_null=True))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)
