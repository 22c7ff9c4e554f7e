"""fiche_transcriptions: a `queued` status, written when a transcription run is launched

Revision ID: i11_queued
Revises: i14_scorecard_source
Create Date: 2026-12-03 10:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "i11_queued"
down_revision: str | None = "i14_scorecard_source"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BEFORE = "status IN ('running', 'complete', 'partial', 'failed', 'skipped')"
_AFTER = "status IN ('queued', 'running', 'complete', 'partial', 'failed', 'skipped')"


def upgrade() -> None:
    op.drop_constraint(op.f("ck_fiche_transcriptions_status"), "fiche_transcriptions", type_="check")
    op.create_check_constraint(op.f("ck_fiche_transcriptions_status"), "fiche_transcriptions", _AFTER)


def downgrade() -> None:
    op.execute(
        "UPDATE fiche_transcriptions SET status = 'failed', reason = 'run never started' WHERE status = 'queued'"
    )
    op.drop_constraint(op.f("ck_fiche_transcriptions_status"), "fiche_transcriptions", type_="check")
    op.create_check_constraint(op.f("ck_fiche_transcriptions_status"), "fiche_transcriptions", _BEFORE)
