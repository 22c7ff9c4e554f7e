"""audit_counts: latest audits counted per key, kept exact by triggers, for the grouped view and totals

Revision ID: i21a_audit_counts
Revises: i23_step_score_contribution
Create Date: 2026-12-04 09:10:00

A row counts the latest, not deleted audits sharing (UTC hour of creation, scorecard, status, level,
their fiche's CRM group id and groupe, compliance), with the sum, minimum and maximum of their
scores. Triggers keep it exact for every writer:

* `audits` (insert, delete, and an update of a column the key or the measures read): the old row's
  contribution leaves, the new one's arrives. A minimum or maximum that leaves is read again from
  the key's audits (an hour of one index), since it cannot be subtracted.
* `fiches` (a CRM refresh changing `crm_group_id` or `groupe`): the fiche's latest audits move key.
  A fiche about to be deleted takes its audits' contributions out first; the cascaded audit deletes
  then find no fiche and add nothing. A renamed fiche (`ON UPDATE CASCADE` of `fiche_id`) keeps its
  group: `fiche_id` is not a column the audit trigger watches.
* `TRUNCATE audits` empties it.

Counts move by deltas under the key row's lock (`ON CONFLICT DO UPDATE` / `UPDATE`), so concurrent
writers of one key serialise on that row; the minimum and maximum are re-read after the lock, in a
later statement, which sees what the other writer committed (READ COMMITTED).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "i21a_audit_counts"
down_revision: str | None = "i23_step_score_contribution"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "created_hour, scorecard_id, status, niveau, crm_group_id, groupe, is_compliant"
SAME_KEY = """c.created_hour = v_hour AND c.scorecard_id = p_card AND c.status = p_status
    AND c.niveau = p_niveau AND c.crm_group_id IS NOT DISTINCT FROM p_group
    AND c.groupe IS NOT DISTINCT FROM p_groupe AND c.is_compliant IS NOT DISTINCT FROM p_compliant"""

APPLY = f"""
CREATE FUNCTION audit_counts_apply(
    p_group text, p_groupe text, p_card bigint, p_status text, p_niveau text, p_compliant boolean,
    p_created timestamptz, p_score numeric, p_sign integer, p_leaving text DEFAULT NULL
) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_hour timestamptz := date_trunc('hour', p_created, 'UTC');
    v_left integer;
    v_min numeric;
    v_max numeric;
BEGIN
    IF p_sign > 0 THEN
        INSERT INTO audit_counts AS c ({KEY}, audits, scored, score_sum, score_min, score_max)
        VALUES (v_hour, p_card, p_status, p_niveau, p_group, p_groupe, p_compliant,
                1, (p_score IS NOT NULL)::integer, coalesce(p_score, 0), p_score, p_score)
        ON CONFLICT ({KEY}) DO UPDATE SET
            audits = c.audits + 1,
            scored = c.scored + excluded.scored,
            score_sum = c.score_sum + excluded.score_sum,
            score_min = least(c.score_min, excluded.score_min),
            score_max = greatest(c.score_max, excluded.score_max);
        RETURN;
    END IF;
    UPDATE audit_counts c SET
        audits = c.audits - 1,
        scored = c.scored - (p_score IS NOT NULL)::integer,
        score_sum = c.score_sum - coalesce(p_score, 0)
    WHERE {SAME_KEY}
    RETURNING c.audits, c.score_min, c.score_max INTO v_left, v_min, v_max;
    IF v_left = 0 THEN
        DELETE FROM audit_counts c WHERE {SAME_KEY};
    ELSIF p_score IS NOT NULL AND (p_score <= v_min OR p_score >= v_max) THEN
        UPDATE audit_counts c SET (score_min, score_max) = (
            SELECT min(a.score_percentage), max(a.score_percentage)
            FROM audits a JOIN fiches f ON f.fiche_id = a.fiche_id
            WHERE a.is_latest AND a.deleted_at IS NULL
              AND a.created_at >= v_hour AND a.created_at < v_hour + interval '1 hour'
              AND a.scorecard_id = p_card AND a.status = p_status AND a.niveau = p_niveau
              AND a.is_compliant IS NOT DISTINCT FROM p_compliant
              AND f.crm_group_id IS NOT DISTINCT FROM p_group AND f.groupe IS NOT DISTINCT FROM p_groupe
              AND a.fiche_id IS DISTINCT FROM p_leaving
        )
        WHERE {SAME_KEY};
    END IF;
END $$
"""  # noqa: S608 (module constants only)

ON_AUDIT = """
CREATE FUNCTION audit_counts_on_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_group text;
    v_groupe text;
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.is_latest AND OLD.deleted_at IS NULL THEN
        SELECT crm_group_id, groupe INTO v_group, v_groupe FROM fiches WHERE fiche_id = OLD.fiche_id;
        IF FOUND THEN
            PERFORM audit_counts_apply(v_group, v_groupe, OLD.scorecard_id, OLD.status, OLD.niveau,
                                       OLD.is_compliant, OLD.created_at, OLD.score_percentage, -1);
        END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND NEW.is_latest AND NEW.deleted_at IS NULL THEN
        SELECT crm_group_id, groupe INTO v_group, v_groupe FROM fiches WHERE fiche_id = NEW.fiche_id;
        IF FOUND THEN
            PERFORM audit_counts_apply(v_group, v_groupe, NEW.scorecard_id, NEW.status, NEW.niveau,
                                       NEW.is_compliant, NEW.created_at, NEW.score_percentage, 1);
        END IF;
    END IF;
    RETURN NULL;
END $$
"""

ON_FICHE = """
CREATE FUNCTION audit_counts_on_fiche() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN  -- before the cascade: its audits leave, none of them counts in a min or max
        PERFORM audit_counts_apply(OLD.crm_group_id, OLD.groupe, a.scorecard_id, a.status, a.niveau,
                                   a.is_compliant, a.created_at, a.score_percentage, -1, OLD.fiche_id)
        FROM audits a WHERE a.fiche_id = OLD.fiche_id AND a.is_latest AND a.deleted_at IS NULL;
        RETURN OLD;
    END IF;
    -- After the update (and a rename's cascade): the audits are under NEW.fiche_id, the fiche in its new group.
    PERFORM audit_counts_apply(OLD.crm_group_id, OLD.groupe, a.scorecard_id, a.status, a.niveau,
                               a.is_compliant, a.created_at, a.score_percentage, -1)
    FROM audits a WHERE a.fiche_id = NEW.fiche_id AND a.is_latest AND a.deleted_at IS NULL;
    PERFORM audit_counts_apply(NEW.crm_group_id, NEW.groupe, a.scorecard_id, a.status, a.niveau,
                               a.is_compliant, a.created_at, a.score_percentage, 1)
    FROM audits a WHERE a.fiche_id = NEW.fiche_id AND a.is_latest AND a.deleted_at IS NULL;
    RETURN NULL;
END $$
"""

WATCHED = "scorecard_id, is_latest, deleted_at, status, niveau, is_compliant, created_at, score_percentage"
TRIGGERS = (
    "CREATE TRIGGER audit_counts_insert_delete AFTER INSERT OR DELETE ON audits "
    "FOR EACH ROW EXECUTE FUNCTION audit_counts_on_audit()",
    f"CREATE TRIGGER audit_counts_update AFTER UPDATE OF {WATCHED} ON audits FOR EACH ROW "
    f"WHEN (({', '.join(f'OLD.{c}' for c in WATCHED.split(', '))}) IS DISTINCT FROM "
    f"({', '.join(f'NEW.{c}' for c in WATCHED.split(', '))})) EXECUTE FUNCTION audit_counts_on_audit()",
    "CREATE TRIGGER audit_counts_truncate AFTER TRUNCATE ON audits "
    "FOR EACH STATEMENT EXECUTE FUNCTION audit_counts_on_truncate()",
    "CREATE TRIGGER audit_counts_group AFTER UPDATE OF crm_group_id, groupe ON fiches FOR EACH ROW "
    "WHEN ((OLD.crm_group_id, OLD.groupe) IS DISTINCT FROM (NEW.crm_group_id, NEW.groupe)) "
    "EXECUTE FUNCTION audit_counts_on_fiche()",
    "CREATE TRIGGER audit_counts_fiche_delete BEFORE DELETE ON fiches "
    "FOR EACH ROW EXECUTE FUNCTION audit_counts_on_fiche()",
)
ON_TRUNCATE = """
CREATE FUNCTION audit_counts_on_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM audit_counts;
    RETURN NULL;
END $$
"""

# Rebuilds the table from the audits: the migration's backfill, and a bulk load's with triggers off
# (`benchmarks/api_load.py` seeds with `session_replication_role = replica`).
REBUILD = f"""
CREATE FUNCTION audit_counts_rebuild() RETURNS void LANGUAGE sql AS $$
DELETE FROM audit_counts;
INSERT INTO audit_counts ({KEY}, audits, scored, score_sum, score_min, score_max)
SELECT date_trunc('hour', a.created_at, 'UTC'), a.scorecard_id, a.status, a.niveau, f.crm_group_id, f.groupe,
       a.is_compliant, count(*), count(a.score_percentage), coalesce(sum(a.score_percentage), 0),
       min(a.score_percentage), max(a.score_percentage)
FROM audits a JOIN fiches f ON f.fiche_id = a.fiche_id
WHERE a.is_latest AND a.deleted_at IS NULL
GROUP BY 1, 2, 3, 4, 5, 6, 7
$$
"""  # noqa: S608 (module constants only)


def upgrade() -> None:
    op.create_table(
        "audit_counts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("created_hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("scorecard_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("niveau", sa.String(length=16), nullable=False),
        sa.Column("crm_group_id", sa.String(length=64), nullable=True),
        sa.Column("groupe", sa.String(length=255), nullable=True),
        sa.Column("is_compliant", sa.Boolean(), nullable=True),
        sa.Column("audits", sa.Integer(), nullable=False),
        sa.Column("scored", sa.Integer(), nullable=False),
        sa.Column("score_sum", sa.Numeric(), nullable=False),
        sa.Column("score_min", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.Column("score_max", sa.Numeric(precision=5, scale=2), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_counts")),
    )
    op.create_index(
        "uq_audit_counts_key",
        "audit_counts",
        KEY.split(", "),
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    for statement in (APPLY, ON_AUDIT, ON_FICHE, ON_TRUNCATE, *TRIGGERS, REBUILD, "SELECT audit_counts_rebuild()"):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_counts_fiche_delete ON fiches")
    op.execute("DROP TRIGGER audit_counts_group ON fiches")
    for trigger in ("audit_counts_truncate", "audit_counts_update", "audit_counts_insert_delete"):
        op.execute(f"DROP TRIGGER {trigger} ON audits")
    for function in (
        "audit_counts_rebuild",
        "audit_counts_on_truncate",
        "audit_counts_on_fiche",
        "audit_counts_on_audit",
    ):
        op.execute(f"DROP FUNCTION {function}()")
    op.execute(
        "DROP FUNCTION audit_counts_apply(text, text, bigint, text, text, boolean, timestamptz, numeric, integer, text)"
    )
    op.drop_table("audit_counts")
