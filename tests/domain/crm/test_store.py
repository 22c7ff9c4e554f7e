"""The fiche store on a real PostgreSQL: round trips, additive sales lists, idempotence, reconciliation."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from domain.crm.cache import CacheAction, CachePolicy, CacheReason, decide, has_fallback_details
from domain.crm.normalize import recording_payload
from domain.crm.parsing import CrmPayloadError, parse_fiche_details, parse_sales_page
from domain.crm.store import (
    DetailsNotStored,
    load_cache_state,
    mark_failed,
    mark_not_found,
    reconstruct_payload,
    record_day_coverage,
    store_details,
    upsert_sales_summaries,
)
from domain.models import (
    DayCoverageStatus,
    Fiche,
    FicheComment,
    FicheInformation,
    FicheProspect,
    FicheSubscription,
    FicheTag,
    Recording,
    SalesDayCoverage,
)
from tests.fixtures.crm_payloads import FICHE_ID, details_payload, sales_payload, shared_fixture, sorted_calls

NOW = dt.datetime(2025, 3, 6, 8, 0, tzinfo=dt.UTC)
POLICY = CachePolicy()
DAY = dt.date(2025, 3, 4)
CHILD_TABLES = (FicheInformation, FicheProspect, FicheSubscription, FicheComment, FicheTag, Recording)


def store(session: Session, payload: dict[str, Any], fiche_id: str = FICHE_ID, **kwargs: Any) -> Any:
    return store_details(session, fiche_id, parse_fiche_details(payload), NOW, POLICY.details_expire_at(NOW), **kwargs)


def fiche(session: Session, fiche_id: str = FICHE_ID) -> Fiche:
    return session.scalars(select(Fiche).where(Fiche.fiche_id == fiche_id)).one()


def counts(session: Session) -> dict[str, int]:
    return {
        model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Fiche, *CHILD_TABLES)
    }


def urls(session: Session, fiche_id: str = FICHE_ID) -> dict[str, str]:
    rows = session.execute(select(Recording.call_id, Recording.recording_url).where(Recording.fiche_id == fiche_id))
    return dict(rows.all())


# --- round trips ------------------------------------------------------------------------------


def test_round_trip_of_a_fixture_shaped_payload(db_session: Session) -> None:
    store(db_session, details_payload())
    assert reconstruct_payload(db_session, FICHE_ID) == details_payload()


def test_round_trip_of_the_real_payload(db_session: Session) -> None:
    real = shared_fixture("fiche-by-id.example.json")
    result = store(db_session, real, fiche_id=real["information"]["fiche_id"])
    assert result.recordings == 14
    assert sorted_calls(reconstruct_payload(db_session, "1000001")) == sorted_calls(real)
    row = fiche(db_session, "1000001")
    assert (row.groupe, row.agence_nom, row.attribution_user_id, row.recordings_count) == (
        "NCA R3",
        "3-NCAR3",
        "107",
        14,
    )
    naive = db_session.scalars(select(Recording).where(Recording.call_id == "12462739620089132549")).one()
    assert naive.start_time_offset_assumed
    assert (naive.recording_date, naive.recording_time) == (dt.date(2025, 10, 18), "19:15")


def test_round_trip_of_the_real_sales_list(db_session: Session) -> None:
    real = shared_fixture("sales-with-calls.example.json")
    result = upsert_sales_summaries(db_session, parse_sales_page(real), dt.date(2025, 9, 25), NOW)
    assert (result.fiches, result.created, result.recordings) == (2, 2, 1)
    for record in real["fiches"]:
        row = fiche(db_session, record["id"])
        assert row.raw_data == {key: value for key, value in record.items() if key != "recordings"}
        calls = db_session.execute(select(Recording.__table__).where(Recording.fiche_id == record["id"])).mappings()
        assert [recording_payload(dict(call)) for call in calls] == record["recordings"]
    first = fiche(db_session, "1000001")
    assert (first.prospect_nom, first.fetch_status, first.recordings_count) == ("ROUX", "summary", 1)
    call = db_session.scalars(select(Recording).where(Recording.fiche_id == "1000001")).one()
    assert (call.from_number, call.recording_time) == ("+33 6 40 58 45 84", "17:45")


# --- idempotence --------------------------------------------------------------------------------


def test_storing_twice_creates_no_duplicates(db_session: Session) -> None:
    store(db_session, details_payload())
    once = counts(db_session)
    assert once == {
        "fiches": 1,
        "fiche_information": 1,
        "fiche_prospects": 1,
        "fiche_subscriptions": 1,
        "fiche_comments": 2,
        "fiche_tags": 2,
        "recordings": 3,
    }
    store(db_session, details_payload())
    page = parse_sales_page(sales_payload())
    upsert_sales_summaries(db_session, page, DAY, NOW)
    twice = counts(db_session)
    upsert_sales_summaries(db_session, page, DAY, NOW)
    assert counts(db_session) == twice == once | {"fiches": 2}
    assert reconstruct_payload(db_session, FICHE_ID) == details_payload()


def test_sections_are_replaced_wholesale(db_session: Session) -> None:
    store(db_session, details_payload())
    payload = details_payload()
    payload["commentaires"] = payload["commentaires"][:1]
    payload["information"]["etiquettes"] = []
    payload["prospect"] = None
    store(db_session, payload)
    assert db_session.scalar(select(func.count()).select_from(FicheComment)) == 1
    assert db_session.scalar(select(func.count()).select_from(FicheTag)) == 0
    assert db_session.scalar(select(func.count()).select_from(FicheProspect)) == 0
    assert reconstruct_payload(db_session, FICHE_ID) == payload


# --- sales lists ------------------------------------------------------------------------------


def test_sales_list_inserts_summaries(db_session: Session) -> None:
    result = upsert_sales_summaries(db_session, parse_sales_page(sales_payload()), DAY, NOW)
    assert (result.fiches, result.created, result.recordings) == (2, 2, 1)
    first, second = fiche(db_session), fiche(db_session, "2000002")
    assert (first.fetch_status, first.sales_date, first.sales_date_source) == ("summary", DAY, "sales_search")
    assert (first.prospect_email, first.last_revalidated_at, first.recordings_count) == (
        "client0001@example.org",
        NOW,
        1,
    )
    assert first.raw_data["date_insertion"] == "03/03/2025 00:30"
    assert (second.cle, second.recordings_count, second.groupe) == (None, 0, None)
    assert urls(db_session) == {"12258673469935550001": ""}  # no URL yet: '' means unknown
    with pytest.raises(DetailsNotStored):
        reconstruct_payload(db_session, FICHE_ID)
    decision = decide(load_cache_state(db_session, FICHE_ID), NOW, force=False, policy=POLICY)
    assert (decision.action, decision.reason) == (CacheAction.FETCH, CacheReason.SUMMARY_ONLY)


def test_sales_list_never_overwrites_details(db_session: Session) -> None:
    store(db_session, details_payload())
    before = fiche(db_session)
    raw_before, groupe_before = dict(before.raw_data), before.groupe
    page = sales_payload()
    page["fiches"][0] |= {"nom": "AUTRE", "email": None, "cle": None, "recordings": []}
    upsert_sales_summaries(db_session, parse_sales_page(page), DAY, NOW + dt.timedelta(hours=1))
    after = fiche(db_session)
    assert after.fetch_status == "details"
    assert (after.prospect_nom, after.prospect_email) == ("DURAND", "client0001@example.org")
    assert (after.raw_data, after.groupe, after.agence_nom) == (raw_before, groupe_before, "1-NCAR1")
    assert after.cle == "0123456789abcdef0123456789abcdef"  # a null cle never blanks a known one
    assert (after.sales_date, after.sales_date_source) == (DAY, "sales_search")
    assert after.recordings_count == 3
    assert reconstruct_payload(db_session, FICHE_ID) == details_payload()


def test_a_listed_call_never_blanks_a_known_url(db_session: Session) -> None:
    upsert_sales_summaries(db_session, parse_sales_page(sales_payload()), DAY, NOW)
    assert urls(db_session) == {"12258673469935550001": ""}
    store(db_session, details_payload())
    known = urls(db_session)
    assert all(known.values())
    upsert_sales_summaries(db_session, parse_sales_page(sales_payload()), DAY, NOW)  # lists the call with a null URL
    assert urls(db_session) == known


# --- recordings ---------------------------------------------------------------------------------


def test_calls_removed_upstream_are_deleted_and_urls_never_blanked(db_session: Session) -> None:
    store(db_session, details_payload())
    payload = details_payload()
    removed = payload["recordings"].pop(2)["call_id"]
    payload["recordings"][0]["recording_url"] = None
    payload["recordings"][1]["recording_url"] = payload["recordings"][1]["recording_url"].replace("abc123", "new")
    result = store(db_session, payload)
    assert (result.recordings, result.recordings_removed) == (2, 1)
    stored = urls(db_session)
    assert removed not in stored
    assert stored["12258673469935550001"].endswith("-33612345678-33402917912.mp3")  # kept
    assert stored["12258673469935550002"].endswith("?token=new#t=0")  # a new signed URL wins
    assert fiche(db_session).recordings_count == 2


def test_a_payload_without_calls_removes_them_all_but_no_key_removes_none(db_session: Session) -> None:
    store(db_session, details_payload())
    payload = details_payload()
    del payload["recordings"]
    store(db_session, payload)
    assert len(urls(db_session)) == 3
    payload["recordings"] = []
    assert store(db_session, payload).recordings_removed == 3
    assert urls(db_session) == {}


def test_a_call_without_url_triggers_a_refetch(db_session: Session) -> None:
    payload = details_payload()
    payload["recordings"][2]["recording_url"] = None
    store(db_session, payload)
    state = load_cache_state(db_session, FICHE_ID)
    assert state is not None
    assert (state.recordings_count, state.recording_rows, state.recordings_without_url) == (3, 3, 1)
    decision = decide(state, NOW + dt.timedelta(minutes=1), force=False, policy=POLICY)
    assert decision.reason is CacheReason.RECORDINGS_MISSING_URL
    payload["recordings"][2]["recording_url"] = details_payload()["recordings"][2]["recording_url"]
    store(db_session, payload)
    decision = decide(load_cache_state(db_session, FICHE_ID), NOW + dt.timedelta(minutes=1), force=True, policy=POLICY)
    assert decision.action is CacheAction.COOLDOWN


# --- the sales day --------------------------------------------------------------------------------


def test_sales_day_rule_across_write_paths(db_session: Session) -> None:
    store(db_session, details_payload())  # ad hoc: the insertion day in Paris (00:30 on 3 March)
    row = fiche(db_session)
    assert (row.sales_date, row.sales_date_source) == (dt.date(2025, 3, 3), "date_insertion")
    upsert_sales_summaries(db_session, parse_sales_page(sales_payload()), DAY, NOW)
    assert (fiche(db_session).sales_date, fiche(db_session).sales_date_source) == (DAY, "sales_search")
    assert store(db_session, details_payload()).sales_date == DAY  # a details write never moves it
    store(db_session, details_payload(), sales_day_hint=DAY + dt.timedelta(days=1))
    assert fiche(db_session).sales_date == DAY  # the earliest listing wins
    upsert_sales_summaries(db_session, parse_sales_page(sales_payload()), DAY - dt.timedelta(days=1), NOW)
    assert fiche(db_session).sales_date == DAY - dt.timedelta(days=1)


def test_a_details_write_with_a_hint_counts_as_a_listing(db_session: Session) -> None:
    assert store(db_session, details_payload(), sales_day_hint=DAY).sales_date == DAY
    assert fiche(db_session).sales_date_source == "sales_search"


# --- outcomes without details ---------------------------------------------------------------------


def test_not_found_marker(db_session: Session) -> None:
    mark_not_found(db_session, "404404", "CRM answered 404", NOW, POLICY.not_found_ttl)
    row = fiche(db_session, "404404")
    assert (row.fetch_status, row.fetch_error, row.expires_at) == (
        "not_found",
        "CRM answered 404",
        NOW + POLICY.not_found_ttl,
    )
    assert row.raw_data == {}
    state = load_cache_state(db_session, "404404")
    assert (
        decide(state, NOW + dt.timedelta(minutes=1), force=False, policy=POLICY).action is CacheAction.NOT_FOUND_CACHED
    )
    assert decide(state, NOW + dt.timedelta(minutes=6), force=False, policy=POLICY).reason is CacheReason.EXPIRED
    assert not has_fallback_details(state)
    with pytest.raises(DetailsNotStored, match="status not_found"):
        reconstruct_payload(db_session, "404404")
    mark_not_found(db_session, "404404", "CRM answered 404", NOW, POLICY.not_found_ttl)
    assert counts(db_session)["fiches"] == 1


def test_a_listing_keeps_the_not_found_marker_until_its_ttl(db_session: Session) -> None:
    mark_not_found(db_session, FICHE_ID, "CRM answered 404", NOW, POLICY.not_found_ttl)
    upsert_sales_summaries(db_session, parse_sales_page(sales_payload()), DAY, NOW)
    assert fiche(db_session).fetch_status == "not_found"
    state = load_cache_state(db_session, FICHE_ID)
    assert decide(state, NOW, force=False, policy=POLICY).action is CacheAction.NOT_FOUND_CACHED
    later = NOW + POLICY.not_found_ttl + dt.timedelta(seconds=1)
    assert decide(state, later, force=False, policy=POLICY).fetch


def test_failure_keeps_previous_details(db_session: Session) -> None:
    store(db_session, details_payload())
    later = NOW + dt.timedelta(days=11)
    mark_failed(db_session, FICHE_ID, "EXTERNAL_API_ERROR: 502", later)
    mark_failed(db_session, FICHE_ID, "EXTERNAL_API_ERROR: 503", later)
    row = fiche(db_session)
    assert (row.fetch_status, row.fetch_error, row.fetch_error_at, row.fetch_attempts) == (
        "details",
        "EXTERNAL_API_ERROR: 503",
        later,
        2,
    )
    assert row.fetched_at == NOW
    state = load_cache_state(db_session, FICHE_ID)
    assert decide(state, later, force=False, policy=POLICY).reason is CacheReason.EXPIRED
    assert has_fallback_details(state)  # stale details are served while the CRM fails
    assert reconstruct_payload(db_session, FICHE_ID) == details_payload()
    store(db_session, details_payload())
    row = fiche(db_session)
    assert (row.fetch_error, row.fetch_error_at, row.fetch_attempts) == (None, None, 0)


def test_failure_without_details(db_session: Session) -> None:
    mark_failed(db_session, "500500", "timeout", NOW)
    row = fiche(db_session, "500500")
    assert (row.fetch_status, row.fetch_attempts) == ("failed", 1)
    assert decide(load_cache_state(db_session, "500500"), NOW, force=False, policy=POLICY).reason is (
        CacheReason.PREVIOUS_FAILURE
    )


def test_a_payload_for_another_fiche_is_refused(db_session: Session) -> None:
    with pytest.raises(CrmPayloadError, match=r"information\.fiche_id"):
        store(db_session, details_payload(), fiche_id="999")


def test_an_upstream_failure_is_not_stored_as_details(db_session: Session) -> None:
    store(db_session, details_payload())
    with pytest.raises(CrmPayloadError, match=r"^success: the gateway reported a failure: 'Erreur CRM'"):
        store(db_session, {"success": False, "message": "Erreur CRM"})
    assert reconstruct_payload(db_session, FICHE_ID) == details_payload()


# --- day coverage ---------------------------------------------------------------------------------


def test_zero_sale_day_is_covered(db_session: Session) -> None:
    assert upsert_sales_summaries(db_session, parse_sales_page({"fiches": [], "total": 0}), DAY, NOW).fiches == 0
    record_day_coverage(db_session, DAY, DayCoverageStatus.FETCHED, 0, None, NOW)
    record_day_coverage(db_session, DAY, DayCoverageStatus.FETCHED, 0, None, NOW)
    row = db_session.get_one(SalesDayCoverage, DAY)
    assert (row.status, row.fiche_count, row.error, row.fetched_at) == ("fetched", 0, None, NOW)


def test_a_failed_search_never_erases_a_success(db_session: Session) -> None:
    record_day_coverage(db_session, DAY, DayCoverageStatus.FAILED, 0, "502", NOW)
    assert db_session.get_one(SalesDayCoverage, DAY).status == "failed"
    record_day_coverage(db_session, DAY, DayCoverageStatus.FETCHED, 12, None, NOW)
    later = NOW + dt.timedelta(hours=1)
    record_day_coverage(db_session, DAY, DayCoverageStatus.FAILED, 0, "timeout", later)
    db_session.expire_all()
    row = db_session.get_one(SalesDayCoverage, DAY)
    assert (row.status, row.fiche_count, row.error, row.fetched_at) == ("fetched", 12, "timeout", NOW)
    record_day_coverage(db_session, DAY, DayCoverageStatus.FETCHED, 13, None, later)
    db_session.expire_all()
    assert (row.status, row.fiche_count, row.error) == ("fetched", 13, None)


# --- deletion ---------------------------------------------------------------------------------------


def test_sections_go_with_their_fiche(db_session: Session) -> None:
    store(db_session, details_payload())
    db_session.execute(delete(Fiche).where(Fiche.fiche_id == FICHE_ID))
    assert set(counts(db_session).values()) == {0}
