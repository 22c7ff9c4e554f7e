"""Payload -> rows -> payload, the sales-day rule and the sales-listing patch, without a database."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from domain.crm import sections
from domain.crm.normalize import (
    FicheSnapshot,
    SalesDay,
    StoredDetails,
    normalize_details,
    patch_from_sales_listing,
    rebuild_payload,
    recording_rows,
    resolve_sales_day,
    unique_summaries,
)
from domain.crm.parsing import CrmPayloadError, CrmRecording, SalesFiche, parse_fiche_details, parse_sales_page
from domain.models import FicheComment, FicheInformation, FicheProspect, FicheSubscription, FicheTag, Recording
from domain.models.fiches import SalesDaySource
from tests.fixtures.crm_payloads import FICHE_ID, details_payload, sales_payload, shared_fixture, sorted_calls

PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC
D1, D2, D3 = dt.date(2025, 3, 3), dt.date(2025, 3, 4), dt.date(2025, 3, 5)
SEARCH, INSERTION = SalesDaySource.SALES_SEARCH, SalesDaySource.DATE_INSERTION
INSERTED = dt.datetime(2025, 3, 1, 23, 30, tzinfo=UTC)  # 2 March 00:30 in Paris


# --- the sales-day rule -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "current", "listed_on", "inserted_at", "expected"),
    [
        ("ad-hoc fetch: insertion day in Paris", None, None, INSERTED, SalesDay(dt.date(2025, 3, 2), INSERTION)),
        ("nothing known", None, None, None, None),
        ("first listing", None, D2, INSERTED, SalesDay(D2, SEARCH)),
        ("listing beats the insertion day", SalesDay(D1, INSERTION), D3, None, SalesDay(D3, SEARCH)),
        ("details never move a searched day", SalesDay(D2, SEARCH), None, INSERTED, SalesDay(D2, SEARCH)),
        ("a later listing keeps the earliest day", SalesDay(D2, SEARCH), D3, None, SalesDay(D2, SEARCH)),
        ("an earlier listing wins", SalesDay(D2, SEARCH), D1, None, SalesDay(D1, SEARCH)),
        ("re-listing the same day", SalesDay(D2, SEARCH), D2, None, SalesDay(D2, SEARCH)),
        ("insertion day follows the payload", SalesDay(D1, INSERTION), None, INSERTED,
         SalesDay(dt.date(2025, 3, 2), INSERTION)),
        ("no insertion date keeps what is known", SalesDay(D1, INSERTION), None, None, SalesDay(D1, INSERTION)),
    ],
)  # fmt: skip
def test_sales_day_rule(
    case: str,
    current: SalesDay | None,
    listed_on: dt.date | None,
    inserted_at: dt.datetime | None,
    expected: SalesDay | None,
) -> None:
    assert resolve_sales_day(current, listed_on=listed_on, inserted_at=inserted_at, tz=PARIS) == expected


def test_sales_day_rule_is_order_independent() -> None:
    days = [D3, D1, D2]
    for order in (days, list(reversed(days)), sorted(days)):
        current: SalesDay | None = SalesDay(D1, INSERTION)
        for day in order:
            current = resolve_sales_day(current, listed_on=day, inserted_at=None)
            current = resolve_sales_day(current, listed_on=None, inserted_at=INSERTED)  # a details write between
        assert current == SalesDay(D1, SEARCH)


# --- details ----------------------------------------------------------------------------------


def _stored(payload: dict[str, Any]) -> StoredDetails:
    n = normalize_details(parse_fiche_details(payload))
    return StoredDetails(
        raw_data=n.raw_data,
        information=n.information,
        prospect=n.prospect,
        subscription=n.subscription,
        comments=n.comments,
        tags=n.tags,
        recordings=sorted(n.recordings or [], key=lambda row: row["start_time"]),
    )


def test_details_become_typed_rows() -> None:
    n = normalize_details(parse_fiche_details(details_payload()))
    assert n.information is not None
    assert n.information["date_insertion"] == dt.datetime(2025, 3, 2, 23, 30, tzinfo=UTC)
    assert n.inserted_at == n.information["date_insertion"]
    assert (n.information["groupe"], n.information["attribution_user_id"], n.information["modules"]) == (
        "NCA R1",
        "104",
        ["Santé"],
    )
    assert n.prospect is not None
    assert n.prospect["date_naissance"] == dt.date(1958, 2, 9)
    assert n.subscription is not None
    assert n.subscription["date_signature"] == dt.datetime(2025, 3, 4, 9, 26, 28, tzinfo=UTC)
    assert (n.subscription["produit_groupe_nom"], n.subscription["produit_gamme_nom"]) == ("CEGEMA", "Essentiel2")
    assert (n.subscription["paiement_mode"], n.subscription["ancien_assureur"]) == ("Prélèvement", "")
    assert n.subscription["questions_conseil"]["Vous souhaitez privilégier un contrat"] == "Non Responsable"
    assert [c["position"] for c in n.comments] == [0, 1]
    assert n.comments[1]["date"] is None  # "" is blank
    assert [(t["nom"], t["date"]) for t in n.tags] == [("Ecoute LD", dt.date(2025, 3, 4)), ("Qualité confirmée", None)]
    assert n.fiche == {
        "groupe": "NCA R1",
        "agence_nom": "1-NCAR1",
        "attribution_user_id": "104",
        "cle": "0123456789abcdef0123456789abcdef",
        "prospect_nom": "DURAND",
        "prospect_prenom": "Éric",
        "prospect_email": "client0001@example.org",
        "prospect_tel": "0612345678",
        "recordings_count": 3,
    }
    assert n.information_fiche_id == FICHE_ID


def test_recording_rows() -> None:
    n = normalize_details(parse_fiche_details(details_payload()))
    assert n.recordings is not None
    signed, naive = n.recordings[1], n.recordings[2]
    assert signed["recording_url"].endswith(".mp3?token=abc123#t=0")
    assert (signed["recording_date"], signed["recording_time"]) == (dt.date(2025, 3, 4), "09:24")
    assert (signed["from_number"], signed["uuid"]) == ("+33 4 02 91 79 12", "00000000-0000-4000-8000-000000000002")
    assert naive["start_time_offset_assumed"] is True
    assert naive["start_time"] == dt.datetime(2025, 3, 5, 19, 15, 46, 847653, tzinfo=UTC)  # offset-less ISO is UTC
    assert not n.recordings[0]["start_time_offset_assumed"]


def test_reduced_payload_keeps_only_what_the_tables_do_not() -> None:
    raw = normalize_details(parse_fiche_details(details_payload())).raw_data
    assert "recordings" not in raw
    assert raw["conjoint"] is None
    assert raw["nouvelle_section"] == {"introduced": "later"}
    assert raw["information"]["nombre_acces"] == 12
    assert "groupe" not in raw["information"]
    assert "etiquettes" in raw["information"]  # the blank tag date is kept as sent ("")
    assert raw["information"]["etiquettes"] == [{}, {"date": ""}]
    assert raw["commentaires"] == [{}, {"date": "", "lu": True}]
    assert raw["elements_souscription"]["produit"] == {
        "date_effet": None,
        "date_effet_modifiable": "",
        "type_client": None,
        "logo_url": None,
        "garanties_url": "https://crm.example.invalid/garanties_url/1",
    }
    assert "questions_conseil" not in raw["elements_souscription"]


def test_round_trip_is_exact() -> None:
    assert rebuild_payload(_stored(details_payload())) == details_payload()


def test_round_trip_of_the_real_payload() -> None:
    real = shared_fixture("fiche-by-id.example.json")
    assert sorted_calls(rebuild_payload(_stored(real))) == sorted_calls(real)


@pytest.mark.parametrize(
    ("mutate", "normalised"),
    [
        (lambda p: p["information"].pop("groupe"), lambda p: p["information"].update(groupe=None)),
        (lambda p: p.pop("commentaires"), lambda p: p.update(commentaires=[])),
        (lambda p: p["elements_souscription"].update(produit=None), None),
        (lambda p: p.update(prospect=None, commentaires=None, information=None), None),
        (lambda p: p["information"].update(date_insertion=" 03/03/2025 00:30"), None),  # kept verbatim too
        (lambda p: p["prospect"].update(civilite="2"), lambda p: p["prospect"].update(civilite=2)),
        (lambda p: p["recordings"][0].update(recording_url=None, transcription={"speakers": []}),
         lambda p: p["recordings"][0].pop("transcription")),
    ],
)  # fmt: skip
def test_round_trip_normalisations(mutate: Any, normalised: Any) -> None:
    sent = details_payload()
    mutate(sent)
    expected = details_payload()
    mutate(expected)
    if normalised:
        normalised(expected)
    assert rebuild_payload(_stored(sent)) == expected


def test_a_payload_without_recordings_key_does_not_reconcile() -> None:
    payload = details_payload()
    del payload["recordings"]
    n = normalize_details(parse_fiche_details(payload))
    assert n.recordings is None
    assert "recordings_count" not in n.fiche


@pytest.mark.parametrize(
    ("path", "field"),
    [
        (("information", "date_insertion"), "information.date_insertion"),
        (("commentaires", 0, "date"), "commentaires.0.date"),
        (("information", "etiquettes", 1, "date"), "information.etiquettes.1.date"),
        (("elements_souscription", "date_souscription"), "elements_souscription.date_souscription"),
        (("prospect", "date_naissance"), "prospect.date_naissance"),
        (("recordings", 2, "start_time"), "recordings.2.start_time"),
    ],
)
def test_malformed_dates_name_their_field(path: tuple[Any, ...], field: str) -> None:
    payload = details_payload()
    node: Any = payload
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = "not a date"
    with pytest.raises(CrmPayloadError) as caught:
        normalize_details(parse_fiche_details(payload))
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("columns", "model"),
    [
        (sections.INFORMATION, FicheInformation),
        (sections.PROSPECT, FicheProspect),
        (sections.SUBSCRIPTION, FicheSubscription),
        (sections.COMMENT, FicheComment),
        (sections.TAG, FicheTag),
    ],
)
def test_every_mapped_column_exists(columns: tuple[sections.Col, ...], model: type[Any]) -> None:
    table_columns = set(model.__table__.columns.keys())
    assert {col.column for col in columns} <= table_columns
    assert table_columns - {col.column for col in columns} <= {"fiche_id", "position"}


def test_recording_rows_match_the_table() -> None:
    n = normalize_details(parse_fiche_details(details_payload()))
    assert n.recordings is not None
    assert set(n.recordings[0]) <= set(Recording.__table__.columns.keys())


# --- sales lists ------------------------------------------------------------------------------

NOW = dt.datetime(2025, 3, 6, 8, 0, tzinfo=UTC)


def snapshot(**changes: Any) -> FicheSnapshot:
    values: dict[str, Any] = {
        "fetch_status": "summary",
        "cle": "old-cle",
        "prospect_nom": "OLD",
        "prospect_prenom": "Old",
        "prospect_email": "old@example.org",
        "prospect_tel": "0600000000",
        "raw_data": {"old": True},
        "sales_date": None,
        "sales_date_source": None,
    }
    return FicheSnapshot(**(values | changes))


def listed(**changes: Any) -> SalesFiche:
    return SalesFiche.model_validate(sales_payload()["fiches"][0] | changes)


def test_listing_patches_a_summary_without_blanking() -> None:
    patch = patch_from_sales_listing(snapshot(), listed(email=None, telephone="", cle=None), D2, NOW)
    assert patch["cle"] == "old-cle"
    assert (patch["prospect_nom"], patch["prospect_email"], patch["prospect_tel"]) == (
        "DURAND",
        "old@example.org",
        "0600000000",
    )
    assert patch["raw_data"]["statut"] == "Vente"
    assert "recordings" not in patch["raw_data"]
    assert (patch["sales_date"], patch["sales_date_source"], patch["fetch_status"]) == (D2, "sales_search", "summary")
    assert patch["last_revalidated_at"] == NOW


def test_listing_never_overwrites_details() -> None:
    current = snapshot(fetch_status="details", sales_date=D1, sales_date_source="date_insertion")
    patch = patch_from_sales_listing(current, listed(cle="new-cle"), D2, NOW)
    assert patch == {
        "cle": "new-cle",  # the CRM's security key is refreshed from sales lists
        "sales_date": D2,
        "sales_date_source": "sales_search",
        "last_revalidated_at": NOW,
        "fetch_status": "details",
        "prospect_nom": "OLD",
        "prospect_prenom": "Old",
        "prospect_email": "old@example.org",
        "prospect_tel": "0600000000",
        "raw_data": {"old": True},
    }


@pytest.mark.parametrize(
    ("status", "after"), [("not_found", "not_found"), ("failed", "failed"), ("summary", "summary")]
)
def test_listing_status_transitions(status: str, after: str) -> None:
    assert patch_from_sales_listing(snapshot(fetch_status=status), listed(), D2, NOW)["fetch_status"] == after


def test_duplicate_listings_are_merged() -> None:
    page = sales_payload()
    again = page["fiches"][0] | {"nom": "DURAND-2", "recordings": [{"call_id": "x", "recording_url": None}]}
    page["fiches"].append(again)
    merged = unique_summaries(parse_sales_page(page))
    assert list(merged) == [FICHE_ID, "2000002"]
    assert merged[FICHE_ID].nom == "DURAND-2"
    assert [r.call_id for r in merged[FICHE_ID].recordings or []] == ["12258673469935550001", "x"]


def test_duplicate_calls_are_merged_keeping_a_known_url() -> None:
    calls = [
        CrmRecording(call_id="1", recording_url="https://cdn/a.mp3", duration_seconds=10),
        CrmRecording(call_id="1", recording_url=None, duration_seconds=12),
        CrmRecording(call_id="2"),
    ]
    rows = recording_rows(calls, "recordings")
    assert [(r["call_id"], r["recording_url"], r["duration_seconds"]) for r in rows] == [
        ("1", "https://cdn/a.mp3", 12),
        ("2", "", None),
    ]
