"""The interval and minute buckets of every queue × channel, indexed by time so that nothing is scanned.

One owner for the two containers the figures are summed from: the 15-minute intervals (the day's and
the report's figures, kept ``history_days``) and the minute buckets (the rolling windows, kept 75
minutes behind the newest event). Each queue keeps its bucket starts sorted, so a window reads only
the buckets inside it, and retention pops expired buckets from a time-ordered heap: the cost of both
follows the events, never the elapsed time or the size of the history.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Callable

from callwatch.engine.aggregates import INTERVAL_S, MINUTE_S, Agg

#: minute buckets older than this behind the newest event are dropped (rolling windows need 60 min,
#: the 30-minute alarms less; the rest is slack for late events)
MINUTE_RETENTION_S = 75 * 60

BucketKey = tuple[str, str, int]


def interval_key(queue: str, channel: str, ts: float) -> BucketKey:
    """The 15-minute interval ``ts`` falls in, as the ``intervals`` container keys it."""
    return (queue, channel, int(ts // INTERVAL_S) * INTERVAL_S)


class _Index:
    """The sorted bucket starts of each queue, and a heap of all buckets by start for retention."""

    __slots__ = ("by_queue", "heap")

    def __init__(self) -> None:
        self.by_queue: dict[str, list[int]] = {}
        self.heap: list[tuple[int, str, str]] = []

    def add(self, queue: str, channel: str, start: int) -> None:
        starts = self.by_queue.get(queue)
        if not starts:
            self.by_queue[queue] = [start]
        elif starts[-1] < start:
            starts.append(start)
        elif starts[-1] != start:  # a late event's older bucket: rare
            i = bisect_left(starts, start)
            if starts[i] != start:
                starts.insert(i, start)
        heapq.heappush(self.heap, (start, queue, channel))

    def between(self, queue: str, lo: float, hi: float) -> list[int]:
        """Bucket starts of the queue in [lo, hi]."""
        starts = self.by_queue.get(queue)
        if not starts:
            return []
        return starts[bisect_left(starts, lo):bisect_right(starts, hi)]

    def trim(self, queue: str, before: int) -> None:
        starts = self.by_queue.get(queue)
        if starts:
            del starts[:bisect_left(starts, before)]


class Buckets:
    """Intervals and minute buckets, with the changed keys a driver persists."""

    def __init__(self) -> None:
        self.intervals: dict[BucketKey, Agg] = {}
        self.minutes: dict[BucketKey, Agg] = {}
        self.dirty_intervals: set[BucketKey] = set()
        self.dirty_minutes: set[BucketKey] = set()
        #: the channels each queue has buckets for (a queue's windows sum these)
        self.channels: dict[str, set[str]] = {}
        #: the newest minute bucket per queue
        self.last_minute: dict[str, float] = {}
        self._interval_index = _Index()
        self._minute_index = _Index()

    # ------------------------------------------------------------ writing

    def interval(self, queue: str, channel: str, ts: float) -> Agg:
        key = interval_key(queue, channel, ts)
        agg = self.intervals.get(key)
        if agg is None:
            agg = self.intervals[key] = Agg()
            self._interval_index.add(queue, channel, key[2])
            chans = self.channels.get(queue)
            if chans is None:
                self.channels[queue] = {channel}
            else:
                chans.add(channel)
        self.dirty_intervals.add(key)
        return agg

    def minute(self, queue: str, channel: str, ts: float) -> Agg:
        start = int(ts // MINUTE_S) * MINUTE_S
        key = (queue, channel, start)
        agg = self.minutes.get(key)
        if agg is None:
            agg = self.minutes[key] = Agg()
            self._minute_index.add(queue, channel, start)
            if start > self.last_minute.get(queue, float("-inf")):
                self.last_minute[queue] = start
        self.dirty_minutes.add(key)
        return agg

    def existing_interval(self, queue: str, channel: str, ts: float) -> Agg | None:
        """The interval ``ts`` falls in if it is still kept (marked changed: the caller adds to it)."""
        key = interval_key(queue, channel, ts)
        agg = self.intervals.get(key)
        if agg is not None:
            self.dirty_intervals.add(key)
        return agg

    # ------------------------------------------------------------ reading

    @property
    def queues(self) -> set[str]:
        return set(self.channels)

    def minutes_sum(self, queue: str, channel: str | None, start: float, end: float) -> Agg:
        """Sum of the queue's minute buckets whose start lies in [start, end] (to the minute)."""
        out = Agg()
        lo = int(start // MINUTE_S) * MINUTE_S
        chans = (channel,) if channel is not None else tuple(self.channels.get(queue, ()))
        minutes = self.minutes
        for m in self._minute_index.between(queue, lo, end):
            for ch in chans:
                agg = minutes.get((queue, ch, m))
                if agg is not None:
                    out.merge(agg)
        return out

    def service_level_counts(self, queue: str, start: float, end: float) -> tuple[int, int, int, int]:
        """(answered, answered within T, abandoned, abandoned after T) of the queue's minutes in [start, end]."""
        answered = within = abandoned = after_t = 0
        lo = int(start // MINUTE_S) * MINUTE_S
        chans = tuple(self.channels.get(queue, ()))
        minutes = self.minutes
        for m in self._minute_index.between(queue, lo, end):
            for ch in chans:
                agg = minutes.get((queue, ch, m))
                if agg is not None:
                    answered += agg.answered
                    within += agg.answered_within_t
                    abandoned += agg.abandoned
                    after_t += agg.abandoned_after_t
        return answered, within, abandoned, after_t

    def intervals_sum(self, queue: str, channel: str | None, start: float, end: float) -> Agg:
        """Sum of the queue's 15-minute intervals that start in [start, end)."""
        out = Agg()
        chans = (channel,) if channel is not None else tuple(self.channels.get(queue, ()))
        intervals = self.intervals
        for i in self._interval_index.between(queue, start, end):
            if i >= end:
                continue
            for ch in chans:
                agg = intervals.get((queue, ch, i))
                if agg is not None:
                    out.merge(agg)
        return out

    # ---------------------------------------------------------- retention

    def expire(self, intervals_before: float, minutes_before: float,
               interval_gone: Callable[[str, str, int, Agg], None] | None = None) -> None:
        """Drop intervals that ended by ``intervals_before`` and minutes that ended by ``minutes_before``;
        ``interval_gone`` is told of each interval dropped, in the order they started."""
        for index, container, dirty, length, cut in (
                (self._interval_index, self.intervals, self.dirty_intervals, INTERVAL_S, intervals_before),
                (self._minute_index, self.minutes, self.dirty_minutes, MINUTE_S, minutes_before)):
            heap = index.heap
            touched: set[str] = set()
            while heap and heap[0][0] + length <= cut:
                start, queue, channel = heapq.heappop(heap)
                key = (queue, channel, start)
                gone = container.pop(key, None)
                if gone is not None:
                    dirty.add(key)
                    touched.add(queue)
                    if interval_gone is not None and length == INTERVAL_S:
                        interval_gone(queue, channel, start, gone)
            for queue in touched:
                index.trim(queue, int(cut - length) + 1)

    # ------------------------------------------------------------ restore

    def reindex(self) -> None:
        """Rebuild the indexes from the containers (after a restore or a merge)."""
        self._interval_index = _Index()
        self._minute_index = _Index()
        self.channels = {}
        self.last_minute = {}
        for q, ch, i in sorted(self.intervals):
            self._interval_index.add(q, ch, i)
            self.channels.setdefault(q, set()).add(ch)
        for q, ch, m in sorted(self.minutes):
            self._minute_index.add(q, ch, m)
            if m > self.last_minute.get(q, float("-inf")):
                self.last_minute[q] = m
