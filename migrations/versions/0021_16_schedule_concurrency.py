"""automation schedules: maxConcurrentRuns (runs of one schedule in progress at once)

Revision ID: i16_schedule_concurrency
Revises: i16_notice_payload
Create Date: 2026-12-03 17:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i16_schedule_concurrency"
down_revision: str | None = "i16_notice_payload"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "automation_schedules",
        sa.Column("max_concurrent_runs", sa.Integer(), server_default="1", nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_automation_schedules_max_concurrent_runs"),
        "automation_schedules",
        "max_concurrent_runs BETWEEN 1 AND 5",
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_automation_schedules_max_concurrent_runs"), "automation_schedules", type_="check")
    op.drop_column("automation_schedules", "max_concurrent_runs")
