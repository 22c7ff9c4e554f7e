"""Fiche selection of automation runs (reference §9.3): date presets and the screens, pure."""

from __future__ import annotations

import datetime as dt

import pytest

from domain.schedules.selection import (
    Candidate,
    DateRange,
    FicheSelection,
    effective_max_recordings,
    scorecards_to_run,
    screen_after_details,
    screen_before_details,
    selection_days,
    split_ids,
)

TODAY = dt.date(2026, 3, 31)


def days(selection: FicheSelection, today: dt.date = TODAY) -> list[str]:
    return [d.isoformat() for d in selection_days(selection, today)]


def test_presets() -> None:
    assert days(FicheSelection(date_range=DateRange.LAST_24H)) == ["2026-03-30", "2026-03-31"]
    assert days(FicheSelection(date_range=DateRange.YESTERDAY)) == ["2026-03-30"]
    assert len(days(FicheSelection(date_range=DateRange.LAST_WEEK))) == 8
    assert days(FicheSelection(date_range=DateRange.LAST_MONTH))[0] == "2026-02-28"  # 31 March -> 28 February
    assert days(FicheSelection()) == []


def test_custom_ranges_are_clamped_to_today() -> None:
    custom = FicheSelection(date_range=DateRange.CUSTOM, custom_start_date=dt.date(2026, 3, 30))
    assert days(custom) == ["2026-03-30"]  # start only: that day
    wide = FicheSelection(
        date_range=DateRange.CUSTOM, custom_start_date=dt.date(2026, 3, 30), custom_end_date=dt.date(2026, 4, 5)
    )
    assert days(wide) == ["2026-03-30", "2026-03-31"]
    future = FicheSelection(date_range=DateRange.CUSTOM, custom_start_date=dt.date(2026, 4, 2))
    assert days(future) == []


def test_manual_ids_are_split_trimmed_and_deduplicated() -> None:
    assert split_ids(["123, 456\n789", " 123 ", ""]) == ("123", "456", "789")


@pytest.mark.parametrize(
    ("candidate", "reason"),
    [
        (Candidate("F", groupe="NCA R1", crm_group_id="4"), None),
        (Candidate("F", crm_group_id="4"), None),  # matched by the schedule's resolved group id
        (Candidate("F", groupe="LDV Lyon", crm_group_id="9"), "groupe not selected (LDV Lyon)"),
        (Candidate("F"), None),  # unknown until details
    ],
)
def test_groupes_before_details(candidate: Candidate, reason: str | None) -> None:
    selection = FicheSelection(groupes=("NCA R1",))
    assert screen_before_details(candidate, selection, scope_group_ids=["4"], scorecards=[1]) == reason


def test_groupes_unknown_after_details_are_ignored() -> None:
    selection = FicheSelection(groupes=("NCA R1",))
    reason = screen_after_details(Candidate("F", recordings=2), selection, scope_group_ids=[], max_recordings=None)
    assert reason == "groupe unknown after details"


def test_only_unaudited_is_per_scorecard() -> None:
    selection = FicheSelection(only_unaudited=True)
    half = Candidate("F", audited_with=frozenset({1}))
    assert screen_before_details(half, selection, scope_group_ids=[], scorecards=[1, 2]) is None
    assert scorecards_to_run(half, selection, [1, 2]) == [2]
    done = Candidate("F", audited_with=frozenset({1, 2}))
    reason = screen_before_details(done, selection, scope_group_ids=[], scorecards=[1, 2])
    assert reason == "already audited with every selected scorecard"
    assert scorecards_to_run(done, FicheSelection(), [1, 2]) == [1, 2]


def test_max_recordings_has_no_hard_cap() -> None:
    assert effective_max_recordings(FicheSelection(max_recordings_per_fiche=500), 50) == 500
    assert effective_max_recordings(FicheSelection(), 80) == 80
    big = Candidate("F", recordings=120)
    assert screen_after_details(big, FicheSelection(), scope_group_ids=[], max_recordings=500) is None
    assert screen_after_details(big, FicheSelection(), scope_group_ids=[], max_recordings=100) == (
        "too many recordings (120 > 100)"
    )
