"""transcripts: per-recording transcripts, their speaker-turn chunks and each fiche's transcription status

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 20:41:33.433726
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fiche_transcriptions",
        sa.Column("fiche_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("recordings_total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("recordings_transcribed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("recordings_failed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('running', 'complete', 'partial', 'failed', 'skipped')",
            name=op.f("ck_fiche_transcriptions_status"),
        ),
        sa.ForeignKeyConstraint(
            ["fiche_id"],
            ["fiches.fiche_id"],
            name=op.f("fk_fiche_transcriptions_fiche_id_fiches"),
            onupdate="CASCADE",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("fiche_id", name=op.f("pk_fiche_transcriptions")),
    )
    op.create_table(
        "transcripts",
        sa.Column("recording_id", sa.BigInteger(), nullable=False),
        sa.Column("fiche_id", sa.String(length=64), nullable=False),
        sa.Column("call_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=True),
        sa.Column("provider_transcript_id", sa.String(length=128), nullable=True),
        sa.Column("audio_key", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("language_probability", sa.Float(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("words", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("cost_units", sa.Float(), nullable=True),
        sa.Column("cost_unit", sa.String(length=32), nullable=True),
        sa.Column("transcribed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('completed', 'failed')", name=op.f("ck_transcripts_status")),
        sa.ForeignKeyConstraint(
            ["recording_id"], ["recordings.id"], name=op.f("fk_transcripts_recording_id_recordings"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcripts")),
        sa.UniqueConstraint("recording_id", name=op.f("uq_transcripts_recording_id")),
    )
    op.create_index(op.f("ix_transcripts_fiche_id"), "transcripts", ["fiche_id"], unique=False)
    op.create_table(
        "transcript_chunks",
        sa.Column("transcript_id", sa.BigInteger(), nullable=False),
        sa.Column("fiche_id", sa.String(length=64), nullable=False),
        sa.Column("chunk_id", sa.String(length=96), nullable=False),
        sa.Column("turn_index", sa.Integer(), nullable=False),
        sa.Column("speaker", sa.String(length=32), nullable=False),
        sa.Column("start_seconds", sa.Float(), nullable=False),
        sa.Column("end_seconds", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("word_count", sa.Integer(), nullable=False),
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.ForeignKeyConstraint(
            ["transcript_id"],
            ["transcripts.id"],
            name=op.f("fk_transcript_chunks_transcript_id_transcripts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcript_chunks")),
        sa.UniqueConstraint("transcript_id", "turn_index", name=op.f("uq_transcript_chunks_transcript_id_turn_index")),
    )
    op.create_index(op.f("ix_transcript_chunks_fiche_id"), "transcript_chunks", ["fiche_id"], unique=False)
    op.create_index(op.f("ix_transcript_chunks_transcript_id"), "transcript_chunks", ["transcript_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_transcript_chunks_transcript_id"), table_name="transcript_chunks")
    op.drop_index(op.f("ix_transcript_chunks_fiche_id"), table_name="transcript_chunks")
    op.drop_table("transcript_chunks")
    op.drop_index(op.f("ix_transcripts_fiche_id"), table_name="transcripts")
    op.drop_table("transcripts")
    op.drop_table("fiche_transcriptions")
