"""The demo catalogue: what the simulator sells, loaded by `callaudit seed`, once, and linkable exactly."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from callaudit.demo_crm.fiches import build_fiche
from callaudit.demo_crm.products import FORMULAS
from callaudit.demo_crm.sections import elements_souscription
from callaudit.seed import seed_session
from callaudit.settings import Settings, load_settings
from domain.models import GuaranteeTable, ProductFormule
from domain.products.catalogue import plan_names
from domain.products.linking import SoldProduct, link_product


def _settings(tmp_path: Path, gateway: str | None) -> Settings:
    return load_settings(
        callaudit_home=tmp_path,
        auth_seed_admin_email="boss@example.test",
        auth_seed_admin_password="a long password",
        auth_password_hash_profile="fast-test",
        callaudit_env="test",
        fiche_api_base_url=gateway,
    )


def test_seed_loads_the_demo_catalogue_once(db_session: Session, tmp_path: Path) -> None:
    settings = _settings(tmp_path, None)
    first = seed_session(db_session, settings, embedded=False)
    second = seed_session(db_session, settings, embedded=False)
    assert f"demo catalogue: {len(FORMULAS)} plans ({len(FORMULAS)} created)" in first
    assert f"demo catalogue: {len(FORMULAS)} plans (present)" in second
    assert db_session.scalar(select(func.count()).select_from(ProductFormule)) == len(FORMULAS)
    tables = db_session.scalar(select(func.count()).select_from(GuaranteeTable))
    assert tables == len(FORMULAS)  # every plan has its guarantee table


def test_every_product_the_simulator_sells_links_exactly(db_session: Session, tmp_path: Path) -> None:
    seed_session(db_session, _settings(tmp_path, None), embedded=False)
    plans = plan_names(db_session)
    sold = set()
    for index in range(40):
        core = build_fiche(11, dt.date(2025, 3, 3), index, 40)
        produit = elements_souscription(core)["produit"]
        match = link_product(SoldProduct(produit["groupe_nom"], produit["gamme_nom"], produit["formule_nom"]), plans)
        assert match.strategy == "exact", produit
        sold.add(match.formule_id)
    assert len(sold) > 5


def test_with_a_real_gateway_no_demo_catalogue(db_session: Session, tmp_path: Path) -> None:
    seed_session(db_session, _settings(tmp_path, "https://crm.example.test/api"), embedded=False)
    assert db_session.scalar(select(func.count()).select_from(ProductFormule)) == 0
