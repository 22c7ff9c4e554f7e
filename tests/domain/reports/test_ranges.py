"""Byte ranges of the recordings the report plays."""

from __future__ import annotations

import pytest

from domain.reports.ranges import UnsatisfiableRange, is_single_range, parse_range


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=900-5000", (900, 999)),  # clamped to the file
        ("bytes=-100", (900, 999)),  # the last 100 bytes
        ("bytes=-5000", (0, 999)),
        ("bytes=0-1,5-6", None),  # several ranges: the whole file
        ("items=0-1", None),
        ("bytes=50-10", None),
        ("bytes=-", None),
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=2000-3000", "bytes=-0"])
def test_unsatisfiable(header: str) -> None:
    with pytest.raises(UnsatisfiableRange):
        parse_range(header, 1000)


def test_only_single_ranges_are_forwarded() -> None:
    assert is_single_range("bytes=0-1")
    assert is_single_range(" bytes=-10 ")
    assert not is_single_range("bytes=0-1,3-4")
    assert not is_single_range("bytes=-")
    assert not is_single_range("bytes=0-1\r\nX-Injected: 1")
    assert not is_single_range(None)
