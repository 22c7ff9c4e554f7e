"""Due times on a frozen clock: DST in Europe/Paris, month ends, dom/dow combinations, catch-up window."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from domain.models.automation import ScheduleType
from domain.schedules.timing import Timing, TimingError, cron_of, due_times, is_stale, next_due_times, plan_tick

PARIS = ZoneInfo("Europe/Paris")
UTC = dt.UTC


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=UTC)


def paris(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=PARIS)


def daily(at: str) -> Timing:
    return Timing(ScheduleType.DAILY, time_of_day=at)


def test_simple_types_generate_their_cron() -> None:
    assert cron_of(daily("07:05")) == "5 7 * * *"
    assert cron_of(Timing(ScheduleType.WEEKLY, time_of_day="18:30", day_of_week=1)) == "30 18 * * 1"
    assert cron_of(Timing(ScheduleType.MONTHLY, time_of_day="06:00", day_of_month=15)) == "0 6 15 * *"
    assert cron_of(Timing(ScheduleType.CRON, cron_expression="0  7 * *   1-5")) == "0 7 * * 1-5"
    assert cron_of(Timing(ScheduleType.MANUAL)) is None


@pytest.mark.parametrize(
    ("timing", "field"),
    [
        (Timing(ScheduleType.DAILY), "timeOfDay"),
        (Timing(ScheduleType.DAILY, time_of_day="24:00"), "timeOfDay"),
        (Timing(ScheduleType.WEEKLY, time_of_day="07:00"), "dayOfWeek"),
        (Timing(ScheduleType.MONTHLY, time_of_day="07:00"), "dayOfMonth"),
        (Timing(ScheduleType.CRON), "cronExpression"),
        (Timing(ScheduleType.CRON, cron_expression="61 * * * *"), "cronExpression"),
        (Timing(ScheduleType.CRON, cron_expression="* * * *"), "cronExpression"),
    ],
)
def test_missing_or_invalid_timing_names_its_field(timing: Timing, field: str) -> None:
    with pytest.raises(TimingError) as error:
        cron_of(timing)
    assert error.value.field == field
    assert error.value.message.startswith(f"{field} ")  # what the API answers, rendered as an `invalid` error


def test_daily_at_a_wall_time_that_does_not_exist_runs_one_hour_later_on_the_clock() -> None:
    # 29 March 2026, Europe/Paris: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
    dues = due_times(daily("02:30"), PARIS, after=utc(2026, 3, 27, 12), until=utc(2026, 3, 31, 12))
    assert [d.astimezone(PARIS).strftime("%d %H:%M %Z") for d in dues] == [
        "28 02:30 CET",
        "29 03:30 CEST",
        "30 02:30 CEST",
        "31 02:30 CEST",
    ]


def test_daily_at_a_repeated_wall_time_runs_once_at_its_first_occurrence() -> None:
    # 25 October 2026, Europe/Paris: 03:00 CEST falls back to 02:00 CET; 02:30 happens twice.
    dues = due_times(daily("02:30"), PARIS, after=utc(2026, 10, 24, 12), until=utc(2026, 10, 26, 12))
    assert dues == [
        paris(2026, 10, 25, 2, 30).replace(fold=0).astimezone(UTC),
        paris(2026, 10, 26, 2, 30).astimezone(UTC),
    ]
    assert dues[0] == utc(2026, 10, 25, 0, 30)  # the CEST occurrence, not 01:30 UTC


def test_every_15_minutes_across_spring_forward_never_repeats_an_instant() -> None:
    timing = Timing(ScheduleType.CRON, cron_expression="*/15 * * * *")
    dues = due_times(timing, PARIS, after=utc(2026, 3, 29, 0, 30), until=utc(2026, 3, 29, 2, 30))
    assert dues == sorted(set(dues))
    assert dues == [utc(2026, 3, 29, 0, 30) + dt.timedelta(minutes=15 * i) for i in range(1, 9)]


def test_every_15_minutes_across_fall_back_runs_the_repeated_hour_once() -> None:
    timing = Timing(ScheduleType.CRON, cron_expression="*/15 * * * *")
    dues = due_times(timing, PARIS, after=utc(2026, 10, 24, 23, 45), until=utc(2026, 10, 25, 2, 0))
    walls = [d.astimezone(PARIS).strftime("%H:%M %Z") for d in dues]
    assert walls.count("02:15 CEST") == 1
    assert "02:15 CET" not in walls
    assert dues == sorted(set(dues))


def test_weekdays_at_seven_paris_time_follow_the_local_clock_across_dst() -> None:
    timing = Timing(ScheduleType.CRON, cron_expression="0 7 * * 1-5")
    dues = due_times(timing, PARIS, after=utc(2026, 3, 26), until=utc(2026, 4, 1, 12))
    assert [d.astimezone(PARIS).strftime("%a %H:%M") for d in dues] == [
        "Thu 07:00",
        "Fri 07:00",
        "Mon 07:00",
        "Tue 07:00",
        "Wed 07:00",
    ]
    assert dues[1] == utc(2026, 3, 27, 6)
    assert dues[2] == utc(2026, 3, 30, 5)


@pytest.mark.parametrize(
    ("day_of_month", "expected"),
    [
        (31, ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]),
        (30, ["2026-01-30", "2026-02-28", "2026-03-30", "2026-04-30", "2026-05-30"]),
        (29, ["2026-01-29", "2026-02-28", "2026-03-29", "2026-04-29", "2026-05-29"]),
        (15, ["2026-01-15", "2026-02-15", "2026-03-15", "2026-04-15", "2026-05-15"]),
    ],
)
def test_monthly_days_29_to_31_run_on_the_last_day_of_shorter_months(day_of_month: int, expected: list[str]) -> None:
    timing = Timing(ScheduleType.MONTHLY, time_of_day="06:00", day_of_month=day_of_month)
    dues = next_due_times(timing, PARIS, after=utc(2026, 1, 1), count=5)
    assert [d.astimezone(PARIS).date().isoformat() for d in dues] == expected


def test_monthly_29_in_a_leap_february() -> None:
    timing = Timing(ScheduleType.MONTHLY, time_of_day="06:00", day_of_month=31)
    assert next_due_times(timing, UTC, after=utc(2028, 2, 1), count=1) == [utc(2028, 2, 29, 6)]


def test_day_of_month_and_day_of_week_together_match_either() -> None:
    # Vixie cron: both restricted -> the 1st of the month OR every Monday.
    timing = Timing(ScheduleType.CRON, cron_expression="0 9 1 * 1")
    dues = next_due_times(timing, UTC, after=utc(2026, 5, 28), count=4)
    assert [d.date().isoformat() for d in dues] == ["2026-06-01", "2026-06-08", "2026-06-15", "2026-06-22"]
    dues = next_due_times(timing, UTC, after=utc(2026, 6, 23), count=3)
    assert [d.date().isoformat() for d in dues] == ["2026-06-29", "2026-07-01", "2026-07-06"]


def test_weekly_on_sunday() -> None:
    timing = Timing(ScheduleType.WEEKLY, time_of_day="22:00", day_of_week=0)
    dues = next_due_times(timing, PARIS, after=utc(2026, 6, 1), count=2)
    assert [d.astimezone(PARIS).strftime("%a %d %H:%M") for d in dues] == ["Sun 07 22:00", "Sun 14 22:00"]


def test_the_tick_runs_a_due_time_inside_the_window() -> None:
    plan = plan_tick(daily("07:00"), PARIS, since=utc(2026, 6, 1, 6), now=utc(2026, 6, 2, 5, 12),
                     window=dt.timedelta(minutes=20))  # fmt: skip
    assert plan.run_at == utc(2026, 6, 2, 5)
    assert plan.missed == ()


def test_the_tick_does_nothing_before_the_due_time_and_nothing_twice() -> None:
    window = dt.timedelta(minutes=20)
    assert (
        plan_tick(daily("07:00"), PARIS, since=utc(2026, 6, 1, 6), now=utc(2026, 6, 2, 4, 59), window=window).run_at
        is None
    )
    handled = plan_tick(daily("07:00"), PARIS, since=utc(2026, 6, 2, 5), now=utc(2026, 6, 2, 5, 1), window=window)
    assert handled.run_at is None
    assert handled.missed == ()


def test_a_daemon_down_longer_than_the_window_records_the_due_times_as_missed() -> None:
    # Down from Monday 06:50 to Wednesday 07:30 Paris time, window 20 minutes.
    plan = plan_tick(daily("07:00"), PARIS, since=utc(2026, 6, 1, 4), now=utc(2026, 6, 3, 5, 30),
                     window=dt.timedelta(minutes=20))  # fmt: skip
    assert plan.run_at is None
    assert plan.missed == (utc(2026, 6, 1, 5), utc(2026, 6, 2, 5), utc(2026, 6, 3, 5))


def test_catch_up_runs_the_latest_due_time_and_misses_the_older_ones() -> None:
    timing = Timing(ScheduleType.CRON, cron_expression="*/5 * * * *")
    plan = plan_tick(timing, UTC, since=utc(2026, 6, 1, 8), now=utc(2026, 6, 1, 8, 17), window=dt.timedelta(minutes=20))
    assert plan.run_at == utc(2026, 6, 1, 8, 15)
    assert plan.missed == (utc(2026, 6, 1, 8, 5), utc(2026, 6, 1, 8, 10))


def test_manual_schedules_are_never_due() -> None:
    plan = plan_tick(
        Timing(ScheduleType.MANUAL), UTC, since=utc(2026, 1, 1), now=utc(2026, 6, 1), window=dt.timedelta(hours=1)
    )
    assert plan.run_at is None
    assert plan.missed == ()


def test_staleness_adds_the_grace_to_the_threshold() -> None:
    started = utc(2026, 6, 1, 8)
    threshold, grace = dt.timedelta(hours=5), dt.timedelta(minutes=30)
    assert not is_stale(started, utc(2026, 6, 1, 13, 29), threshold=threshold, grace=grace)
    assert is_stale(started, utc(2026, 6, 1, 13, 30), threshold=threshold, grace=grace)
