"""Each agent's figures per day of the floor's time zone, and the floor's calendar.

One owner for the agent days: the contact handlers add to them, the agents' state spells are
accounted into them (split at midnight), retention forgets the days older than the history kept.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from callwatch.engine.agents import Spell
from callwatch.engine.aggregates import INTERVAL_S, AgentDay

DayKey = tuple[str, str]


class FloorCalendar:
    """The floor's calendar day of an instant (every real zone's days start on a quarter hour)."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._cache: dict[int, str] = {}

    def day_of(self, ts: float) -> str:
        slot = int(ts // INTERVAL_S)
        day = self._cache.get(slot)
        if day is None:
            day = datetime.fromtimestamp(slot * INTERVAL_S, self.zone).date().isoformat()
            self._cache[slot] = day
        return day


class AgentDays:
    def __init__(self, calendar: FloorCalendar) -> None:
        self.calendar = calendar
        self.days: dict[DayKey, AgentDay] = {}
        self.dirty: set[DayKey] = set()
        self._kept_from = ""

    def day(self, agent: str, ts: float) -> AgentDay:
        """The agent's figures for the day ``ts`` falls in (created if new; marked changed)."""
        key = (agent, self.calendar.day_of(ts))
        day = self.days.get(key)
        if day is None:
            day = self.days[key] = AgentDay()
        self.dirty.add(key)
        return day

    def existing(self, agent: str, day: str) -> AgentDay | None:
        """An agent's day if it is still kept (marked changed: the caller adds to it)."""
        found = self.days.get((agent, day))
        if found is not None:
            self.dirty.add((agent, day))
        return found

    def account(self, spell: Spell) -> None:
        """Add a spell of one state to the agent's days, split where the floor's day changes."""
        start, end = spell.start, spell.end
        if end <= start:
            return
        state, reason = spell.state, spell.reason
        idle = spell.idle
        day_of = self.calendar.day_of
        t = start
        while t < end:
            day_key = day_of(t)
            # the next slot whose day differs bounds this piece
            stop = (int(t // INTERVAL_S) + 1) * INTERVAL_S
            while stop < end and day_of(stop) == day_key:
                stop += INTERVAL_S
            piece_end = min(stop, end)
            day = self.day(spell.agent, t)
            d = piece_end - t
            day.state_s[state] = day.state_s.get(state, 0.0) + d
            if state == "away":
                r = reason or "unspecified"
                day.away_reason_s[r] = day.away_reason_s.get(r, 0.0) + d
            if idle:
                day.idle_between_s += d
            t = piece_end
        if idle:
            self.day(spell.agent, end).idle_between_n += 1

    def expire(self, oldest_day: str) -> None:
        """Forget the days before ``oldest_day`` (looked at once a day)."""
        if not self.days or oldest_day == self._kept_from:
            return
        self._kept_from = oldest_day
        for key in [d for d in self.days if d[1] < oldest_day]:
            del self.days[key]
            self.dirty.add(key)
