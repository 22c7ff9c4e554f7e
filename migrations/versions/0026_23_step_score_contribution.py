"""analytics.audit_facts: step_score_contribution (the step's part of the audit's score, in score points)

Revision ID: i23_step_score_contribution
Revises: i23_analytics_views
Create Date: 2026-12-04 04:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i23_step_score_contribution"
down_revision: str | None = "i23_analytics_views"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows built before it read NULL until their day is rebuilt (the asset's code version changed).
    op.add_column("audit_facts", sa.Column("step_score_contribution", sa.Float(), nullable=True), schema="analytics")


def downgrade() -> None:
    op.drop_column("audit_facts", "step_score_contribution", schema="analytics")
