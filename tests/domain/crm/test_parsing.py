"""Gateway dates and payload validation: values read in the business time zone, errors name the field."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from domain.crm.parsing import (
    FR_DATE,
    SQL_DATETIME,
    CrmPayloadError,
    StartTime,
    format_local_date,
    format_local_datetime,
    format_start_time,
    parse_fiche_details,
    parse_local_date,
    parse_local_datetime,
    parse_sales_page,
    parse_start_time,
)
from tests.fixtures.crm_payloads import details_payload, sales_payload, shared_fixture

PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC


@pytest.mark.parametrize(
    ("text", "expected_utc"),
    [
        ("25/09/2025 10:27", dt.datetime(2025, 9, 25, 8, 27, tzinfo=UTC)),  # summer time, UTC+2
        ("15/01/2025 00:30", dt.datetime(2025, 1, 14, 23, 30, tzinfo=UTC)),  # winter time, previous UTC day
    ],
)
def test_french_datetime_is_read_in_the_business_time_zone(text: str, expected_utc: dt.datetime) -> None:
    parsed = parse_local_datetime(text, "information.date_insertion")
    assert parsed == expected_utc
    assert parsed is not None
    assert format_local_datetime(parsed) == text


def test_time_zone_is_configurable() -> None:
    reunion = ZoneInfo("Indian/Reunion")
    parsed = parse_local_datetime("25/09/2025 10:27", "f", tz=reunion)
    assert parsed == dt.datetime(2025, 9, 25, 6, 27, tzinfo=UTC)


def test_french_date_and_sql_datetime() -> None:
    assert parse_local_date("15/10/1961", "prospect.date_naissance") == dt.date(1961, 10, 15)
    assert format_local_date(dt.date(1961, 10, 15), FR_DATE) == "15/10/1961"
    signed = parse_local_datetime("2025-09-26 10:26:28", "elements_souscription.date_signature", SQL_DATETIME)
    assert signed == dt.datetime(2025, 9, 26, 8, 26, 28, tzinfo=UTC)


@pytest.mark.parametrize("blank", [None, "", "   "])
def test_blank_dates_are_none(blank: str | None) -> None:
    assert parse_local_datetime(blank, "f") is None
    assert parse_local_date(blank, "f") is None
    assert parse_start_time(blank) is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("2025-09-25 10:27", "expected a date as DD/MM/YYYY HH:MM"),
        ("25/09/2025", "expected a date as DD/MM/YYYY HH:MM"),
        ("25/09/2025 10:27:33", "expected a date as DD/MM/YYYY HH:MM"),
        ("31/02/2025 10:27", "not a valid DD/MM/YYYY HH:MM date"),
        ("25/09/2025 24:10", "not a valid DD/MM/YYYY HH:MM date"),
    ],
)
def test_invalid_datetime_names_the_field(text: str, problem: str) -> None:
    with pytest.raises(CrmPayloadError, match=r"^information\.date_insertion: ") as caught:
        parse_local_datetime(text, "information.date_insertion")
    assert caught.value.field == "information.date_insertion"
    assert problem in caught.value.problem
    assert repr(text) in str(caught.value)


def test_invalid_date_names_the_field() -> None:
    with pytest.raises(CrmPayloadError, match=r"prospect\.date_naissance: expected a date as DD/MM/YYYY"):
        parse_local_date("1961-10-15", "prospect.date_naissance")


def test_start_time_with_offset_is_exact() -> None:
    start = parse_start_time("2025-10-13T14:41:05.454463+00:00", "recordings.0.start_time")
    assert start == StartTime(dt.datetime(2025, 10, 13, 14, 41, 5, 454463, tzinfo=UTC), offset_assumed=False)
    assert format_start_time(start) == "2025-10-13T14:41:05.454463+00:00"
    other_offset = parse_start_time("2025-10-13T16:41:05+02:00")
    assert other_offset is not None
    assert other_offset.at == dt.datetime(2025, 10, 13, 14, 41, 5, tzinfo=UTC)
    assert format_start_time(other_offset) == "2025-10-13T14:41:05+00:00"  # normalised to UTC
    zulu = parse_start_time("2025-10-13T14:41:05Z")
    assert zulu is not None
    assert not zulu.offset_assumed


def test_start_time_without_offset_is_read_as_utc_and_flagged() -> None:
    # The gateway renders UTC; the real payload's file name (…-18-10-25-19h15-…) agrees.
    start = parse_start_time("2025-10-18T19:15:46.847653")
    assert start is not None
    assert start.offset_assumed
    assert start.at == dt.datetime(2025, 10, 18, 19, 15, 46, 847653, tzinfo=UTC)
    assert format_start_time(start) == "2025-10-18T19:15:46.847653"


def test_french_local_start_time_is_read_in_the_business_zone() -> None:
    start = parse_start_time("18/10/2025 21:15")
    assert start is not None
    assert start.offset_assumed
    assert start.at == dt.datetime(2025, 10, 18, 19, 15, tzinfo=UTC)  # Paris is UTC+2 in October


def test_start_time_garbage_names_the_field() -> None:
    with pytest.raises(CrmPayloadError, match=r"^recordings\.2\.start_time: "):
        parse_start_time("yesterday", "recordings.2.start_time")


def test_payload_type_errors_name_the_field() -> None:
    bad = details_payload()
    bad["information"]["nombre_acces"] = "many"
    with pytest.raises(CrmPayloadError, match=r"^information\.nombre_acces: ") as caught:
        parse_fiche_details(bad)
    assert caught.value.field == "information.nombre_acces"
    sales = sales_payload()
    del sales["fiches"][1]["id"]
    with pytest.raises(CrmPayloadError, match=r"^fiches\.1\.id: Field required"):
        parse_sales_page(sales)


def test_models_are_lenient_where_the_gateway_is_loose() -> None:
    payload = details_payload()
    payload["prospect"]["civilite"] = "2"  # a numeric code sent as a string
    payload["information"]["agence_id"] = 19  # a string id sent as a number
    details = parse_fiche_details(payload)
    assert details.prospect is not None
    assert details.information is not None
    assert (details.prospect.civilite, details.information.agence_id) == (2, "19")
    assert details.model_extra == {"nouvelle_section": {"introduced": "later"}}
    assert parse_fiche_details({}).information is None  # every section may be missing or null


def test_real_payloads_parse() -> None:
    details = parse_fiche_details(shared_fixture("fiche-by-id.example.json"))
    assert details.information is not None
    assert details.information.groupe == "NCA R3"
    assert len(details.recordings or []) == 14
    page = parse_sales_page(shared_fixture("sales-with-calls.example.json"))
    assert [fiche.id for fiche in page.fiches or []] == ["1000001", "1000002"]
