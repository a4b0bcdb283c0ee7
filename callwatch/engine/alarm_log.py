"""The alarms an engine raised, kept ``daily_history_days``: what a report built from the stored state
lists, as an offline replay lists what it raised.

Keyed by the order they were raised in (a zero-padded number, so that the keys sort as they were
raised); forgotten from the oldest, by event time, like the days they belong to.
"""

from __future__ import annotations

from callwatch.alarm import Alarm

#: digits of a key: a log of a billion alarms still sorts
KEY_DIGITS = 10


class AlarmLog:
    def __init__(self) -> None:
        #: key (the raising order, zero-padded) -> the alarm, in the order raised
        self.entries: dict[str, Alarm] = {}
        self.dirty: set[str] = set()
        self.seq = 0

    def add(self, alarms: list[Alarm]) -> None:
        for alarm in alarms:
            self.seq += 1
            key = str(self.seq).zfill(KEY_DIGITS)
            self.entries[key] = alarm
            self.dirty.add(key)

    def alarms(self) -> list[Alarm]:
        """Every alarm kept, in the order raised."""
        return [self.entries[k] for k in sorted(self.entries)]

    def expire(self, before: float) -> None:
        """Forget the alarms raised for moments before ``before`` (from the oldest: the cost is what goes)."""
        entries = self.entries
        while entries:
            key = next(iter(entries))
            if entries[key].at >= before:
                return
            del entries[key]
            self.dirty.add(key)

    def reindex(self) -> None:
        """After a restore: the raising order (the keys loaded in any order) and the next number."""
        self.entries = {k: self.entries[k] for k in sorted(self.entries)}
        if self.entries:
            self.seq = max(self.seq, int(next(reversed(self.entries))))
