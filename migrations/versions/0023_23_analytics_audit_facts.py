"""analytics schema: audit_facts (one row per latest audit x control point, rebuilt per sales day)

Revision ID: i23_analytics_audit_facts
Revises: i20_products
Create Date: 2026-12-03 19:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i23_analytics_audit_facts"
down_revision: str | None = "i20_products"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS analytics")
    op.create_table(
        "audit_facts",
        sa.Column("audit_id", sa.BigInteger(), nullable=False),
        sa.Column("step_position", sa.Integer(), nullable=False),
        sa.Column("control_point_index", sa.Integer(), nullable=False),
        sa.Column("sales_day", sa.Date(), nullable=False),
        sa.Column("fiche_id", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=True),
        sa.Column("crm_group_id", sa.String(length=64), nullable=True),
        sa.Column("groupe", sa.String(length=255), nullable=True),
        sa.Column("scorecard_id", sa.BigInteger(), nullable=False),
        sa.Column("scorecard_version_id", sa.BigInteger(), nullable=False),
        sa.Column("scorecard_version", sa.Integer(), nullable=False),
        sa.Column("step_name", sa.String(length=255), nullable=False),
        sa.Column("step_weight", sa.Integer(), nullable=False),
        sa.Column("step_critical", sa.Boolean(), nullable=False),
        sa.Column("step_score", sa.Integer(), nullable=False),
        sa.Column("step_level", sa.String(length=16), nullable=False),
        sa.Column("control_point", sa.Text(), nullable=False),
        sa.Column("ai_status", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("human_changed", sa.Boolean(), nullable=False),
        sa.Column("changed_by", sa.String(length=128), nullable=True),
        sa.Column("evidence_count", sa.Integer(), nullable=False),
        sa.Column("first_evidence_second", sa.Float(), nullable=True),
        sa.Column("auditor", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("prompt_version", sa.String(length=32), nullable=False),
        sa.Column("transcript_mode", sa.String(length=8), nullable=False),
        sa.Column("audit_score_percentage", sa.Float(), nullable=True),
        sa.Column("audit_level", sa.String(length=16), nullable=False),
        sa.Column("audit_input_tokens", sa.Integer(), nullable=False),
        sa.Column("audit_output_tokens", sa.Integer(), nullable=False),
        sa.Column("audit_cost_usd", sa.Float(), nullable=False),
        sa.Column("audited_minutes", sa.Float(), nullable=False),
        sa.Column("audit_duration_seconds", sa.Float(), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("audit_id", "step_position", "control_point_index", name=op.f("pk_audit_facts")),
        schema="analytics",
    )
    op.create_index(op.f("ix_analytics_audit_facts_sales_day"), "audit_facts", ["sales_day"], schema="analytics")


def downgrade() -> None:
    op.drop_index(op.f("ix_analytics_audit_facts_sales_day"), table_name="audit_facts", schema="analytics")
    op.drop_table("audit_facts", schema="analytics")
    op.execute("DROP SCHEMA IF EXISTS analytics")
