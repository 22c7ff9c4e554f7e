"""audits: copies of their fiche's sales date, groupe, CRM group and owner, kept exact by triggers

Revision ID: i21c_audit_fiche_copies
Revises: i21a_audit_counts
Create Date: 2026-12-04 20:40:00

The audit list's and grouped view's filters and scope read the fiche (sales date, groupe, CRM group
for GROUP, owner for SELF) while their measures are the audit's: a join of every candidate audit to
its fiche (a hash join of tens of thousands of rows at 100k audits). With the fiche's four columns on
the audit, those statements stay on `audits` and its partial covering indexes (decision 117).

Triggers keep the copies equal to the fiche's columns for every writer:

* `audits`, before an insert or an update of `fiche_id` (a renamed fiche's `ON UPDATE CASCADE`) or
  of a copy: the copies are read from the fiche, whatever the writer set. The fiche row is read
  `FOR SHARE`, which waits for a CRM refresh of that fiche in flight (and makes it wait): an audit
  inserted beside a refresh can never keep the values the refresh replaces.
* `fiches`, after an update changing one of the four columns: its audits take the new values.
* A deleted fiche takes its audits with it (`ON DELETE CASCADE`); nothing to copy.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i21c_audit_fiche_copies"
down_revision: str | None = "i21a_audit_counts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (fiche column, its copy on `audits`)
COPIES = (
    ("sales_date", "fiche_sales_date"),
    ("groupe", "fiche_groupe"),
    ("crm_group_id", "fiche_crm_group_id"),
    ("attribution_user_id", "fiche_attribution_user_id"),
)
FICHE_COLUMNS = ", ".join(fiche for fiche, _ in COPIES)
AUDIT_COLUMNS = ", ".join(copy for _, copy in COPIES)

ON_AUDIT = f"""
CREATE FUNCTION audit_fiche_copies_on_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT {", ".join(f"f.{fiche}" for fiche, _ in COPIES)}
    INTO {", ".join(f"NEW.{copy}" for _, copy in COPIES)}
    FROM fiches f WHERE f.fiche_id = NEW.fiche_id FOR SHARE;
    RETURN NEW;
END $$
"""  # noqa: S608 (module constants only)

ON_FICHE = f"""
CREATE FUNCTION audit_fiche_copies_on_fiche() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- After the update (and a rename's cascade, whose audits already read the renamed fiche).
    UPDATE audits a SET ({AUDIT_COLUMNS}) = ROW({", ".join(f"NEW.{fiche}" for fiche, _ in COPIES)})
    WHERE a.fiche_id = NEW.fiche_id
      AND ({", ".join(f"a.{copy}" for _, copy in COPIES)}) IS DISTINCT FROM
          ({", ".join(f"NEW.{fiche}" for fiche, _ in COPIES)});
    RETURN NULL;
END $$
"""  # noqa: S608 (module constants only)

TRIGGERS = (
    f"CREATE TRIGGER audit_fiche_copies BEFORE INSERT OR UPDATE OF fiche_id, {AUDIT_COLUMNS} ON audits "
    "FOR EACH ROW EXECUTE FUNCTION audit_fiche_copies_on_audit()",
    f"CREATE TRIGGER audit_fiche_copies_of_fiche AFTER UPDATE OF {FICHE_COLUMNS} ON fiches FOR EACH ROW "
    f"WHEN (({', '.join(f'OLD.{c}' for c, _ in COPIES)}) IS DISTINCT FROM ({', '.join(f'NEW.{c}' for c, _ in COPIES)})) "
    "EXECUTE FUNCTION audit_fiche_copies_on_fiche()",
)

# The migration's backfill, and a bulk load's with triggers off (`benchmarks/api_load.py` seeds with
# `session_replication_role = replica`). Rows already equal are not rewritten.
REBUILD = f"""
CREATE FUNCTION audit_fiche_copies_rebuild() RETURNS void LANGUAGE sql AS $$
UPDATE audits a SET ({AUDIT_COLUMNS}) = ROW({", ".join(f"f.{fiche}" for fiche, _ in COPIES)})
FROM fiches f
WHERE f.fiche_id = a.fiche_id
  AND ({", ".join(f"a.{copy}" for _, copy in COPIES)}) IS DISTINCT FROM ({", ".join(f"f.{fiche}" for fiche, _ in COPIES)})
$$
"""  # noqa: S608 (module constants only)

LATEST = "is_latest AND deleted_at IS NULL"


def upgrade() -> None:
    op.add_column("audits", sa.Column("fiche_sales_date", sa.Date(), nullable=True))
    op.add_column("audits", sa.Column("fiche_groupe", sa.String(length=255), nullable=True))
    op.add_column("audits", sa.Column("fiche_crm_group_id", sa.String(length=64), nullable=True))
    op.add_column("audits", sa.Column("fiche_attribution_user_id", sa.String(length=64), nullable=True))
    # Backfilled before the triggers and indexes exist: one pass, no trigger call per row.
    for statement in (ON_AUDIT, ON_FICHE, REBUILD, "SELECT audit_fiche_copies_rebuild()", *TRIGGERS):
        op.execute(statement)
    # The list's scorecard and sales-date filters and the grouped view's groupe, counted from the index
    # alone under every scope (the scope's columns ride along).
    op.create_index(
        "ix_audits_latest_card_sales_date",
        "audits",
        ["scorecard_id", "fiche_sales_date"],
        postgresql_include=["fiche_crm_group_id", "fiche_attribution_user_id"],
        postgresql_where=sa.text(LATEST),
    )
    op.create_index(
        "ix_audits_latest_groupe",
        "audits",
        ["fiche_groupe"],
        postgresql_include=["score_percentage", "is_compliant", "fiche_crm_group_id", "fiche_attribution_user_id"],
        postgresql_where=sa.text(LATEST),
    )
    # A groupe belongs to one CRM group and an agent to one: without these dependencies the planner
    # multiplies a groupe filter's and a GROUP scope's selectivities, expects a tenth of the rows and
    # sorts a bitmap scan of the groupe (20 ms) instead of walking the list's index (1.2 ms).
    op.execute(
        "CREATE STATISTICS st_audits_fiche_scope (dependencies) "
        "ON fiche_groupe, fiche_crm_group_id, fiche_attribution_user_id FROM audits"
    )
    op.execute("ANALYZE audits")


def downgrade() -> None:
    op.execute("DROP STATISTICS st_audits_fiche_scope")
    op.drop_index("ix_audits_latest_groupe", table_name="audits")
    op.drop_index("ix_audits_latest_card_sales_date", table_name="audits")
    op.execute("DROP TRIGGER audit_fiche_copies_of_fiche ON fiches")
    op.execute("DROP TRIGGER audit_fiche_copies ON audits")
    for function in ("audit_fiche_copies_rebuild", "audit_fiche_copies_on_fiche", "audit_fiche_copies_on_audit"):
        op.execute(f"DROP FUNCTION {function}()")
    for _, copy in reversed(COPIES):
        op.drop_column("audits", copy)
