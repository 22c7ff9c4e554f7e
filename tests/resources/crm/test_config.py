"""Pure pieces of the CRM client: base URL and token handling, Retry-After, back-off, config, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from pydantic import SecretStr, ValidationError

from resources.crm import CrmConfig, CrmMetrics, CrmNotFound, CrmUnavailable, authorization_header, normalise_base_url
from resources.crm.config import resource_path
from resources.http.retry import DecorrelatedJitter, parse_retry_after


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://gw.example", "https://gw.example/api"),
        ("https://gw.example/", "https://gw.example/api"),
        ("https://gw.example/api", "https://gw.example/api"),
        ("https://gw.example/api/", "https://gw.example/api"),
        ("https://gw.example/api/api/", "https://gw.example/api"),
        ("  http://10.0.0.5:8080//api//  ", "http://10.0.0.5:8080/api"),
        ("https://gw.example/crm", "https://gw.example/crm/api"),
        ("https://gw.example/crm/api", "https://gw.example/crm/api"),
        ("https://gw.example/apis", "https://gw.example/apis/api"),
    ],
)
def test_base_url_ends_with_exactly_one_api(given, expected):
    assert normalise_base_url(given) == expected


@pytest.mark.parametrize(
    "url",
    [
        "ftp://gw.example",
        "gw.example/api",
        "https://user:hunter2@gw.example",
        "https://gw.example/api?token=hunter2",
        "https://gw.example/api#hunter2",
    ],
)
def test_bad_base_urls_are_refused_without_echoing_them(url):
    with pytest.raises(ValueError, match="CRM base URL") as caught:
        normalise_base_url(url)
    assert "hunter2" not in str(caught.value)
    assert "gw.example" not in str(caught.value)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/fiches/by-id/1", "/fiches/by-id/1"),
        ("fiches/by-id/1", "/fiches/by-id/1"),
        ("/api/fiches/by-id/1", "/fiches/by-id/1"),
        ("api/utilisateurs", "/utilisateurs"),
        ("/apiary", "/apiary"),
    ],
)
def test_resource_paths_lose_an_accidental_api_prefix(given, expected):
    assert resource_path(given) == expected


@pytest.mark.parametrize(
    ("token", "header"),
    [
        ("abc.def", "Bearer abc.def"),
        ("Bearer abc.def", "Bearer abc.def"),
        ("bearer   abc.def ", "Bearer abc.def"),
        (SecretStr("BEARER abc.def"), "Bearer abc.def"),
        (None, None),
        ("", None),
        ("   ", None),
        ("Bearer ", None),
    ],
)
def test_bearer_formatting(token, header):
    assert authorization_header(token) == header


def test_token_that_cannot_be_a_header_is_refused_without_echo():
    with pytest.raises(ValueError, match="not allowed") as caught:
        authorization_header("hunter2\r\nX-Evil: 1")
    assert "hunter2" not in str(caught.value)


def test_retry_after_seconds_and_http_dates():
    now = datetime(2026, 1, 5, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7", now=now) == 7
    assert parse_retry_after(" 1.5 ", now=now) == 1.5
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0
    assert parse_retry_after("-3", now=now) == 0
    for unreadable in (None, "", "soon", "inf", "nan"):
        assert parse_retry_after(unreadable, now=now) is None


def test_decorrelated_jitter_stays_between_base_and_cap():
    delays = DecorrelatedJitter(1.0, 15.0)
    seen = [delays.next_delay() for _ in range(200)]
    assert all(1.0 <= d <= 15.0 for d in seen)
    assert max(seen) == 15.0  # grows to the cap
    assert seen[0] <= 3.0  # first retry waits base..3 x base


def test_config_is_checked():
    with pytest.raises(ValidationError, match="not_found_attempts"):
        CrmConfig(max_attempts=2, not_found_attempts=3)
    with pytest.raises(ValidationError):
        CrmConfig(fetch_concurrency=0)
    with pytest.raises(ValidationError, match="backoff_cap"):
        CrmConfig(backoff_base=2, backoff_cap=1)


def test_metrics_as_dagster_metadata():
    metrics = CrmMetrics(requests=3, retries=2, request_seconds=1.23456)
    assert metrics.as_metadata() == {
        "crm_requests": 3,
        "crm_retries": 2,
        "crm_throttled": 0,
        "crm_cooldown_waits": 0,
        "crm_cooldown_seconds": 0.0,
        "crm_slot_wait_seconds": 0.0,
        "crm_request_seconds": 1.235,
    }


def test_errors_name_method_and_path_only():
    error = CrmUnavailable(
        "HTTP 503 with Authorization: Bearer hunter2hunter2",
        method="GET",
        path="/fiches/sales-with-calls?start_date=2025-01-01&token=hunter2",
        status=503,
        attempts=4,
        retry_after=2.0,
    )
    for text in (str(error), repr(error)):
        assert "hunter2" not in text
        assert "start_date" not in text
        assert "GET /fiches/sales-with-calls" in text
    assert error.retry_after == 2.0
    assert repr(CrmNotFound("HTTP 404", method="GET", path="/x", status=404, attempts=3)) == (
        "CrmNotFound('CRM GET /x: HTTP 404', status=404, attempts=3)"
    )
