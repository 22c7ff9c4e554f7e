"""auth: NOTIFY callaudit_principals after every change to what a request's principal is read from

Revision ID: i21d_principal_changes
Revises: i21c_audit_fiche_copies
Create Date: 2026-12-05 10:50:00

Each API process remembers the principal of a signed-in user's session (`api.auth.principal_cache`,
decision 123) and must forget it as soon as any row it was read from changes, whoever writes it. The
payload names the user whose principals to forget, or `*` for everyone:

* `users`, `user_roles`, `team_members`, `refresh_tokens`: each row inserted, updated or deleted
  names its user (an update names the old user and the new one; Postgres sends a payload once per
  transaction however many rows repeat it);
* `roles`, `permissions`, `role_permissions`, `teams`: any statement means everyone (a role or a team
  has many members);
* a `TRUNCATE` of any of them means everyone (row triggers do not see it).

Postgres delivers the notifications when the transaction commits, and never those of one rolled back.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "i21d_principal_changes"
down_revision: str | None = "i21c_audit_fiche_copies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "callaudit_principals"  # `api.auth.principal_cache.CHANNEL`

#: table -> the column naming the user of a row
PER_USER = {"users": "id", "user_roles": "user_id", "team_members": "user_id", "refresh_tokens": "user_id"}
EVERYONE = ("roles", "permissions", "role_permissions", "teams")

FUNCTION = f"""
CREATE FUNCTION principals_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM pg_notify('{CHANNEL}', '*');
        RETURN NULL;
    END IF;
    -- TG_ARGV[0]: the column naming the row's user
    IF TG_OP <> 'INSERT' THEN
        PERFORM pg_notify('{CHANNEL}', to_jsonb(OLD) ->> TG_ARGV[0]);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        PERFORM pg_notify('{CHANNEL}', to_jsonb(NEW) ->> TG_ARGV[0]);
    END IF;
    RETURN NULL;
END $$
"""


def _triggers() -> list[tuple[str, str, str]]:
    """(trigger, table, its CREATE TRIGGER)"""
    triggers = []
    for table, column in PER_USER.items():
        triggers.append(
            (
                "principals_changed",
                table,
                f"CREATE TRIGGER principals_changed AFTER INSERT OR UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION principals_changed('{column}')",
            )
        )
        triggers.append(
            (
                "principals_truncated",
                table,
                f"CREATE TRIGGER principals_truncated AFTER TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION principals_changed()",
            )
        )
    for table in EVERYONE:
        triggers.append(
            (
                "principals_changed",
                table,
                f"CREATE TRIGGER principals_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION principals_changed()",
            )
        )
    return triggers


def upgrade() -> None:
    op.execute(FUNCTION)
    for _, _, statement in _triggers():
        op.execute(statement)


def downgrade() -> None:
    for trigger, table, _ in reversed(_triggers()):
        op.execute(f"DROP TRIGGER {trigger} ON {table}")
    op.execute("DROP FUNCTION principals_changed()")
