"""Step revisions, append-only trails (reviews, reruns, metadata changes) and disputes

Revision ID: i17_reviews
Revises: i16_automation
Create Date: 2026-12-03 13:00:00
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "i17_reviews"
down_revision: str | None = "i16_automation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TRAILS = ("audit_reviews", "audit_reruns", "audit_rerun_results", "audit_changes")
GUARD = "callaudit_trail_is_append_only"


def _audit_id(table: str) -> sa.Column[int]:
    return sa.Column(
        "audit_id",
        sa.BigInteger(),
        sa.ForeignKey("audits.id", ondelete="RESTRICT", name=f"fk_{table}_audit_id_audits"),
        nullable=False,
    )


def _created_at() -> sa.Column[dt.datetime]:
    return sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False)


def _jsonb(name: str) -> sa.Column[object]:
    return sa.Column(name, postgresql.JSONB(astext_type=sa.Text()), nullable=False)


def upgrade() -> None:
    op.add_column("audit_steps", sa.Column("revision", sa.Integer(), server_default="1", nullable=False))
    op.add_column("audit_steps", sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("audit_steps", sa.Column("rerun_scope", sa.String(length=16), server_default="audit", nullable=False))
    op.add_column("audit_steps", sa.Column("rerun_point_index", sa.Integer(), nullable=True))
    op.add_column("audit_steps", sa.Column("rerun_id", sa.String(length=32), nullable=True))
    op.add_column("audit_steps", sa.Column("run_id", sa.String(length=64), nullable=True))
    op.add_column(
        "audit_steps",
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_audit_steps_rerun_id", "audit_steps", ["rerun_id"])
    op.drop_constraint("uq_audit_steps_audit_id_position", "audit_steps", type_="unique")
    op.create_unique_constraint(
        "uq_audit_steps_audit_id_position_revision", "audit_steps", ["audit_id", "position", "revision"]
    )
    op.create_index(
        "uq_audit_steps_current",
        "audit_steps",
        ["audit_id", "position"],
        unique=True,
        postgresql_where=sa.text("superseded_at IS NULL"),
    )
    op.create_check_constraint(
        op.f("ck_audit_steps_rerun_scope"), "audit_steps", "rerun_scope IN ('audit', 'step', 'control_point')"
    )

    op.create_table(
        "audit_disputes",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        _audit_id("audit_disputes"),
        sa.Column("step_position", sa.Integer(), nullable=False),
        sa.Column("control_point_index", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("statut_at_opening", sa.String(length=16), nullable=False),
        sa.Column("opened_by_user_id", sa.BigInteger(), nullable=True),
        sa.Column("opened_by", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolved_by_user_id", sa.BigInteger(), nullable=True),
        sa.Column("resolved_by", sa.String(length=128), nullable=True),
        sa.Column("resolution", sa.Text(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        _created_at(),
        sa.CheckConstraint("status IN ('open', 'accepted', 'rejected')", name="ck_audit_disputes_status"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_disputes"),
    )
    op.create_table(
        "audit_reviews",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        _audit_id("audit_reviews"),
        sa.Column("step_position", sa.Integer(), nullable=False),
        sa.Column("control_point_index", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("step_revision", sa.Integer(), nullable=False),
        sa.Column("actor_user_id", sa.BigInteger(), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("reviewer_note", sa.String(length=255), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        _jsonb("previous"),
        _jsonb("override"),
        sa.Column(
            "dispute_id",
            sa.BigInteger(),
            sa.ForeignKey("audit_disputes.id", ondelete="RESTRICT", name="fk_audit_reviews_dispute_id_audit_disputes"),
            nullable=True,
        ),
        _created_at(),
        sa.CheckConstraint("kind IN ('step', 'control_point')", name="ck_audit_reviews_kind"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_reviews"),
    )
    op.create_table(
        "audit_reruns",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("rerun_id", sa.String(length=32), nullable=False),
        _audit_id("audit_reruns"),
        sa.Column("step_position", sa.Integer(), nullable=False),
        sa.Column("control_point_index", sa.Integer(), nullable=True),
        sa.Column("custom_instructions", sa.Text(), nullable=True),
        sa.Column("actor_user_id", sa.BigInteger(), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_audit_reruns"),
        sa.UniqueConstraint("rerun_id", name="uq_audit_reruns_rerun_id"),
    )
    op.create_table(
        "audit_rerun_results",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("rerun_id", sa.String(length=32), nullable=False),
        _audit_id("audit_rerun_results"),
        sa.Column("step_position", sa.Integer(), nullable=False),
        sa.Column("control_point_index", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("previous_revision", sa.Integer(), nullable=False),
        sa.Column("new_revision", sa.Integer(), nullable=True),
        _jsonb("previous"),
        _jsonb("next"),
        _jsonb("comparison"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        _created_at(),
        sa.CheckConstraint("status IN ('completed', 'failed')", name="ck_audit_rerun_results_status"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_rerun_results"),
        sa.UniqueConstraint("rerun_id", name="uq_audit_rerun_results_rerun_id"),
    )
    op.create_table(
        "audit_changes",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        _audit_id("audit_changes"),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor_user_id", sa.BigInteger(), nullable=True),
        sa.Column("actor", sa.String(length=128), nullable=False),
        _jsonb("previous"),
        _jsonb("new"),
        _created_at(),
        sa.CheckConstraint("kind IN ('metadata', 'soft_delete', 'restore')", name="ck_audit_changes_kind"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_changes"),
    )
    for table in ("audit_disputes", "audit_reviews", "audit_reruns", "audit_rerun_results", "audit_changes"):
        op.create_index(f"ix_{table}_audit_id", table, ["audit_id"])
        op.create_index(f"ix_{table}_created_at", table, ["created_at"])
    op.create_index("ix_audit_reviews_target", "audit_reviews", ["audit_id", "step_position", "control_point_index"])
    op.create_index("ix_audit_disputes_open", "audit_disputes", ["status", "created_at"])
    op.create_index("ix_audit_reruns_run_id", "audit_reruns", ["run_id"])

    # The trails are append-only for every role, the application's own included.
    op.execute(
        f"""
        CREATE FUNCTION {GUARD}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is an append-only audit trail: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    for table in TRAILS:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {GUARD}()"
        )


def downgrade() -> None:
    for table in TRAILS:
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
    op.execute(f"DROP FUNCTION {GUARD}()")
    for table in ("audit_changes", "audit_rerun_results", "audit_reruns", "audit_reviews", "audit_disputes"):
        op.drop_table(table)
    op.execute("DELETE FROM audit_steps WHERE superseded_at IS NOT NULL")
    op.drop_constraint(op.f("ck_audit_steps_rerun_scope"), "audit_steps", type_="check")
    op.drop_index("uq_audit_steps_current", table_name="audit_steps")
    op.drop_constraint("uq_audit_steps_audit_id_position_revision", "audit_steps", type_="unique")
    op.create_unique_constraint("uq_audit_steps_audit_id_position", "audit_steps", ["audit_id", "position"])
    op.drop_index("ix_audit_steps_rerun_id", table_name="audit_steps")
    for column in ("created_at", "run_id", "rerun_id", "rerun_point_index", "rerun_scope", "superseded_at", "revision"):
        op.drop_column("audit_steps", column)
