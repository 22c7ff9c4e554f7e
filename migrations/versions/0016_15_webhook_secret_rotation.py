"""webhook_subscriptions: the previous signing secret and when it stops signing (secret rotation)

Revision ID: i15_secret_rotation
Revises: i19_share_links
Create Date: 2026-12-03 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i15_secret_rotation"
down_revision: str | None = "i19_share_links"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("webhook_subscriptions", sa.Column("previous_secret_encrypted", sa.Text(), nullable=True))
    op.add_column(
        "webhook_subscriptions", sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("webhook_subscriptions", "previous_secret_expires_at")
    op.drop_column("webhook_subscriptions", "previous_secret_encrypted")
