"""Product catalogue asset: the insurers, ranges, plans and guarantee tables audits check claims against.

The catalogue is loaded by `callaudit products import` or `POST /api/products/import` (and the demo
catalogue by `callaudit seed`), not by this asset: materializing it records what the tables hold, so
the Dagster UI shows the catalogue beside the audits that read it. The
`every_plan_has_its_guarantee_table` check fails while a plan has no guarantee table (its own or
its range's): product verification would only have its coverage summary.
"""

import dagster as dg

from domain.products.catalogue import plans_without_table, stats
from resources.database import DatabaseResource

CATALOGUE_VERSION = "catalogue-1"


@dg.asset(group_name="products", kinds={"python", "postgres"}, code_version=CATALOGUE_VERSION)
def product_catalogue(database: DatabaseResource) -> dg.MaterializeResult:  # type: ignore[type-arg]
    """The product catalogue as audits read it: counts of insurers, ranges, plans and parsed guarantee
    tables, and the plans left without a guarantee table.

    Product-verification steps (`verifyProductInfo`) link each fiche's sold product to a plan here and
    check the amounts and durations the agent states against it.
    """
    with database.session() as session:
        counts = stats(session)
        missing = plans_without_table(session)
    return dg.MaterializeResult(
        metadata={
            **counts,
            "plans_without_table": len(missing),
            "plans_without_table_examples": dg.MetadataValue.json(missing[:20]),
        }
    )


@dg.asset_check(
    asset=product_catalogue,
    description="Every plan has a guarantee table (its own or its range's) to check stated values against.",
)
def every_plan_has_its_guarantee_table(database: DatabaseResource) -> dg.AssetCheckResult:
    with database.session() as session:
        missing = plans_without_table(session)
        plans = stats(session)["formules"]
    return dg.AssetCheckResult(
        passed=not missing,
        metadata={"plans": plans, "without_table": len(missing), "examples": dg.MetadataValue.json(missing[:20])},
    )
