"""automation schedules' webhookUrl as signing subscriptions; notices linked to their outbox delivery

Revision ID: i16_schedule_webhooks
Revises: i15_secret_rotation
Create Date: 2026-12-03 16:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i16_schedule_webhooks"
down_revision: str | None = "i15_secret_rotation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("webhook_subscriptions", sa.Column("automation_schedule_id", sa.BigInteger(), nullable=True))
    op.create_foreign_key(
        op.f("fk_webhook_subscriptions_automation_schedule_id_automation_schedules"),
        "webhook_subscriptions",
        "automation_schedules",
        ["automation_schedule_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_unique_constraint(
        op.f("uq_webhook_subscriptions_automation_schedule_id"), "webhook_subscriptions", ["automation_schedule_id"]
    )
    op.add_column("automation_notifications", sa.Column("delivery_id", sa.String(length=40), nullable=True))
    op.create_foreign_key(
        op.f("fk_automation_notifications_delivery_id_outbox_deliveries"),
        "automation_notifications",
        "outbox_deliveries",
        ["delivery_id"],
        ["id"],
        ondelete="SET NULL",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("fk_automation_notifications_delivery_id_outbox_deliveries"),
        "automation_notifications",
        type_="foreignkey",
    )
    op.drop_column("automation_notifications", "delivery_id")
    op.drop_constraint(op.f("uq_webhook_subscriptions_automation_schedule_id"), "webhook_subscriptions", type_="unique")
    op.drop_constraint(
        op.f("fk_webhook_subscriptions_automation_schedule_id_automation_schedules"),
        "webhook_subscriptions",
        type_="foreignkey",
    )
    op.drop_column("webhook_subscriptions", "automation_schedule_id")
