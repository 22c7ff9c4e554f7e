"""The day benchmark's own logic: how the LLM cap was used, the tail included."""

from __future__ import annotations

import pytest
from day import cap_use


def test_a_cap_full_throughout_has_no_gap_and_a_tail_of_the_last_calls() -> None:
    # Two slots, calls of 1 s: two at 0, two at 1, then one alone at 2.
    use = cap_use([10.0, 10.0, 11.0, 11.0, 12.0], latency=1.0, cap=2)
    assert use.first_full == 0.0
    assert use.last_full == 2.0
    assert use.full_s == pytest.approx(2.0)
    assert use.gaps_s == pytest.approx(0.0)
    assert use.tail_s == pytest.approx(1.0)
    assert use.idle_slot_s == pytest.approx(0.0)


def test_time_below_the_cap_between_full_spells_is_a_gap() -> None:
    # Full 0-1, one call 1-2, nothing 2-3, full again 3-4: 2 s below the cap between, then a 0.5 s tail.
    use = cap_use([0.0, 0.0, 1.0, 3.0, 3.0, 3.5], latency=1.0, cap=2)
    assert use.full_s == pytest.approx(2.0)
    assert use.gaps_s == pytest.approx(2.0)
    assert use.tail_s == pytest.approx(0.5)
    # One slot unused 1-2, both 2-3: 3 slot-seconds, 1.5 s of wall at a cap of 2; none after the last full.
    assert use.idle_slot_s == pytest.approx(3.0)


def test_a_cap_never_full_has_no_full_spell() -> None:
    use = cap_use([0.0, 0.5], latency=1.0, cap=3)
    assert use.first_full is None
    assert use.full_s == 0.0
    assert use.tail_s == pytest.approx(1.5)
    assert cap_use([], latency=1.0, cap=3).end == 0.0
