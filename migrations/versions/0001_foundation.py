"""foundation: fiches, recordings, day coverage

Revision ID: 0001
Revises:
Create Date: 2026-11-25 19:24:28.978584
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fiches",
        sa.Column("fiche_id", sa.String(length=64), nullable=False),
        sa.Column("cle", sa.String(length=128), nullable=True),
        sa.Column("sales_date", sa.Date(), nullable=True),
        sa.Column("groupe", sa.String(length=255), nullable=True),
        sa.Column("crm_group_id", sa.String(length=64), nullable=True),
        sa.Column("attribution_user_id", sa.String(length=64), nullable=True),
        sa.Column("agence_nom", sa.String(length=255), nullable=True),
        sa.Column("prospect_nom", sa.String(length=255), nullable=True),
        sa.Column("prospect_prenom", sa.String(length=255), nullable=True),
        sa.Column("prospect_email", sa.String(length=320), nullable=True),
        sa.Column("prospect_tel", sa.String(length=64), nullable=True),
        sa.Column("fetch_status", sa.String(length=16), server_default="summary", nullable=False),
        sa.Column("fetch_error", sa.Text(), nullable=True),
        sa.Column("fetch_attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("raw_data", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("recordings_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_revalidated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fiches")),
        sa.UniqueConstraint("fiche_id", name=op.f("uq_fiches_fiche_id")),
    )
    op.create_index(op.f("ix_fiches_attribution_user_id"), "fiches", ["attribution_user_id"], unique=False)
    op.create_index(op.f("ix_fiches_crm_group_id"), "fiches", ["crm_group_id"], unique=False)
    op.create_index(op.f("ix_fiches_expires_at"), "fiches", ["expires_at"], unique=False)
    op.create_index(op.f("ix_fiches_groupe"), "fiches", ["groupe"], unique=False)
    op.create_index(op.f("ix_fiches_sales_date"), "fiches", ["sales_date"], unique=False)
    op.create_table(
        "sales_day_coverage",
        sa.Column("sales_date", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("fiche_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("sales_date", name=op.f("pk_sales_day_coverage")),
    )
    op.create_table(
        "recordings",
        sa.Column("fiche_id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("recording_url", sa.Text(), server_default="", nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("direction", sa.String(length=8), nullable=True),
        sa.Column("answered", sa.Boolean(), nullable=True),
        sa.Column("from_number", sa.String(length=32), nullable=True),
        sa.Column("to_number", sa.String(length=32), nullable=True),
        sa.Column("recording_date", sa.Date(), nullable=True),
        sa.Column("recording_time", sa.String(length=5), nullable=True),
        sa.Column("uuid", sa.String(length=64), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["fiche_id"],
            ["fiches.fiche_id"],
            name=op.f("fk_recordings_fiche_id_fiches"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recordings")),
        sa.UniqueConstraint("fiche_id", "call_id", name=op.f("uq_recordings_fiche_id_call_id")),
    )
    op.create_index(op.f("ix_recordings_fiche_id"), "recordings", ["fiche_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_recordings_fiche_id"), table_name="recordings")
    op.drop_table("recordings")
    op.drop_table("sales_day_coverage")
    op.drop_index(op.f("ix_fiches_sales_date"), table_name="fiches")
    op.drop_index(op.f("ix_fiches_groupe"), table_name="fiches")
    op.drop_index(op.f("ix_fiches_expires_at"), table_name="fiches")
    op.drop_index(op.f("ix_fiches_crm_group_id"), table_name="fiches")
    op.drop_index(op.f("ix_fiches_attribution_user_id"), table_name="fiches")
    op.drop_table("fiches")
