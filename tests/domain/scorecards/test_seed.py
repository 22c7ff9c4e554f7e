"""`callaudit seed` ensures the demo scorecard once (bug §13.5 #44: the original duplicated it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callaudit.seed import seed_session
from callaudit.settings import Settings, load_settings
from domain.models import Scorecard, ScorecardVersion
from domain.scorecards.io import read_document
from domain.scorecards.service import demo_document


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return load_settings(
        callaudit_home=tmp_path,
        auth_seed_admin_email="boss@example.test",
        auth_seed_admin_password="a long password",
        auth_password_hash_profile="fast-test",
        callaudit_env="test",
        **values,
    )


def test_seeding_twice_gives_one_scorecard_with_one_version(db_session: Session, tmp_path: Path) -> None:
    settings = _settings(tmp_path, fiche_api_base_url=None)
    name = read_document(demo_document()).name
    first = seed_session(db_session, settings, embedded=False)
    second = seed_session(db_session, settings, embedded=False)
    assert any(name in line and "created" in line for line in first)
    assert any(name in line and "unchanged" in line for line in second)
    scorecard = db_session.scalars(select(Scorecard).where(Scorecard.name == name)).one()
    assert scorecard.run_automatically
    assert scorecard.is_active
    versions = db_session.scalar(select(func.count()).where(ScorecardVersion.scorecard_id == scorecard.id))
    assert versions == 1


def test_with_a_real_crm_gateway_the_demo_scorecard_is_not_installed(db_session: Session, tmp_path: Path) -> None:
    settings = _settings(tmp_path, fiche_api_base_url="https://crm.example.test/api")
    lines = seed_session(db_session, settings, embedded=False)
    assert any("demo scorecard: not installed" in line for line in lines)
    assert db_session.scalar(select(func.count()).select_from(Scorecard)) == 0
