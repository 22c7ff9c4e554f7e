"""crm sections: fiche information, prospect, subscription, comments and tags; sales-day source

The rest of a details payload stays on `fiches.raw_data` (see `domain.crm.normalize`).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 20:05:03.266086
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fiche_comments",
        sa.Column("fiche_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("commentaire_id", sa.String(length=64), nullable=True),
        sa.Column("date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("utilisateur", sa.Text(), nullable=True),
        sa.Column("texte", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["fiche_id"],
            ["fiches.fiche_id"],
            name=op.f("fk_fiche_comments_fiche_id_fiches"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("fiche_id", "position", name=op.f("pk_fiche_comments")),
    )
    op.create_table(
        "fiche_information",
        sa.Column("fiche_id", sa.String(length=64), nullable=False),
        sa.Column("cle", sa.String(length=128), nullable=True),
        sa.Column("date_insertion", sa.DateTime(timezone=True), nullable=True),
        sa.Column("groupe", sa.String(length=255), nullable=True),
        sa.Column("agence_id", sa.String(length=64), nullable=True),
        sa.Column("agence_nom", sa.String(length=255), nullable=True),
        sa.Column("attribution_user_id", sa.String(length=64), nullable=True),
        sa.Column("attribution_user_nom", sa.String(length=255), nullable=True),
        sa.Column("provenance_id", sa.String(length=64), nullable=True),
        sa.Column("provenance_nom", sa.String(length=255), nullable=True),
        sa.Column("refus_demarchage", sa.Boolean(), nullable=True),
        sa.Column("exception_demarchage", sa.Boolean(), nullable=True),
        sa.Column("corbeille", sa.Boolean(), nullable=True),
        sa.Column("archive", sa.Boolean(), nullable=True),
        sa.Column("modules", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(
            ["fiche_id"],
            ["fiches.fiche_id"],
            name=op.f("fk_fiche_information_fiche_id_fiches"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("fiche_id", name=op.f("pk_fiche_information")),
    )
    op.create_table(
        "fiche_prospects",
        sa.Column("fiche_id", sa.String(length=64), nullable=False),
        sa.Column("prospect_id", sa.String(length=64), nullable=True),
        sa.Column("civilite", sa.Integer(), nullable=True),
        sa.Column("civilite_text", sa.String(length=64), nullable=True),
        sa.Column("nom", sa.Text(), nullable=True),
        sa.Column("prenom", sa.Text(), nullable=True),
        sa.Column("date_naissance", sa.Date(), nullable=True),
        sa.Column("regime", sa.String(length=64), nullable=True),
        sa.Column("regime_text", sa.Text(), nullable=True),
        sa.Column("telephone", sa.String(length=64), nullable=True),
        sa.Column("mobile", sa.String(length=64), nullable=True),
        sa.Column("telephone_2", sa.String(length=64), nullable=True),
        sa.Column("mail", sa.String(length=320), nullable=True),
        sa.Column("mail_2", sa.String(length=320), nullable=True),
        sa.Column("adresse", sa.Text(), nullable=True),
        sa.Column("code_postal", sa.String(length=16), nullable=True),
        sa.Column("ville", sa.Text(), nullable=True),
        sa.Column("situation_familiale", sa.Integer(), nullable=True),
        sa.Column("situation_familiale_text", sa.Text(), nullable=True),
        sa.Column("profession", sa.Text(), nullable=True),
        sa.Column("csp", sa.Integer(), nullable=True),
        sa.Column("csp_text", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["fiche_id"],
            ["fiches.fiche_id"],
            name=op.f("fk_fiche_prospects_fiche_id_fiches"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("fiche_id", name=op.f("pk_fiche_prospects")),
    )
    op.create_table(
        "fiche_subscriptions",
        sa.Column("fiche_id", sa.String(length=64), nullable=False),
        sa.Column("souscription_id", sa.String(length=64), nullable=True),
        sa.Column("date_souscription", sa.DateTime(timezone=True), nullable=True),
        sa.Column("date_signature", sa.DateTime(timezone=True), nullable=True),
        sa.Column("date_validation", sa.DateTime(timezone=True), nullable=True),
        sa.Column("num_contrat", sa.String(length=64), nullable=True),
        sa.Column("annulation_contrat", sa.Boolean(), nullable=True),
        sa.Column("type_vente", sa.String(length=64), nullable=True),
        sa.Column("produit_formule", sa.Text(), nullable=True),
        sa.Column("produit_groupe_nom", sa.String(length=255), nullable=True),
        sa.Column("produit_gamme_nom", sa.String(length=255), nullable=True),
        sa.Column("produit_formule_nom", sa.String(length=255), nullable=True),
        sa.Column("produit_cotisation", sa.String(length=64), nullable=True),
        sa.Column("produit_type_contrat", sa.String(length=64), nullable=True),
        sa.Column("paiement_mode", sa.String(length=64), nullable=True),
        sa.Column("paiement_periodicite", sa.String(length=64), nullable=True),
        sa.Column("ancien_deja_assure", sa.Boolean(), nullable=True),
        sa.Column("ancien_assureur", sa.Text(), nullable=True),
        sa.Column("ancien_formule", sa.Text(), nullable=True),
        sa.Column("ancien_cotisation", sa.String(length=64), nullable=True),
        sa.Column("questions_conseil", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("questions_complementaires", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(
            ["fiche_id"],
            ["fiches.fiche_id"],
            name=op.f("fk_fiche_subscriptions_fiche_id_fiches"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("fiche_id", name=op.f("pk_fiche_subscriptions")),
    )
    op.create_index(
        op.f("ix_fiche_subscriptions_produit_groupe_nom"),
        "fiche_subscriptions",
        ["produit_groupe_nom", "produit_gamme_nom", "produit_formule_nom"],
        unique=False,
    )
    op.create_table(
        "fiche_tags",
        sa.Column("fiche_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("nom", sa.Text(), nullable=True),
        sa.Column("date", sa.Date(), nullable=True),
        sa.Column("style", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["fiche_id"],
            ["fiches.fiche_id"],
            name=op.f("fk_fiche_tags_fiche_id_fiches"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("fiche_id", "position", name=op.f("pk_fiche_tags")),
    )
    op.add_column("fiches", sa.Column("sales_date_source", sa.String(length=16), nullable=True))
    op.create_check_constraint(
        op.f("ck_fiches_sales_date_source"), "fiches", "sales_date_source IN ('sales_search', 'date_insertion')"
    )
    op.add_column("fiches", sa.Column("fetch_error_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "recordings",
        sa.Column("start_time_offset_assumed", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("recordings", "start_time_offset_assumed")
    op.drop_column("fiches", "fetch_error_at")
    op.drop_constraint(op.f("ck_fiches_sales_date_source"), "fiches", type_="check")
    op.drop_column("fiches", "sales_date_source")
    op.drop_table("fiche_tags")
    op.drop_index(op.f("ix_fiche_subscriptions_produit_groupe_nom"), table_name="fiche_subscriptions")
    op.drop_table("fiche_subscriptions")
    op.drop_table("fiche_prospects")
    op.drop_table("fiche_information")
    op.drop_table("fiche_comments")
