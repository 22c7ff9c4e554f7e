"""When a schedule is due: cron expressions evaluated by croniter on the schedule's wall clock.

Pure functions of (timing, time zone, instants); the sensor gives them the clock, tests freeze it.

* DAILY / WEEKLY / MONTHLY generate their 5-field cron; CRON uses the user's (croniter syntax,
  day-of-month and day-of-week both restricted → either matches, as Vixie cron); MANUAL has none.
* A MONTHLY `dayOfMonth` of 29-31 runs on the month's last day when the month is shorter (the
  original silently skipped those months).
* Wall times are walked naively in the schedule's time zone, then placed on the time line:
  a wall time that does not exist (spring forward, 02:30 in Europe/Paris) runs at the same offset
  as before the gap, i.e. one hour later on the clock (03:30); a repeated wall time (fall back)
  runs once, at its first occurrence. Two wall times landing on the same instant run once.
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from croniter import croniter

from domain.errors import InvalidError
from domain.models.automation import ScheduleType

#: A wall time never lies more than this far from its instant (the largest DST shift is 2 h).
_SLACK = dt.timedelta(hours=3)


class TimingError(InvalidError, ValueError):
    """A schedule's timing fields do not make a schedule; `field` names the API field at fault (the
    message starts with it, as a client reads it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field} {message}", field=field)


@dataclass(frozen=True)
class Timing:
    schedule_type: ScheduleType
    cron_expression: str | None = None
    time_of_day: str | None = None  # HH:MM
    day_of_week: int | None = None  # 0-6, Sunday = 0
    day_of_month: int | None = None  # 1-31


def parse_time_of_day(value: str) -> tuple[int, int]:
    hours, _, minutes = value.partition(":")
    if len(hours) != 2 or len(minutes) != 2 or not (hours + minutes).isdigit():
        raise TimingError("timeOfDay", "must be HH:MM (24 h)")
    h, m = int(hours), int(minutes)
    if h > 23 or m > 59:
        raise TimingError("timeOfDay", "must be HH:MM (24 h)")
    return h, m


def validate_cron(expression: str) -> str:
    expression = " ".join(expression.split())
    if len(expression.split(" ")) != 5 or not croniter.is_valid(expression):
        raise TimingError("cronExpression", "must be a valid 5-field cron expression (minute hour dom month dow)")
    return expression


def cron_of(timing: Timing) -> str | None:
    """The cron expression a schedule runs on (generated for the simple types), validated.

    `TimingError` names the missing or invalid field; MANUAL schedules have none.
    """
    kind = timing.schedule_type
    if kind is ScheduleType.MANUAL:
        return None
    if kind is ScheduleType.CRON:
        if not timing.cron_expression:
            raise TimingError("cronExpression", "is required for a CRON schedule")
        return validate_cron(timing.cron_expression)
    if not timing.time_of_day:
        raise TimingError("timeOfDay", f"is required for a {kind} schedule")
    hour, minute = parse_time_of_day(timing.time_of_day)
    if kind is ScheduleType.DAILY:
        return f"{minute} {hour} * * *"
    if kind is ScheduleType.WEEKLY:
        if timing.day_of_week is None:
            raise TimingError("dayOfWeek", "is required for a WEEKLY schedule")
        if not 0 <= timing.day_of_week <= 6:
            raise TimingError("dayOfWeek", "must be 0 (Sunday) to 6 (Saturday)")
        return f"{minute} {hour} * * {timing.day_of_week}"
    if timing.day_of_month is None:
        raise TimingError("dayOfMonth", "is required for a MONTHLY schedule")
    if not 1 <= timing.day_of_month <= 31:
        raise TimingError("dayOfMonth", "must be 1 to 31")
    return f"{minute} {hour} {timing.day_of_month} * *"


def _candidates(timing: Timing, cron: str) -> tuple[str, int | None]:
    """The expression croniter walks, and the day of month to clamp to (MONTHLY 29-31)."""
    if timing.schedule_type is ScheduleType.MONTHLY and timing.day_of_month and timing.day_of_month > 28:
        minute, hour, *_ = cron.split(" ")
        return f"{minute} {hour} 28-31 * *", timing.day_of_month
    return cron, None


def _keeps(wall: dt.datetime, clamp: int | None) -> bool:
    if clamp is None:
        return True
    return wall.day == min(clamp, calendar.monthrange(wall.year, wall.month)[1])


def to_instant(wall: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    """A naive wall time on the schedule's clock as a UTC instant (fold 0: see the module docstring)."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)


def _walk(timing: Timing, tz: dt.tzinfo, after: dt.datetime) -> Iterator[dt.datetime]:
    """Due instants strictly after `after`, in order, without duplicates."""
    cron = cron_of(timing)
    if cron is None:
        return
    expression, clamp = _candidates(timing, cron)
    start = after.astimezone(tz).replace(tzinfo=None) - _SLACK
    walker = croniter(expression, start)
    last: dt.datetime | None = None
    while True:
        wall: dt.datetime = walker.get_next(dt.datetime)
        if not _keeps(wall, clamp):
            continue
        instant = to_instant(wall, tz)
        if instant <= after or (last is not None and instant <= last):
            continue
        last = instant
        yield instant


def due_times(timing: Timing, tz: dt.tzinfo, *, after: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
    """Every due instant in (`after`, `until`]."""
    out: list[dt.datetime] = []
    for instant in _walk(timing, tz, after):
        if instant > until:
            break
        out.append(instant)
    return out


def next_due_times(timing: Timing, tz: dt.tzinfo, *, after: dt.datetime, count: int = 5) -> list[dt.datetime]:
    """The next `count` due instants after `after` (the API's preview); none for MANUAL."""
    out: list[dt.datetime] = []
    for instant in _walk(timing, tz, after):
        out.append(instant)
        if len(out) == count:
            break
    return out


@dataclass(frozen=True)
class TickPlan:
    """What one scheduler tick does for a schedule: run `run_at` (if any); record `missed`."""

    run_at: dt.datetime | None
    missed: tuple[dt.datetime, ...]


def plan_tick(timing: Timing, tz: dt.tzinfo, *, since: dt.datetime, now: dt.datetime, window: dt.timedelta) -> TickPlan:
    """Due times since the last one handled (`since`: the latest due time with a run, else the
    schedule's creation): the most recent one within `window` of `now` runs (catch-up); every other
    one is missed (older than the window, or superseded by a later one in it).

    Bounded: a daemon down for months lists at most a thousand missed due times.
    """
    dues: list[dt.datetime] = []
    for instant in _walk(timing, tz, since):
        if instant > now:
            break
        dues.append(instant)
        if len(dues) > 1000:
            dues.pop(0)
    if not dues:
        return TickPlan(None, ())
    latest = dues[-1]
    if latest >= now - window:
        return TickPlan(latest, tuple(dues[:-1]))
    return TickPlan(None, tuple(dues))


def is_stale(started: dt.datetime, now: dt.datetime, *, threshold: dt.timedelta, grace: dt.timedelta) -> bool:
    """A run still `pending`/`running` this long after it started is reconciled as failed."""
    return now - started >= threshold + grace


def tick_seconds(cron: str) -> int:
    """The scheduler sensor's interval: the gap between two ticks of AUTOMATION_SCHEDULER_CRON (at least 30 s)."""
    walker = croniter(validate_cron(cron), dt.datetime(2026, 1, 5))
    first: dt.datetime = walker.get_next(dt.datetime)
    second: dt.datetime = walker.get_next(dt.datetime)
    return max(30, int((second - first).total_seconds()))
