"""HTTP byte ranges (RFC 9110 §14) for the recordings the report plays: one range per request,
which is what browsers' media elements ask for."""

from __future__ import annotations

import re

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class UnsatisfiableRange(ValueError):
    """The range starts past the end of the file (a 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) bytes asked for, or None to send the whole file (no header, or one
    we do not serve: several ranges, another unit, bad syntax; the RFC lets a server ignore those)."""
    match = _RANGE.fullmatch((header or "").strip())
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if not first:  # a suffix: the last N bytes
        length = int(last)
        if length == 0:
            raise UnsatisfiableRange(header)
        return max(0, size - length), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size:
        raise UnsatisfiableRange(header)
    if end < start:
        return None
    return start, end


def is_single_range(header: str | None) -> bool:
    """Whether the header is one byte range, safe to forward to the CRM as it is."""
    match = _RANGE.fullmatch((header or "").strip())
    return match is not None and match.groups() != ("", "")
