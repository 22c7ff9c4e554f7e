"""The `product_catalogue` asset: the catalogue's counts in the Dagster UI, and its guarantee-table check."""

from __future__ import annotations

from typing import Any

import dagster as dg
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from assets.products import every_plan_has_its_guarantee_table, product_catalogue
from callaudit.demo_crm.catalogue import demo_catalogue
from callaudit.demo_crm.products import FORMULAS
from domain.models import GuaranteeTable, ProductFormule
from domain.products.io import import_catalogue
from resources.database import DatabaseResource


def _materialize(database_url: str) -> tuple[dict[str, Any], dg.AssetCheckEvaluation]:
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [product_catalogue, every_plan_has_its_guarantee_table],
            resources={"database": DatabaseResource(url=database_url)},
            instance=instance,
        )
    assert result.success
    [event] = result.asset_materializations_for_node("product_catalogue")
    [check] = result.get_asset_check_evaluations()
    return {k: v.value for k, v in event.metadata.items()}, check


def test_the_asset_counts_the_catalogue_and_checks_every_plan_has_a_table(
    database_url: str, sync_engine: Engine, clean_tables: None
) -> None:
    metadata, check = _materialize(database_url)
    assert (metadata["formules"], metadata["plans_without_table"]) == (0, 0)
    assert check.passed  # an empty catalogue has no plan without a table

    with Session(sync_engine) as session, session.begin():
        import_catalogue(session, demo_catalogue())
    metadata, check = _materialize(database_url)
    assert metadata["groupes"] == len({f.groupe for f in FORMULAS})
    assert metadata["formules"] == metadata["garanties_parsed"] == len(FORMULAS)
    assert metadata["plans_without_table"] == 0
    assert check.passed

    with Session(sync_engine) as session, session.begin():
        formule = session.scalars(select(ProductFormule).where(ProductFormule.libelle == "E2")).one()
        session.execute(delete(GuaranteeTable).where(GuaranteeTable.formule_id == formule.id))
    metadata, check = _materialize(database_url)
    assert metadata["plans_without_table"] == 1
    assert metadata["plans_without_table_examples"] == ["MU/ESS/E2"]
    assert not check.passed
    assert check.metadata["without_table"].value == 1
