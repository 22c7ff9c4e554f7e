"""automation notices keep their key and delivery id: the message is stored once, in the outbox

Revision ID: i16_notice_payload
Revises: i18_chat_no_title
Create Date: 2026-12-03 16:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "i16_notice_payload"
down_revision: str | None = "i18_chat_no_title"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_column("automation_notifications", "payload")


def downgrade() -> None:
    op.add_column(
        "automation_notifications",
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
    )
