"""Audit verdict certainty: confidence and deciding rule per control point, needs_review per audit.

Revision ID: i10_review
Revises: i10_roles
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "i10_review"
down_revision: str | None = "i10_roles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("audit_control_points", sa.Column("confidence", sa.Float(), nullable=True))
    op.add_column("audit_control_points", sa.Column("decision_rule", sa.String(length=48), nullable=True))
    op.add_column("audits", sa.Column("needs_review", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column(
        "audits",
        sa.Column("review_reasons", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
    )
    op.create_index("ix_audits_needs_review", "audits", ["needs_review"])


def downgrade() -> None:
    op.drop_index("ix_audits_needs_review", table_name="audits")
    op.drop_column("audits", "review_reasons")
    op.drop_column("audits", "needs_review")
    op.drop_column("audit_control_points", "decision_rule")
    op.drop_column("audit_control_points", "confidence")
