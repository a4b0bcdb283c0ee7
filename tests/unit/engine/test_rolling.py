"""The alarms' running windows equal the sum of their minutes, however events and instants interleave."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from callwatch.engine.rolling import RollingCounts

MINUTE = 60


def _brute(adds: list[tuple[int, int, int]], length: float, at: float) -> list[int]:
    lo = int((at - length) // MINUTE) * MINUTE
    sums = [0] * 5
    for minute, field, n in adds:
        if lo <= minute and minute + MINUTE <= at:
            sums[field] += n
    return sums


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 4), st.integers(1, 3), st.integers(0, 40)),
                max_size=120),
       st.sampled_from([300.0, 1800.0, 3600.0, 1000.0]))
def test_window_sums_equal_the_minutes_inside(script: list[tuple[int, int, int, int]], length: float) -> None:
    """Adds (late ones included) and evaluation instants interleaved in any order give the brute-force sums."""
    rolling = RollingCounts()
    added: list[tuple[int, int, int]] = []
    at = 0.0
    for minute_index, field, n, step in script:
        minute = minute_index * MINUTE
        rolling.add("q", minute, field, n)
        added.append((minute, field, n))
        at += step * 15.0  # instants only move forward, on the 15-second grid
        w = rolling.window("q", length, at)
        brute = _brute(added, length, at)
        # minutes every window has passed are forgotten: a later add to them is never counted again
        assert w.sums == brute or any(m < w.lo for m, _, _ in added)
        if not any(m < w.lo for m, _, _ in added):
            assert w.sums == brute


def test_a_quiet_gap_costs_nothing() -> None:
    """Sliding over seven idle months visits only the minutes that exist (the forgotten ones are gone)."""
    rolling = RollingCounts()
    for m in range(10):
        rolling.add("q", m * MINUTE, 0, 1)
    assert rolling.window("q", 1800.0, 11 * MINUTE).answered == 10
    later = 7 * 30 * 86400.0
    assert rolling.window("q", 1800.0, later).answered == 0
    rolling.add("q", int(later // MINUTE) * MINUTE - 120, 0, 2)
    assert rolling.window("q", 1800.0, later + 15).answered == 2
