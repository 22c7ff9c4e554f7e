"""Jobs: the daily CRM refresh, and ad-hoc fetches and transcriptions of given fiches (API requests, operators)."""

from typing import Literal

import dagster as dg
from pydantic import Field

from assets.fiches import fiche_details, sales_fiches, sync_fiche_batch
from assets.transcripts import report_metadata, transcribe_fiches
from callaudit.pools import STT
from resources.crm.resource import CrmResource
from resources.database import DatabaseResource
from resources.redis.resource import RedisResource
from resources.stt.resource import SttResource

#: One run per sales day fetches its sales list, then every listed fiche's details.
sync_sales_day_job = dg.define_asset_job(
    "sync_sales_day",
    selection=dg.AssetSelection.assets(sales_fiches, fiche_details),
    description="Search the day's sales in the CRM, then fetch every listed fiche's details.",
)


class FetchFichesConfig(dg.Config):
    fiche_ids: list[str] = Field(min_length=1, max_length=5000, description="CRM fiche ids")
    force: bool = Field(False, description="Refetch even fresh details (the refresh cooldown still applies)")


@dg.op(
    pool="crm_fiche_fetch",
    description="Fetch the given fiches' details cache-first; per-fiche outcomes in the output metadata.",
)
def fetch_given_fiches(
    context: dg.OpExecutionContext,
    config: FetchFichesConfig,
    crm: CrmResource,
    redis: RedisResource,
    database: DatabaseResource,
) -> dg.Output[dict[str, str]]:
    result = sync_fiche_batch(crm, redis, database, config.fiche_ids, force=config.force)
    outcomes = {r.fiche_id: r.outcome.value for r in result.report.results}
    return dg.Output(outcomes, metadata=result.metadata())


@dg.job(
    description="Ad-hoc: fetch given fiches (configured with `fiche_ids`), e.g. from an API request.",
    tags={"app/source": "adhoc"},
)
def fetch_fiches_job() -> None:
    fetch_given_fiches()


class TranscribeFichesConfig(dg.Config):
    fiche_ids: list[str] = Field(min_length=1, max_length=5000, description="CRM fiche ids")
    priority: Literal["low", "normal", "high"] = Field(
        "normal", description="Carried on events and fiche status; launch with the matching `dagster/priority` tag"
    )
    force: bool = Field(False, description="Transcribe again recordings already transcribed")


@dg.op(
    pool=STT,
    description="Transcribe the given fiches' recordings not yet transcribed; outcomes in the output metadata.",
)
def transcribe_given_fiches(
    context: dg.OpExecutionContext,
    config: TranscribeFichesConfig,
    stt: SttResource,
    redis: RedisResource,
    database: DatabaseResource,
) -> dg.Output[dict[str, str]]:
    report = transcribe_fiches(
        stt, redis, database, config.fiche_ids, force=config.force, priority=config.priority, run_id=context.run_id
    )
    statuses = {f.fiche_id: f.status for f in report.fiches}
    return dg.Output(statuses, metadata=report_metadata(report))


@dg.job(
    description="Ad-hoc: transcribe given fiches (configured with `fiche_ids`, `priority`), e.g. from an API "
    "request; queue order follows the run's `dagster/priority` tag, set by whoever launches it.",
    tags={"app/source": "adhoc"},
)
def transcribe_fiches_job() -> None:
    transcribe_given_fiches()
