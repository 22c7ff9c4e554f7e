"""fiche fetch jobs: progressive date-range fetches the API launched in Dagster

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 20:37:07.025863
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fiche_fetch_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("days", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("refresh", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("requested_by_id", sa.BigInteger(), nullable=True),
        sa.Column("dagster_backfill_id", sa.String(length=64), nullable=True),
        sa.Column("dagster_run_ids", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("result", postgresql.JSONB(none_as_null=True, astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_fiche_fetch_jobs_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fiche_fetch_jobs")),
    )
    op.create_index(op.f("ix_fiche_fetch_jobs_requested_by_id"), "fiche_fetch_jobs", ["requested_by_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_fiche_fetch_jobs_requested_by_id"), table_name="fiche_fetch_jobs")
    op.drop_table("fiche_fetch_jobs")
