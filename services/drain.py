"""A day run that keeps taking the day's fiches as they become ready, until its upstream is done.

A stage's day run (the `transcripts` and `audits` assets) does not take one snapshot of the ready fiches
and stop: it starts each fiche as soon as it is listed by `Feed.ready`, looks again every `poll_seconds`
(every `idle_poll_seconds` while it has nothing under way and upstream is at work: its first fiche is
then seconds away, and a run up before it takes it at once), and ends once nothing is under way and
`Feed.upstream_active` says no run upstream can still add fiches; a run that saw its upstream at work
waits `linger_seconds` more after the last sign of it (the gap between an upstream run ending and a
sensor launching the next one). So transcription overlaps the details fetch and audits overlap
transcription, with one run per stage and day rather than one per sensor tick (docs/decisions.md, "Day
runs drain their stage").

A fiche is worked on once per run. Its result may ask for another look (`again`: another run that
has not ended holds the fiche's audit): it is taken again when `ready` lists it next, and the run
does not end while such a fiche is listed, so it reports the other run's result instead of failing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

R = TypeVar("R")


@dataclass(frozen=True)
class Feed:
    """Where a day run takes its fiches. Both callables are blocking (database, Dagster instance):
    the drain calls them on a worker thread."""

    ready: Callable[[], list[str]]
    upstream_active: Callable[[], bool]
    poll_seconds: float = 2.0
    linger_seconds: float = 0.0
    #: Whether the run of this id (one holding a fiche this run also wants) has not ended.
    run_active: Callable[[str], bool] = lambda _: False
    #: How often a run with nothing under way looks while upstream works: a day's audit run is up before
    #: the first transcript and waited up to a whole `poll_seconds` for it (decision 115).
    idle_poll_seconds: float = 0.25


async def drain(
    feed: Feed,
    work: Callable[[str], Coroutine[Any, Any, R]],
    *,
    again: Callable[[R], bool] = lambda _: False,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Coroutine[Any, Any, None]] = asyncio.sleep,
) -> dict[str, R]:
    """Run `work` on every fiche `feed.ready` lists until the day's upstream is done; each fiche's
    last result. A `work` that raises ends the drain with
    that error once the fiches under way have settled (what no fiche can survive, e.g. Redis gone).
    Results come in the order the fiches settled."""
    results: dict[str, R] = {}
    running: dict[str, asyncio.Task[R]] = {}
    upstream_seen, last_activity = False, clock()

    async def take() -> bool:
        listed = await asyncio.to_thread(feed.ready)
        new = [f for f in listed if f not in running and (f not in results or again(results[f]))]
        for fiche_id in new:
            running[fiche_id] = asyncio.create_task(work(fiche_id))
        return bool(new)

    while True:
        if await take():
            last_activity = clock()
        upstream_now = await asyncio.to_thread(feed.upstream_active)
        if upstream_now:
            upstream_seen, last_activity = True, clock()
        elif not running:
            # A run that never saw its upstream at work (a backfill, a manual run) ends at once.
            settled = not upstream_seen or clock() - last_activity >= feed.linger_seconds
            # The last look comes after upstream is seen done: what it wrote before ending is taken.
            if settled and not await take():
                return results
        if not running:
            await sleep(min(feed.idle_poll_seconds, feed.poll_seconds) if upstream_now else feed.poll_seconds)
            continue
        done, _ = await asyncio.wait(running.values(), timeout=feed.poll_seconds)
        for fiche_id, task in list(running.items()):
            if task in done:
                del running[fiche_id]
                error = task.exception()
                if error is not None:
                    await _settle(running)
                    raise error
                results[fiche_id] = task.result()


async def _settle(running: dict[str, asyncio.Task[R]]) -> None:
    """Let the fiches under way finish (each records its own outcome) before the error ends the run."""
    if running:
        await asyncio.wait(running.values())
        for task in running.values():
            task.exception()  # retrieved: the first error is the one raised
