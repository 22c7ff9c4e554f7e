"""`callaudit seed`: idempotent permissions and roles, built-in grants enforced, the first administrator."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session

from callaudit.seed import EMBEDDED_ADMIN_EMAIL, INITIAL_ADMIN_FILE, SeedError, seed_database
from callaudit.settings import load_settings
from domain.models import Permission, Role, RolePermission, User, UserRole
from domain.rbac import BUILT_IN_ROLES, PERMISSIONS, Scope

pytestmark = pytest.mark.usefixtures("clean_tables")


def _runtime(database_url: str, tmp_path: Path, *, embedded: bool = False, **settings: Any) -> Any:
    values: dict[str, Any] = {
        "callaudit_home": tmp_path,
        "auth_password_hash_profile": "fast-test",
        "auth_seed_admin_email": None,
        "auth_seed_admin_password": None,
        "database_url": None if embedded else database_url,
    }
    values.update(settings)
    return SimpleNamespace(database_url=database_url, settings=load_settings(**values), home=tmp_path)


def _grants(engine: Engine) -> dict[str, dict[str, tuple[bool, bool, str]]]:
    with Session(engine) as session:
        rows = session.execute(
            select(Role.key, Permission.key, RolePermission.can_read, RolePermission.can_write, RolePermission.scope)
            .join(RolePermission, RolePermission.role_id == Role.id)
            .join(Permission, Permission.id == RolePermission.permission_id)
        ).all()
    result: dict[str, dict[str, tuple[bool, bool, str]]] = {}
    for role, key, read, write, scope in rows:
        result.setdefault(role, {})[key] = (read, write, scope)
    return result


def _expected() -> dict[str, dict[str, tuple[bool, bool, str]]]:
    return {
        key: {g.key: (g.read, g.write, g.scope.value) for g in definition.grants}
        for key, definition in BUILT_IN_ROLES.items()
    }


_ADMIN: dict[str, Any] = {"auth_seed_admin_email": "boss@example.test", "auth_seed_admin_password": "a long password"}


def test_seed_is_idempotent_and_exact(database_url: str, sync_engine: Engine, tmp_path: Path) -> None:
    runtime = _runtime(database_url, tmp_path, **_ADMIN)
    seed_database(runtime)
    seed_database(runtime)
    with Session(sync_engine) as session:
        assert session.scalar(select(func.count()).select_from(Permission)) == len(PERMISSIONS)
        assert set(session.scalars(select(Role.key)).all()) == set(BUILT_IN_ROLES)
        assert all(session.scalars(select(Role.built_in)).all())
        assert session.scalars(select(User.email)).all() == ["boss@example.test"]  # no default admin
    assert _grants(sync_engine) == _expected()


@pytest.mark.parametrize("partial", [{}, {"auth_seed_admin_email": "boss@example.test"}])
def test_configured_database_without_administrator_fails_saying_what_to_set(
    database_url: str, sync_engine: Engine, tmp_path: Path, partial: dict[str, Any]
) -> None:
    with pytest.raises(SeedError, match="AUTH_SEED_ADMIN_EMAIL and AUTH_SEED_ADMIN_PASSWORD"):
        seed_database(_runtime(database_url, tmp_path, **partial))
    with Session(sync_engine) as session:
        assert session.scalar(select(func.count()).select_from(Permission)) == 0  # nothing half-written
    # Once an administrator exists, the variables may be removed again.
    seed_database(_runtime(database_url, tmp_path, **_ADMIN))
    assert not any("administrator" in line for line in seed_database(_runtime(database_url, tmp_path)))


def test_seed_restores_built_in_grants_but_keeps_names(database_url: str, sync_engine: Engine, tmp_path: Path) -> None:
    runtime = _runtime(database_url, tmp_path, **_ADMIN)
    seed_database(runtime)
    with Session(sync_engine) as session, session.begin():
        viewer = session.scalars(select(Role).where(Role.key == "viewer")).one()
        viewer.name = "Lecteur"
        fiches = session.scalar(select(Permission.id).where(Permission.key == "fiches"))
        admin_users = session.scalar(select(Permission.id).where(Permission.key == "admin.users"))
        session.execute(
            update(RolePermission)
            .where(RolePermission.role_id == viewer.id, RolePermission.permission_id == fiches)
            .values(can_write=True, scope=Scope.ALL)
        )
        session.add(RolePermission(role_id=viewer.id, permission_id=admin_users, can_read=True, scope=Scope.ALL))
        operator = session.scalar(select(Role.id).where(Role.key == "operator"))
        session.execute(delete(RolePermission).where(RolePermission.role_id == operator))
        session.add(Role(key="custom", name="Custom"))
    seed_database(runtime)
    assert _grants(sync_engine) == _expected()
    with Session(sync_engine) as session:
        assert session.scalar(select(Role.name).where(Role.key == "viewer")) == "Lecteur"
        assert session.scalar(select(Role.built_in).where(Role.key == "custom")) is False


def test_configured_admin_is_ensured_without_resetting_the_password(
    database_url: str, sync_engine: Engine, tmp_path: Path
) -> None:
    runtime = _runtime(
        database_url, tmp_path, auth_seed_admin_email=" Boss@Example.test ", auth_seed_admin_password="first password"
    )
    lines = seed_database(runtime)
    assert any("boss@example.test created" in line for line in lines)
    assert not any("first password" in line for line in lines)
    with Session(sync_engine) as session, session.begin():
        user = session.scalars(select(User).where(User.email == "boss@example.test")).one()
        assert user.password_hash is not None
        assert PasswordHasher().verify(user.password_hash, "first password")
        session.execute(delete(UserRole).where(UserRole.user_id == user.id))  # someone removed the admin role
        original_hash = user.password_hash
    changed = _runtime(
        database_url, tmp_path, auth_seed_admin_email="boss@example.test", auth_seed_admin_password="another password"
    )
    assert any("present" in line for line in seed_database(changed))
    with Session(sync_engine) as session:
        user = session.scalars(select(User).where(User.email == "boss@example.test")).one()
        assert user.password_hash == original_hash
        roles = session.scalars(
            select(Role.key).join(UserRole, UserRole.role_id == Role.id).where(UserRole.user_id == user.id)
        ).all()
        assert roles == ["admin"]


def test_embedded_mode_creates_a_default_admin_once(database_url: str, sync_engine: Engine, tmp_path: Path) -> None:
    runtime = _runtime(database_url, tmp_path, embedded=True)
    first = seed_database(runtime)
    credential = [line for line in first if EMBEDDED_ADMIN_EMAIL in line]
    assert len(credential) == 1
    password = credential[0].split(" / ")[1].split(" ")[0]
    kept = tmp_path / INITIAL_ADMIN_FILE
    assert kept.read_text().split() == [EMBEDDED_ADMIN_EMAIL, password]
    assert kept.stat().st_mode & 0o777 == 0o600
    with Session(sync_engine) as session:
        stored = session.scalar(select(User.password_hash).where(User.email == EMBEDDED_ADMIN_EMAIL))
    assert stored is not None
    assert PasswordHasher().verify(stored, password)
    second = seed_database(runtime)
    assert not any(EMBEDDED_ADMIN_EMAIL in line for line in second)


def test_cli_seed_exits_1_with_the_variables_to_set(
    database_url: str, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from callaudit.cli import app

    for name in ("AUTH_SEED_ADMIN_EMAIL", "AUTH_SEED_ADMIN_PASSWORD", "FICHE_API_BASE_URL", "FICHE_API_URL"):
        monkeypatch.delenv(name, raising=False)
    env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "CALLAUDIT_HOME": str(tmp_path)}
    result = CliRunner().invoke(app, ["seed"], env=env)
    assert result.exit_code == 1
    assert "AUTH_SEED_ADMIN_EMAIL and AUTH_SEED_ADMIN_PASSWORD" in " ".join(result.output.split())
