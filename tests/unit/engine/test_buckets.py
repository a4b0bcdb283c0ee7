"""Interval and minute buckets: window sums read only their buckets and equal a scan; retention by time."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from callwatch.engine.buckets import Buckets


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.sampled_from(["voice", "chat"]),
                          st.floats(0, 20_000, allow_nan=False)), max_size=80),
       st.floats(0, 20_000), st.floats(0, 5_000))
def test_sums_equal_a_scan(adds: list[tuple[str, str, float]], start: float, span: float) -> None:
    """minutes_sum and intervals_sum give what summing every bucket in range gives, per queue and channel."""
    b = Buckets()
    for q, ch, ts in adds:
        b.interval(q, ch, ts).offered += 1
        b.minute(q, ch, ts).offered += 1
    end = start + span
    for q in ("a", "b"):
        for ch in (None, "voice", "chat"):
            lo = int(start // 60) * 60
            want_m = sum(a.offered for (qq, c, m), a in b.minutes.items()
                         if qq == q and (ch is None or c == ch) and lo <= m <= end)
            assert b.minutes_sum(q, ch, start, end).offered == want_m
            want_i = sum(a.offered for (qq, c, i), a in b.intervals.items()
                         if qq == q and (ch is None or c == ch) and start <= i < end)
            assert b.intervals_sum(q, ch, start, end).offered == want_i


def test_expire_drops_exactly_what_ended() -> None:
    """Buckets that ended by the cut go (and are marked for deletion); the rest, and their windows, stay."""
    b = Buckets()
    for ts in (0, 59, 60, 899, 900, 1800):
        b.interval("q", "voice", ts).offered += 1
        b.minute("q", "voice", ts).offered += 1
    b.dirty_intervals.clear()
    b.dirty_minutes.clear()
    b.expire(intervals_before=900, minutes_before=120)
    assert sorted(k[2] for k in b.intervals) == [900, 1800]
    assert sorted(k[2] for k in b.minutes) == [840, 900, 1800]
    assert b.dirty_intervals == {("q", "voice", 0)}
    assert b.minutes_sum("q", None, 0, 2000).offered == 3
    assert b.intervals_sum("q", None, 0, 2000).offered == 2
