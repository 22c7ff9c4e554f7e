"""Recording metadata from the telephony CDN's file names (§3.9), and the URL merge rule.

File names look like `<uuid>-DD-MM-YY-HHhMM-<from digits>-<to digits>.mp3` (or `.wav`); their
clock is UTC (it matches the `+00:00` `start_time` of every call in the real payloads), so the
fallback derives the same date/time from `start_time` in UTC, keeping one clock for both sources.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

_FILE_NAME = re.compile(
    r"(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"-(?P<day>\d{2})-(?P<month>\d{2})-(?P<year>\d{2})-(?P<hour>\d{2})h(?P<minute>\d{2})"
    r"-(?P<from_number>\d+)-(?P<to_number>\d+)\.(?:mp3|wav)",
    re.IGNORECASE,
)
_FRENCH_DIGITS = re.compile(r"33(\d)(\d{2})(\d{2})(\d{2})(\d{2})")
_FRENCH_FORMATTED = re.compile(r"\+33 (\d) (\d{2}) (\d{2}) (\d{2}) (\d{2})")


@dataclass(frozen=True)
class RecordingFileName:
    """What a CDN file name says about its call: UTC date and `HH:MM`, uuid and raw digits."""

    uuid: str
    recorded_on: dt.date
    recorded_at: str
    from_number: str
    to_number: str


def parse_recording_file_name(url: str | None) -> RecordingFileName | None:
    """The metadata in the URL's last path segment (query string and fragment ignored), if it
    has the CDN pattern and a real date/time; None otherwise, so callers fall back."""
    if not url:
        return None
    name = urlsplit(url.strip()).path.rsplit("/", 1)[-1]
    match = _FILE_NAME.fullmatch(name)
    if match is None:
        return None
    hour, minute = int(match["hour"]), int(match["minute"])
    try:
        recorded_on = dt.date(2000 + int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError:
        return None
    if hour > 23 or minute > 59:
        return None
    return RecordingFileName(
        uuid=match["uuid"].lower(),
        recorded_on=recorded_on,
        recorded_at=f"{hour:02d}:{minute:02d}",
        from_number=match["from_number"],
        to_number=match["to_number"],
    )


def format_french_number(number: str | None) -> str | None:
    """`33XXXXXXXXX` -> `+33 X XX XX XX XX`; any other value is returned unchanged."""
    if number is None:
        return None
    match = _FRENCH_DIGITS.fullmatch(number)
    return "+33 {} {} {} {} {}".format(*match.groups()) if match else number


def unformat_french_number(number: str | None) -> str | None:
    """Exact inverse of `format_french_number` (so stored numbers give back the gateway's digits)."""
    if number is None:
        return None
    match = _FRENCH_FORMATTED.fullmatch(number)
    return "33" + "".join(match.groups()) if match else number


@dataclass(frozen=True)
class RecordingMetadata:
    """The `recordings` columns derived from a call: UTC date/time, uuid, display-formatted numbers."""

    recording_date: dt.date | None
    recording_time: str | None
    uuid: str | None
    from_number: str | None
    to_number: str | None


def recording_metadata(
    url: str | None, start_time: dt.datetime | None, from_number: str | None, to_number: str | None
) -> RecordingMetadata:
    """File name first; else the date/time of `start_time` in UTC. The gateway's own from/to
    fields win over the file name's digits (they are the structured data; the name is a copy)."""
    parsed = parse_recording_file_name(url)
    if parsed is not None:
        return RecordingMetadata(
            recording_date=parsed.recorded_on,
            recording_time=parsed.recorded_at,
            uuid=parsed.uuid,
            from_number=format_french_number(from_number or parsed.from_number),
            to_number=format_french_number(to_number or parsed.to_number),
        )
    utc = start_time.astimezone(dt.UTC) if start_time is not None else None
    return RecordingMetadata(
        recording_date=utc.date() if utc else None,
        recording_time=utc.strftime("%H:%M") if utc else None,
        uuid=None,
        from_number=format_french_number(from_number),
        to_number=format_french_number(to_number),
    )


def merge_recording_url(existing: str, incoming: str | None) -> str:
    """A known URL is never replaced by an unknown one ('' / null); a new non-empty URL wins
    (signed URLs are re-issued). `store` applies the same rule in SQL for concurrent writers."""
    incoming = (incoming or "").strip()
    return incoming or existing
