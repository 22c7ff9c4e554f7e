"""`callaudit seed`: the permission catalogue, the built-in roles and the first administrator.

Idempotent and safe to run on every start (replicas serialize on an advisory lock):

* permissions are upserted from `domain.rbac.PERMISSIONS`;
* built-in roles (`admin`, `operator`, `viewer`) are upserted and their grants are reset to the current
  definition (`domain.rbac.BUILT_IN_ROLES`), so a changed definition reaches existing deployments;
  their names and descriptions are only set at creation (administrators may rename them);
* with `AUTH_SEED_ADMIN_EMAIL` + `AUTH_SEED_ADMIN_PASSWORD`, that user exists and has the admin role
  (an existing user's password is never reset);
* otherwise, in embedded mode only, `admin@callaudit.local` is created once with a generated password:
  the credential line is returned (to be printed) that once and written to an owner-only file
  (`$CALLAUDIT_HOME/initial-admin.txt`, mode 0600);
* on a configured database (production) with no administrator and no `AUTH_SEED_ADMIN_*`, seeding
  fails (`SeedError`) saying what to set: an installation nobody can log into must not start silently;
* with the demo CRM simulator as the gateway (`FICHE_API_BASE_URL` unset) the demo scorecard exists,
  found by name (`domain.scorecards.service.seed_demo_scorecard`): created once, marked to run
  automatically, never duplicated and never re-versioned while unchanged. With a real gateway it is not
  installed: real sales must never be audited against a demo scorecard. Likewise the demo product
  catalogue (`callaudit.demo_crm.catalogue`, the plans the simulator sells) is imported, by business
  codes, so a second seed changes nothing.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from callaudit.demo_crm.catalogue import seed_demo_catalogue
from domain.models.auth import Permission, Role, RolePermission, User, UserRole, UserStatus
from domain.rbac import BUILT_IN_ROLES, PERMISSIONS
from domain.scorecards.service import seed_demo_scorecard

if TYPE_CHECKING:
    from callaudit.runtime import Runtime
    from callaudit.settings import Settings

EMBEDDED_ADMIN_EMAIL = "admin@callaudit.local"
INITIAL_ADMIN_FILE = "initial-admin.txt"
_LOCK_KEY = "callaudit:seed"

NO_ADMIN_MESSAGE = (
    "no administrator exists: set AUTH_SEED_ADMIN_EMAIL and AUTH_SEED_ADMIN_PASSWORD (in .env for compose) "
    "and run `callaudit seed` again (the password is only used to create the account)"
)


class SeedError(RuntimeError):
    """Seeding cannot leave a usable installation; the message says what to set."""


def seed_rbac(session: Session) -> None:
    """Upsert the permission catalogue and the built-in roles with exactly their defined grants."""
    permission_insert = insert(Permission).values(
        [{"key": key, "description": description} for key, description in PERMISSIONS.items()]
    )
    session.execute(
        permission_insert.on_conflict_do_update(
            index_elements=[Permission.key], set_={"description": permission_insert.excluded.description}
        )
    )
    permission_ids = dict(session.execute(select(Permission.key, Permission.id)).all())
    for definition in BUILT_IN_ROLES.values():
        statement = insert(Role).values(
            key=definition.key, name=definition.name, description=definition.description, built_in=True
        )
        role_id = session.execute(
            statement.on_conflict_do_update(index_elements=[Role.key], set_={"built_in": True}).returning(Role.id)
        ).scalar_one()
        wanted = {permission_ids[g.key]: g for g in definition.grants}
        session.execute(
            delete(RolePermission).where(
                RolePermission.role_id == role_id, RolePermission.permission_id.not_in(list(wanted))
            )
        )
        rows = [
            {"role_id": role_id, "permission_id": pid, "can_read": g.read, "can_write": g.write, "scope": g.scope.value}
            for pid, g in wanted.items()
        ]
        grant_insert = insert(RolePermission).values(rows)
        session.execute(
            grant_insert.on_conflict_do_update(
                index_elements=[RolePermission.role_id, RolePermission.permission_id],
                set_={
                    "can_read": grant_insert.excluded.can_read,
                    "can_write": grant_insert.excluded.can_write,
                    "scope": grant_insert.excluded.scope,
                },
            )
        )


def _hash_password(settings: Settings, password: str) -> str:
    from api.auth.crypto import passwords_for

    return passwords_for(settings).hash_sync(password)


def ensure_admin(session: Session, email: str, password: str | None, settings: Settings) -> bool:
    """The user `email` exists and has the admin role; returns True when the user was created.

    An existing user's password and status are left alone; a new one is ACTIVE with `password`.
    """
    email = email.strip().lower()
    user = session.scalars(select(User).where(User.email == email)).first()
    created = user is None
    if user is None:
        user = User(
            email=email,
            status=UserStatus.ACTIVE,
            password_hash=_hash_password(settings, password) if password else None,
        )
        session.add(user)
        session.flush()
    admin_id = session.scalar(select(Role.id).where(Role.key == "admin"))
    session.execute(insert(UserRole).values(user_id=user.id, role_id=admin_id).on_conflict_do_nothing())
    return created


def _has_admin(session: Session) -> bool:
    return (
        session.scalar(
            select(User.id)
            .join(UserRole, UserRole.user_id == User.id)
            .join(Role, Role.id == UserRole.role_id)
            .where(Role.key == "admin", User.status == UserStatus.ACTIVE)
            .limit(1)
        )
        is not None
    )


def _write_owner_only(path: Path, content: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(content)


def seed_session(session: Session, settings: Settings, *, embedded: bool) -> list[str]:
    """Everything `callaudit seed` does, inside the caller's transaction; returns lines to print.

    Raises `SeedError` (nothing written) when a configured database would be left without administrator.
    """
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": _LOCK_KEY})
    seed_rbac(session)
    lines = [f"permissions: {len(PERMISSIONS)}; built-in roles: {', '.join(BUILT_IN_ROLES)}"]
    email, password = settings.auth_seed_admin_email, settings.auth_seed_admin_password
    if email and password is not None:
        created = ensure_admin(session, email, password.get_secret_value(), settings)
        lines.append(f"administrator {email.strip().lower()} {'created' if created else 'present'}")
    elif embedded and session.scalar(select(User.id).where(User.email == EMBEDDED_ADMIN_EMAIL)) is None:
        generated = secrets.token_urlsafe(12)
        ensure_admin(session, EMBEDDED_ADMIN_EMAIL, generated, settings)
        credentials = settings.callaudit_home.resolve() / INITIAL_ADMIN_FILE
        _write_owner_only(credentials, f"{EMBEDDED_ADMIN_EMAIL}\n{generated}\n")
        lines.append(
            f"administrator created: {EMBEDDED_ADMIN_EMAIL} / {generated} "
            f"(shown only now and kept in {credentials}, readable by its owner only; change it, "
            "or set AUTH_SEED_ADMIN_EMAIL / AUTH_SEED_ADMIN_PASSWORD)"
        )
    elif not embedded and not _has_admin(session):
        partial = " (only one of the two is set)" if email or password is not None else ""
        raise SeedError(NO_ADMIN_MESSAGE + partial)
    elif email or password is not None:
        lines.append("AUTH_SEED_ADMIN_EMAIL and AUTH_SEED_ADMIN_PASSWORD must both be set: no administrator ensured")
    if settings.fiche_api_base_url is None:
        lines.append(seed_demo_scorecard(session))
        lines.append(seed_demo_catalogue(session))
    else:
        lines.append("demo scorecard: not installed (a CRM gateway is configured; `callaudit demo` installs it)")
    return lines


def seed_database(runtime: Runtime) -> list[str]:
    from resources.database import create_sync_engine

    engine = create_sync_engine(runtime.database_url, poolclass=NullPool)
    try:
        with Session(engine) as session, session.begin():
            return seed_session(session, runtime.settings, embedded=runtime.settings.database_url is None)
    finally:
        engine.dispose()
