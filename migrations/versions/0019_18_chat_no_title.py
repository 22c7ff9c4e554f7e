"""chat_conversations.title dropped: never written nor shown (the original's was unused too)

Revision ID: i18_chat_no_title
Revises: i18_chat
Create Date: 2026-12-03 18:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i18_chat_no_title"
down_revision: str | None = "i18_chat"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_column("chat_conversations", "title")


def downgrade() -> None:
    op.add_column("chat_conversations", sa.Column("title", sa.String(length=255), nullable=True))
