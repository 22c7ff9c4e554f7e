"""A running simulator's mutable state: its configuration, request counters and fault generators.

Counters are plain integers touched only from the server's event loop, so they are exact without
locks: a request enters its family's in-flight count before any latency is slept and leaves it
when its response is fully sent (or its client has gone), which is what `peak_in_flight` reports.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from callaudit.demo_crm.config import FAMILIES, Family, SimulatorConfig
from callaudit.demo_crm.seeding import derive_rng

CLIENT_CLOSED = 499
"""Recorded (as nginx does) when the client disconnected before any response was sent."""


@dataclass
class EndpointStats:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)


@dataclass
class FamilyStats(EndpointStats):
    in_flight: int = 0
    peak_in_flight: int = 0
    faults: Counter[str] = field(default_factory=Counter)


class SimulatorStats:
    def __init__(self) -> None:
        self.since = datetime.now(UTC)
        self.endpoints: dict[str, EndpointStats] = {}
        self.families: dict[Family, FamilyStats] = {family: FamilyStats() for family in FAMILIES}

    def begin(self, endpoint: str, family: Family | None) -> None:
        self.endpoints.setdefault(endpoint, EndpointStats()).requests += 1
        if family is not None:
            stats = self.families[family]
            stats.requests += 1
            stats.in_flight += 1
            stats.peak_in_flight = max(stats.peak_in_flight, stats.in_flight)

    def end(self, endpoint: str, family: Family | None, status: int | None) -> None:
        code = CLIENT_CLOSED if status is None else status
        self.endpoints[endpoint].statuses[code] += 1
        if family is not None:
            self.families[family].in_flight -= 1
            self.families[family].statuses[code] += 1

    def fault(self, family: Family, kind: str) -> None:
        self.families[family].faults[kind] += 1

    def reset(self) -> None:
        """Zero the counts; requests still in flight stay counted as in flight (and as the peak)."""
        self.since = datetime.now(UTC)
        self.endpoints = {}
        for family, old in self.families.items():
            self.families[family] = FamilyStats(in_flight=old.in_flight, peak_in_flight=old.in_flight)

    def as_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "endpoints": {
                name: {"requests": s.requests, "statuses": _codes(s.statuses)} for name, s in self.endpoints.items()
            },
            "families": {
                family: {
                    "requests": s.requests,
                    "in_flight": s.in_flight,
                    "peak_in_flight": s.peak_in_flight,
                    "statuses": _codes(s.statuses),
                    "faults": dict(s.faults),
                }
                for family, s in self.families.items()
            },
        }


def _codes(statuses: Counter[int]) -> dict[str, int]:
    return {str(code): count for code, count in sorted(statuses.items())}


class SimulatorState:
    """Shared by the routes and the behaviour middleware of one app."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.stats = SimulatorStats()
        self.fault_rngs: dict[Family, random.Random] = {f: derive_rng(config.seed, "faults", f) for f in FAMILIES}
