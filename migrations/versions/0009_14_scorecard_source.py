"""scorecard versions keep the document they were imported from (lossless export, `sourceVersion`)

Revision ID: i14_scorecard_source
Revises: i10_review
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "i14_scorecard_source"
down_revision: str | None = "i10_review"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "scorecard_versions", sa.Column("source_document", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("scorecard_versions", "source_document")
