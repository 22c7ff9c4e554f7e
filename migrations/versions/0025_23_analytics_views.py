"""analytics schema: scorecard_health (per sales day x control point) and agent_scorecards (per week)

Revision ID: i23_analytics_views
Revises: i21b_audit_list_index
Create Date: 2026-12-03 23:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "i23_analytics_views"
down_revision: str | None = "i21b_audit_list_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEVELS = ("excellent", "bon", "acceptable", "insuffisant", "rejet")


def upgrade() -> None:
    op.create_table(
        "scorecard_health",
        sa.Column("sales_day", sa.Date(), nullable=False),
        sa.Column("scorecard_id", sa.BigInteger(), nullable=False),
        sa.Column("step_position", sa.Integer(), nullable=False),
        sa.Column("control_point_index", sa.Integer(), nullable=False),
        sa.Column("control_point", sa.Text(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("ai_pass_rate", sa.Float(), nullable=True),
        sa.Column("evidence_rate", sa.Float(), nullable=False),
        sa.Column("override_rate", sa.Float(), nullable=False),
        sa.Column("kappa", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint(
            "sales_day", "scorecard_id", "step_position", "control_point_index", name=op.f("pk_scorecard_health")
        ),
        schema="analytics",
    )
    op.create_table(
        "agent_scorecards",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=True),
        sa.Column("scorecard_id", sa.BigInteger(), nullable=False),
        sa.Column("audits", sa.Integer(), nullable=False),
        sa.Column("average_score", sa.Float(), nullable=True),
        *(sa.Column(f"level_{level}", sa.Integer(), nullable=False) for level in LEVELS),
        sa.Column("rejet_rate", sa.Float(), nullable=False),
        sa.Column("most_failed_points", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("trend", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_scorecards")),
        schema="analytics",
    )
    op.create_index(op.f("ix_analytics_agent_scorecards_week"), "agent_scorecards", ["week"], schema="analytics")


def downgrade() -> None:
    op.drop_index(op.f("ix_analytics_agent_scorecards_week"), table_name="agent_scorecards", schema="analytics")
    op.drop_table("agent_scorecards", schema="analytics")
    op.drop_table("scorecard_health", schema="analytics")
