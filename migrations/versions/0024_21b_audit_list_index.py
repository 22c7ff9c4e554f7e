"""audits: the audit list's default order over latest, not deleted audits as one index

Revision ID: i21b_audit_list_index
Revises: i23_analytics_audit_facts
Create Date: 2026-12-03 23:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i21b_audit_list_index"
down_revision: str | None = "i23_analytics_audit_facts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_audits_latest_created",
        "audits",
        [sa.text("created_at DESC NULLS LAST"), sa.text("id DESC")],
        postgresql_where=sa.text("is_latest AND deleted_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_audits_latest_created", table_name="audits")
