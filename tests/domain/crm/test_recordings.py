"""Recording file names (§3.9): metadata from the CDN name, fallback to `start_time`, URL merge rule."""

from __future__ import annotations

import datetime as dt

import pytest

from domain.crm.recordings import (
    RecordingFileName,
    format_french_number,
    merge_recording_url,
    parse_recording_file_name,
    recording_metadata,
    unformat_french_number,
)

NAME = "00000000-0000-4000-8000-00000000000a-13-10-25-14h41-33640584584-33402917912"
PARSED = RecordingFileName(
    uuid="00000000-0000-4000-8000-00000000000a",
    recorded_on=dt.date(2025, 10, 13),
    recorded_at="14:41",
    from_number="33640584584",
    to_number="33402917912",
)


@pytest.mark.parametrize(
    "url",
    [
        f"https://cdn.ringover.com/records/1000-2000/{NAME}.mp3",
        f"https://cdn.ringover.com/records/1000-2000/{NAME}.mp3?Expires=1700000000&Signature=abc%2Fdef",
        f"https://cdn.ringover.com/records/1000-2000/{NAME}.mp3#t=10",
        f"https://cdn.ringover.com/records/1000-2000/{NAME}.mp3?token=x#frag",
        f"http://127.0.0.1:8090/records/acct/{NAME}.WAV",
        f"  https://cdn.ringover.com/{NAME.upper()}.mp3  ",
    ],
)
def test_file_name_is_parsed_plain_or_signed(url: str) -> None:
    assert parse_recording_file_name(url) == PARSED


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "https://cdn.ringover.com/records/1000-2000/recording.mp3",
        f"https://cdn.ringover.com/records/1000-2000/{NAME}.ogg",
        f"https://cdn.ringover.com/records/1000-2000/{NAME}.mp3/extra",
        "https://cdn.ringover.com/00000000-0000-4000-8000-00000000000a-31-02-25-14h41-336-334.mp3",  # 31 Feb
        "https://cdn.ringover.com/00000000-0000-4000-8000-00000000000a-13-10-25-25h41-336-334.mp3",  # 25h
    ],
)
def test_non_matching_names_give_none(url: str | None) -> None:
    assert parse_recording_file_name(url) is None


def test_query_string_cannot_fake_a_file_name() -> None:
    assert parse_recording_file_name(f"https://cdn.example.invalid/download?file={NAME}.mp3") is None


def test_metadata_from_the_file_name_prefers_the_gateway_numbers() -> None:
    meta = recording_metadata(f"https://cdn/{NAME}.mp3", None, None, "33102030405")
    assert meta.recording_date == dt.date(2025, 10, 13)
    assert meta.recording_time == "14:41"
    assert meta.uuid == PARSED.uuid
    assert meta.from_number == "+33 6 40 58 45 84"  # from the file name: the gateway sent null
    assert meta.to_number == "+33 1 02 03 04 05"  # the gateway's own field wins


def test_metadata_falls_back_to_start_time_in_utc() -> None:
    start = dt.datetime(2025, 10, 13, 0, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))  # 22:30 UTC the day before
    meta = recording_metadata("https://cdn/unknown.mp3?sig=1", start, "33640584584", "0402917912")
    assert (meta.recording_date, meta.recording_time, meta.uuid) == (dt.date(2025, 10, 12), "22:30", None)
    assert (meta.from_number, meta.to_number) == ("+33 6 40 58 45 84", "0402917912")
    empty = recording_metadata(None, None, None, None)
    assert (empty.recording_date, empty.recording_time, empty.from_number) == (None, None, None)


@pytest.mark.parametrize(
    ("raw", "formatted"),
    [
        ("33640584584", "+33 6 40 58 45 84"),
        ("33402917912", "+33 4 02 91 79 12"),
        ("0640584584", "0640584584"),  # national format: left as is
        ("3364058458", "3364058458"),  # too short
        ("336405845841", "336405845841"),  # too long
        ("4915123456789", "4915123456789"),  # not French
        ("", ""),
        (None, None),
    ],
)
def test_french_numbers_are_formatted_and_reversible(raw: str | None, formatted: str | None) -> None:
    assert format_french_number(raw) == formatted
    assert unformat_french_number(formatted) == raw


@pytest.mark.parametrize(
    ("existing", "incoming", "kept"),
    [
        ("https://cdn/a.mp3", "", "https://cdn/a.mp3"),
        ("https://cdn/a.mp3", None, "https://cdn/a.mp3"),
        ("https://cdn/a.mp3", "  ", "https://cdn/a.mp3"),
        ("https://cdn/a.mp3", "https://cdn/a.mp3?sig=new", "https://cdn/a.mp3?sig=new"),
        ("", "https://cdn/a.mp3", "https://cdn/a.mp3"),
        ("", None, ""),
    ],
)
def test_a_known_url_is_never_blanked(existing: str, incoming: str | None, kept: str) -> None:
    assert merge_recording_url(existing, incoming) == kept
