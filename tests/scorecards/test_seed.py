"""`callaudit seed` ensures the demo scorecard once (bug §13.5 #44: the original duplicated it)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callaudit.seed import seed_session
from callaudit.settings import load_settings
from domain.models import Scorecard, ScorecardVersion
from domain.scorecards.io import read_document
from domain.scorecards.service import demo_document


def test_seeding_twice_gives_one_scorecard_with_one_version(db_session: Session, tmp_path: Path) -> None:
    settings = load_settings(
        callaudit_home=tmp_path, auth_seed_admin_email=None, auth_seed_admin_password=None, callaudit_env="test"
    )
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
