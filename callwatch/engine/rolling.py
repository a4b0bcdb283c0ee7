"""Running sums over sliding windows of whole minutes: what the threshold alarms read, per queue.

A window at instant ``at`` holds the minutes ``m`` with ``floor((at - W) / 60) * 60 <= m`` and
``m + 60 <= at`` (whole minutes only, so every event of them is in). Instead of summing its minutes at
each evaluation, each window keeps the sum of the minutes inside it: a minute is added once when it
enters, subtracted once when it leaves, and a late event in a minute already inside adds its change
to the sum. Sliding visits only minutes that exist, so an idle night (or month) costs nothing.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from callwatch.engine.aggregates import MINUTE_S

#: the counts kept per minute, in this order
ANSWERED, WITHIN, ABANDONED, ABANDONED_AFTER_T, DEQUEUED = range(5)
NEG_INF = float("-inf")


class WindowCounts:
    """The sums of one queue's sliding window of one length."""

    __slots__ = ("hi", "lo", "sums")

    def __init__(self) -> None:
        self.lo = NEG_INF  # minutes m with lo <= m <= hi are in the sums
        self.hi = NEG_INF
        self.sums = [0, 0, 0, 0, 0]

    @property
    def answered(self) -> int:
        return self.sums[ANSWERED]

    @property
    def within(self) -> int:
        return self.sums[WITHIN]

    @property
    def abandoned(self) -> int:
        return self.sums[ABANDONED]

    @property
    def abandoned_after_t(self) -> int:
        return self.sums[ABANDONED_AFTER_T]

    @property
    def dequeued(self) -> int:
        return self.sums[DEQUEUED]

    def service_level(self, formula: str) -> float | None:
        s = self.sums
        return service_level(formula, s[ANSWERED], s[WITHIN], s[ABANDONED], s[ABANDONED_AFTER_T])


def service_level(formula: str, answered: int, within: int, abandoned: int, abandoned_after_t: int) -> float | None:
    """Answered within T over the formula's denominator (METRICS.md), unrounded; None when it is 0."""
    if formula == "answered_only":
        den = answered
    elif formula == "abandons_neutral":
        den = answered + abandoned_after_t
    else:
        den = answered + abandoned
    return None if den <= 0 else within / den


class _QueueMinutes:
    __slots__ = ("counts", "keys", "windows")

    def __init__(self) -> None:
        self.counts: dict[int, list[int]] = {}
        self.keys: list[int] = []  # sorted
        self.windows: dict[float, WindowCounts] = {}


class RollingCounts:
    """Per queue: counts per minute and the running sums of each window length asked for."""

    def __init__(self) -> None:
        self._queues: dict[str, _QueueMinutes] = {}

    def minutes(self, queue: str) -> list[int]:
        """The minutes with counts of a queue, oldest first (a restore books their window edges)."""
        qm = self._queues.get(queue)
        return list(qm.keys) if qm is not None else []

    def add(self, queue: str, minute: int, field: int, n: int = 1) -> bool:
        """Count ``n`` into one field of a minute; True when the minute is new."""
        qm = self._queues.get(queue)
        if qm is None:
            qm = self._queues[queue] = _QueueMinutes()
        counts = qm.counts.get(minute)
        new = counts is None
        if counts is None:
            counts = qm.counts[minute] = [0, 0, 0, 0, 0]
            keys = qm.keys
            if not keys or keys[-1] < minute:
                keys.append(minute)
            else:
                keys.insert(bisect_left(keys, minute), minute)
        counts[field] += n
        for w in qm.windows.values():
            if w.lo <= minute <= w.hi:  # already inside: a late event changes the sum at once
                w.sums[field] += n
        return new

    def window(self, queue: str, length: float, at: float) -> WindowCounts:
        """The window of ``length`` seconds ending at ``at``; ``at`` never goes back for a queue."""
        qm = self._queues.get(queue)
        if qm is None:
            qm = self._queues[queue] = _QueueMinutes()
        w = qm.windows.get(length)
        if w is None:
            w = qm.windows[length] = WindowCounts()
        new_lo = int((at - length) // MINUTE_S) * MINUTE_S
        new_hi = at - MINUTE_S
        keys, counts, sums = qm.keys, qm.counts, w.sums
        if new_lo > w.lo:
            # minutes leaving: those inside below the new lower bound
            for m in keys[bisect_left(keys, w.lo):bisect_left(keys, new_lo)]:
                if m > w.hi:
                    break
                c = counts[m]
                for i in range(5):
                    sums[i] -= c[i]
            w.lo = new_lo
        if new_hi > w.hi:
            for m in keys[bisect_right(keys, max(w.hi, new_lo - 1)):bisect_right(keys, new_hi)]:
                c = counts[m]
                for i in range(5):
                    sums[i] += c[i]
            w.hi = new_hi
        self._forget(qm)
        return w

    def _forget(self, qm: _QueueMinutes) -> None:
        """Drop the minutes every window has passed."""
        if not qm.windows:
            return
        floor = min(w.lo for w in qm.windows.values())
        keys = qm.keys
        n = bisect_left(keys, floor)
        if n:
            for m in keys[:n]:
                del qm.counts[m]
            del keys[:n]
