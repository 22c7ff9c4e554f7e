"""product catalogue: insurers, ranges, plans, guarantee tables, documents; audits' product links

Revision ID: i20_products
Revises: i16_schedule_concurrency
Create Date: 2026-12-03 16:00:00
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "i20_products"
down_revision: str | None = "i16_schedule_concurrency"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COVERAGE_FIELDS = (
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
ONE_OWNER = "(gamme_id IS NULL) <> (formule_id IS NULL)"


def _timestamps() -> list[sa.Column[dt.datetime]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def _owner_columns(table: str) -> list[sa.Column[int]]:
    return [
        sa.Column(
            "gamme_id",
            sa.BigInteger(),
            sa.ForeignKey("product_gammes.id", name=op.f(f"fk_{table}_gamme_id_product_gammes"), ondelete="CASCADE"),
            nullable=True,
        ),
        sa.Column(
            "formule_id",
            sa.BigInteger(),
            sa.ForeignKey(
                "product_formules.id", name=op.f(f"fk_{table}_formule_id_product_formules"), ondelete="CASCADE"
            ),
            nullable=True,
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "product_groupes",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=2), nullable=False),
        sa.Column("libelle", sa.String(length=17), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_groupes")),
        sa.UniqueConstraint("code", name=op.f("uq_product_groupes_code")),
    )
    op.create_table(
        "product_gammes",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("groupe_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=3), nullable=False),
        sa.Column("libelle", sa.String(length=29), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["groupe_id"],
            ["product_groupes.id"],
            name=op.f("fk_product_gammes_groupe_id_product_groupes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_gammes")),
        sa.UniqueConstraint("groupe_id", "code", name=op.f("uq_product_gammes_groupe_id_code")),
    )
    op.create_index(op.f("ix_product_gammes_groupe_id"), "product_gammes", ["groupe_id"])
    op.create_table(
        "product_formules",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("gamme_id", sa.BigInteger(), nullable=False),
        sa.Column("code", sa.String(length=4), nullable=False),
        sa.Column("libelle", sa.String(length=14), nullable=False),
        sa.Column("libelle_alternatif", sa.String(length=13), nullable=True),
        *(sa.Column(name, sa.String(length=255), nullable=True) for name in COVERAGE_FIELDS),
        sa.Column("garanties_html", sa.String(length=2000), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(
            ["gamme_id"],
            ["product_gammes.id"],
            name=op.f("fk_product_formules_gamme_id_product_gammes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_formules")),
        sa.UniqueConstraint("gamme_id", "code", name=op.f("uq_product_formules_gamme_id_code")),
    )
    op.create_index(op.f("ix_product_formules_gamme_id"), "product_formules", ["gamme_id"])
    op.create_table(
        "product_guarantee_tables",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        *_owner_columns("product_guarantee_tables"),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("intro_text", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("formule_indicator", sa.Text(), nullable=True),
        sa.Column("notes_and_legal", sa.Text(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint(ONE_OWNER, name=op.f("ck_product_guarantee_tables_one_owner")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_guarantee_tables")),
    )
    op.create_index(op.f("ix_product_guarantee_tables_gamme_id"), "product_guarantee_tables", ["gamme_id"])
    op.create_index(op.f("ix_product_guarantee_tables_formule_id"), "product_guarantee_tables", ["formule_id"])
    op.create_table(
        "product_guarantee_categories",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("table_id", sa.BigInteger(), nullable=False),
        sa.Column("section_index", sa.Integer(), nullable=False),
        sa.Column("category_name", sa.Text(), nullable=False),
        sa.Column("display_order", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["table_id"],
            ["product_guarantee_tables.id"],
            name=op.f("fk_product_guarantee_categories_table_id_product_guarantee_tables"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_guarantee_categories")),
    )
    op.create_index(op.f("ix_product_guarantee_categories_table_id"), "product_guarantee_categories", ["table_id"])
    op.create_table(
        "product_guarantee_items",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("category_id", sa.BigInteger(), nullable=False),
        sa.Column("guarantee_name", sa.Text(), nullable=False),
        sa.Column("guarantee_value", sa.Text(), nullable=False),
        sa.Column("display_order", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["product_guarantee_categories.id"],
            name=op.f("fk_product_guarantee_items_category_id_product_guarantee_categories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_guarantee_items")),
    )
    op.create_index(op.f("ix_product_guarantee_items_category_id"), "product_guarantee_items", ["category_id"])
    op.create_table(
        "product_documents",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        *_owner_columns("product_documents"),
        sa.Column("document_type", sa.String(length=32), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        *_timestamps(),
        sa.CheckConstraint(ONE_OWNER, name=op.f("ck_product_documents_one_owner")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_documents")),
    )
    op.create_index(
        op.f("ix_product_documents_gamme_id"),
        "product_documents",
        ["gamme_id", "document_type"],
        unique=True,
        postgresql_where=sa.text("gamme_id IS NOT NULL"),
    )
    op.create_index(
        op.f("ix_product_documents_formule_id"),
        "product_documents",
        ["formule_id", "document_type"],
        unique=True,
        postgresql_where=sa.text("formule_id IS NOT NULL"),
    )
    op.create_table(
        "audit_product_links",
        sa.Column("audit_id", sa.BigInteger(), nullable=False),
        sa.Column("strategy", sa.String(length=8), nullable=False),
        sa.Column("formule_id", sa.BigInteger(), nullable=True),
        sa.Column("sold", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("scores", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("facts", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("strategy IN ('exact', 'fuzzy', 'none')", name=op.f("ck_audit_product_links_strategy")),
        sa.ForeignKeyConstraint(
            ["audit_id"], ["audits.id"], name=op.f("fk_audit_product_links_audit_id_audits"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["formule_id"],
            ["product_formules.id"],
            name=op.f("fk_audit_product_links_formule_id_product_formules"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("audit_id", name=op.f("pk_audit_product_links")),
    )
    op.create_index(op.f("ix_audit_product_links_formule_id"), "audit_product_links", ["formule_id"])


def downgrade() -> None:
    op.drop_table("audit_product_links")
    op.drop_table("product_documents")
    op.drop_table("product_guarantee_items")
    op.drop_table("product_guarantee_categories")
    op.drop_table("product_guarantee_tables")
    op.drop_table("product_formules")
    op.drop_table("product_gammes")
    op.drop_table("product_groupes")
