"""Each queue × channel's figures per day, kept ``daily_history_days`` (a year and more), apart from the
15-minute intervals (``history_days``, a week).

A day is the sum of its intervals: an interval leaving the 15-minute history is folded into its day
here, in the order the intervals started, so a report summing a rolled-up day and the intervals still
held adds the same numbers in the same order as one summing the intervals alone. Live and offline
engines roll up at the same event times, so their reports are the same whatever the log's length.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from callwatch.config import QueueConfig
from callwatch.engine.aggregates import Agg, DayAgg

#: (queue, channel, ISO day)
DayKey = tuple[str, str, str]


def day_of_interval(start: float, qc: QueueConfig) -> str:
    """The day (in the queue's zone, counted from its reset time) that an interval start belongs to."""
    local = datetime.fromtimestamp(start, qc.zone)
    reset_today = local.replace(hour=qc.day_starts_at.hour, minute=qc.day_starts_at.minute, second=0,
                                microsecond=0)
    day = local.date() if local >= reset_today else (local - timedelta(days=1)).date()
    return day.isoformat()


class QueueDays:
    """The rolled-up days, with the changed keys a driver persists."""

    def __init__(self) -> None:
        self.days: dict[DayKey, DayAgg] = {}
        self.dirty: set[DayKey] = set()
        self._kept_from = ""

    def fold(self, queue: str, channel: str, start: int, agg: Agg, day: str) -> None:
        """An interval that left the 15-minute history joins its day."""
        key = (queue, channel, day)
        have = self.days.get(key)
        if have is None:
            have = self.days[key] = DayAgg()
        have.merge(agg)
        have.last_interval = max(have.last_interval, start)
        self.dirty.add(key)

    def expire(self, oldest_day: str) -> None:
        """Forget the days before ``oldest_day`` (looked at once a day)."""
        if not self.days or oldest_day == self._kept_from:
            return
        self._kept_from = oldest_day
        for key in [k for k in self.days if k[2] < oldest_day]:
            del self.days[key]
            self.dirty.add(key)
