"""A transcript chunk's stored language analysis, so a transcript is parsed once, not at every audit.

Revision ID: i10_chunk_analysis
Revises: i11_queued
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "i10_chunk_analysis"
down_revision: str | None = "i11_queued"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("transcript_chunks", sa.Column("analysis", postgresql.JSONB(astext_type=sa.Text()), nullable=True))


def downgrade() -> None:
    op.drop_column("transcript_chunks", "analysis")
