"""speaker roles: a role per transcript chunk and citation, the recording's mapping, whose words count per point

Revision ID: i10_roles
Revises: 0006
Create Date: 2026-12-03 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "i10_roles"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # All nullable: rows written before roles existed get them inferred when read.
    op.add_column("transcripts", sa.Column("speaker_roles", postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column("transcript_chunks", sa.Column("role", sa.String(length=16), nullable=True))
    op.add_column("audit_citations", sa.Column("role", sa.String(length=16), nullable=True))
    op.add_column(
        "scorecard_steps", sa.Column("point_speakers", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("scorecard_steps", "point_speakers")
    op.drop_column("audit_citations", "role")
    op.drop_column("transcript_chunks", "role")
    op.drop_column("transcripts", "speaker_roles")
