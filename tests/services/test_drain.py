"""`services.drain`: a day run takes fiches as they become ready until its upstream is done."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from services.drain import Feed, drain


class Day:
    """Fiches arriving while an upstream run works: one more fiche per look, `upstream_looks` looks."""

    def __init__(self, fiches: list[str], upstream_looks: int) -> None:
        self.fiches = fiches
        self.listed = 0
        self.upstream_looks = upstream_looks
        self.looks = 0

    def ready(self) -> list[str]:
        return self.fiches[: self.listed]

    def upstream_active(self) -> bool:
        self.looks += 1
        active = self.looks <= self.upstream_looks
        if active:
            self.listed = min(len(self.fiches), self.listed + 1)
        return active

    def feed(self, linger: float = 0.0) -> Feed:
        return Feed(self.ready, self.upstream_active, poll_seconds=0.001, linger_seconds=linger)


def test_fiches_listed_while_upstream_works_are_taken_once_each_by_the_same_run() -> None:
    day = Day([f"F{i}" for i in range(5)], upstream_looks=8)
    calls: Counter[str] = Counter()

    async def work(fiche_id: str) -> str:
        calls[fiche_id] += 1
        await asyncio.sleep(0.002)
        return f"done {fiche_id}"

    results = asyncio.run(drain(day.feed(), work))
    assert set(results) == set(day.fiches)
    assert set(calls.values()) == {1}
    assert results["F3"] == "done F3"
    assert day.looks > day.upstream_looks  # it ended after seeing upstream done


def test_a_run_that_never_sees_upstream_at_work_takes_what_is_ready_and_ends() -> None:
    day = Day(["A", "B"], upstream_looks=0)
    day.listed = 2

    async def work(fiche_id: str) -> int:
        return len(fiche_id)

    assert asyncio.run(drain(day.feed(linger=3600), work)) == {"A": 1, "B": 1}


def test_after_upstream_ends_the_run_lingers_for_the_next_upstream_run() -> None:
    clock = [0.0]
    day = Day(["A", "B"], upstream_looks=1)

    def ready() -> list[str]:
        clock[0] += 1.0  # every look costs a "second" on the run's clock
        if clock[0] >= 5:  # the next upstream run, launched late, adds a fiche
            day.listed = 2
        return day.ready()

    feed = Feed(ready, day.upstream_active, poll_seconds=0.001, linger_seconds=10)

    async def work(fiche_id: str) -> str:
        return fiche_id

    assert set(asyncio.run(drain(feed, work, clock=lambda: clock[0]))) == {"A", "B"}


def test_a_result_asking_for_another_look_is_taken_again_until_it_is_final() -> None:
    day = Day(["A", "B"], upstream_looks=0)
    day.listed = 2
    attempts: Counter[str] = Counter()

    async def work(fiche_id: str) -> str:
        attempts[fiche_id] += 1
        return "held" if fiche_id == "A" and attempts[fiche_id] < 3 else "done"

    results = asyncio.run(drain(day.feed(), work, again=lambda r: r == "held"))
    assert results == {"A": "done", "B": "done"}
    assert attempts == Counter({"A": 3, "B": 1})


def test_an_error_no_fiche_survives_ends_the_run_once_the_others_settled() -> None:
    day = Day(["A", "B"], upstream_looks=0)
    day.listed = 2
    finished: list[str] = []

    async def work(fiche_id: str) -> str:
        if fiche_id == "A":
            raise ConnectionError("Redis gone")
        await asyncio.sleep(0.01)
        finished.append(fiche_id)
        return fiche_id

    with pytest.raises(ConnectionError, match="Redis gone"):
        asyncio.run(drain(day.feed(), work))
    assert finished == ["B"]


def test_a_run_with_nothing_under_way_looks_often_while_upstream_works_and_at_its_pace_after() -> None:
    """Waiting for upstream's first fiche it looks every `idle_poll_seconds`; lingering after upstream
    ended, every `poll_seconds` (decision 115)."""
    clock = [0.0]
    day = Day([], upstream_looks=3)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    async def work(fiche_id: str) -> str:
        return fiche_id

    feed = Feed(day.ready, day.upstream_active, poll_seconds=2.0, linger_seconds=5.0, idle_poll_seconds=0.25)
    assert asyncio.run(drain(feed, work, clock=lambda: clock[0], sleep=sleep)) == {}
    assert slept[:3] == [0.25, 0.25, 0.25]
    assert set(slept[3:]) == {2.0}
    assert len(slept) == 3 + 3  # lingering 5 s at 2 s a look after the last sign of upstream
