"""Additive counters: what one queue × channel held in one interval, and what one agent did in one day.

Everything here is a sum, a count or a max, so that buckets combine by :func:`Agg.merge` into any
window (last 15 min, today, a whole log) and a figure never depends on how it was bucketed.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field, fields
from typing import Any

#: Upper bounds (seconds, inclusive) of the wait histogram buckets; the last bucket is "> 600 s".
WAIT_BUCKETS_S: tuple[float, ...] = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300, 600)

INTERVAL_S = 900  # METRICS.md's 15-minute intervals
MINUTE_S = 60  # rolling windows are kept to the minute
#: a later contact of the same customer within these horizons makes a contact a repeat (METRICS.md)
REPEAT_SHORT_S = 24 * 3600.0
REPEAT_LONG_S = 72 * 3600.0
#: agent-ended calls are counted by talk time in bins this wide, up to TALK_MAX_S (cap detection)
TALK_BIN_S = 10
TALK_MAX_S = 7200


def wait_bucket(wait_s: float) -> int:
    return bisect_left(WAIT_BUCKETS_S, wait_s)


def _zeros() -> list[int]:
    return [0] * (len(WAIT_BUCKETS_S) + 1)


@dataclass(slots=True)
class Agg:
    """The interval figures of METRICS.md for one queue × channel × bucket (15 min or 1 min)."""

    offered: int = 0
    answered: int = 0
    answered_within_t: int = 0
    abandoned: int = 0
    abandoned_after_t: int = 0
    short_abandoned: int = 0
    dequeued: dict[str, int] = field(default_factory=dict)
    wait_answered_sum_s: float = 0.0
    wait_answered_max_s: float = 0.0
    wait_answered_hist: list[int] = field(default_factory=_zeros)
    wait_abandoned_sum_s: float = 0.0
    wait_abandoned_max_s: float = 0.0
    wait_abandoned_hist: list[int] = field(default_factory=_zeros)
    short_abandon_wait_sum_s: float = 0.0
    #: legs that ended (call.ended or call.transferred) — AHT's denominator
    ended: int = 0
    talk_s: float = 0.0
    hold_s: float = 0.0
    acw_s: float = 0.0
    transfers: int = 0
    agent_ended: int = 0
    short_calls: int = 0
    dispositions: int = 0
    resolved: int = 0
    complaints: int = 0
    surveys_offered: int = 0
    surveys_completed: int = 0
    satisfied_n: int = 0
    satisfied_top2: int = 0
    satisfied_sum: int = 0
    professional_n: int = 0
    professional_top2: int = 0
    professional_sum: int = 0
    more_help_n: int = 0
    more_help_yes: int = 0
    #: contacts (queued legs, first queue of a call) whose customer is known: repeat rate's denominator
    customer_contacts: int = 0
    #: of those, the ones whose customer contacted again (any queue, channel) within 24 h / 72 h;
    #: counted in the original contact's interval when the repeat arrives
    repeat_24h: int = 0
    repeat_72h: int = 0
    #: dispositions with resolved = true whose customer came back within 72 h (FCR's exclusion)
    resolved_repeat_72h: int = 0

    def merge(self, other: Agg) -> None:
        for f in _AGG_SUM:
            setattr(self, f, getattr(self, f) + getattr(other, f))
        self.wait_answered_max_s = max(self.wait_answered_max_s, other.wait_answered_max_s)
        self.wait_abandoned_max_s = max(self.wait_abandoned_max_s, other.wait_abandoned_max_s)
        for reason, n in other.dequeued.items():
            self.dequeued[reason] = self.dequeued.get(reason, 0) + n
        for i, n in enumerate(other.wait_answered_hist):
            self.wait_answered_hist[i] += n
        for i, n in enumerate(other.wait_abandoned_hist):
            self.wait_abandoned_hist[i] += n

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Agg:
        return cls(**data)


_AGG_SUM = tuple(
    f.name
    for f in fields(Agg)
    if f.name not in {"dequeued", "wait_answered_hist", "wait_abandoned_hist"} and not f.name.endswith("_max_s")
)


@dataclass(slots=True)
class AgentDay:
    """One agent's figures for one day of the floor's time zone."""

    handled: int = 0
    talk_s: float = 0.0
    hold_s: float = 0.0
    acw_s: float = 0.0
    transfers: int = 0
    agent_ended: int = 0
    short_calls: int = 0
    #: seconds in each state (available, busy, wrap_up, away, offline)
    state_s: dict[str, float] = field(default_factory=dict)
    #: seconds away, by the reason given (break, lunch, training…)
    away_reason_s: dict[str, float] = field(default_factory=dict)
    #: available time between the end of one contact's work and the next answer
    idle_between_s: float = 0.0
    idle_between_n: int = 0
    dispositions: int = 0
    resolved: int = 0
    surveys_offered: int = 0
    surveys_completed: int = 0
    satisfied_n: int = 0
    satisfied_top2: int = 0
    satisfied_sum: int = 0
    professional_n: int = 0
    professional_top2: int = 0
    professional_sum: int = 0
    more_help_n: int = 0
    more_help_yes: int = 0
    #: completed surveys scoring 5 on both satisfaction and professionalism
    perfect_scores: int = 0
    #: handled contacts whose customer is known, and how many of them came back within 24 h / 72 h
    customer_contacts: int = 0
    repeat_24h: int = 0
    repeat_72h: int = 0
    resolved_repeat_72h: int = 0
    #: dispositions with and without a complaint, and how many of each were offered a survey
    complaint_contacts: int = 0
    complaint_offered: int = 0
    other_contacts: int = 0
    other_offered: int = 0
    #: agent-ended calls within the last seconds before the handle-time cap, and under the short-call time
    near_cap_agent_ended: int = 0
    short_agent_ended: int = 0
    #: contact ids behind each integrity signal (a few per day, for a supervisor to listen to)
    evidence: dict[str, list[str]] = field(default_factory=dict)
    #: agent-ended calls by talk time, in bins of ``TALK_BIN_S`` (key: the bin's start in seconds), so
    #: that a handle-time cap can be found in the data when none is configured (engine/integrity.py)
    agent_ended_talk: dict[str, int] = field(default_factory=dict)

    def add_evidence(self, signal: str, call_id: str, limit: int) -> None:
        ids = self.evidence.setdefault(signal, [])
        if len(ids) < limit and call_id not in ids:
            ids.append(call_id)

    def merge(self, other: AgentDay) -> None:
        for f in _DAY_SUM:
            setattr(self, f, getattr(self, f) + getattr(other, f))
        for k, ids in other.evidence.items():
            self.evidence.setdefault(k, []).extend(i for i in ids if i not in self.evidence[k])
        for k, v in other.state_s.items():
            self.state_s[k] = self.state_s.get(k, 0.0) + v
        for k, v in other.away_reason_s.items():
            self.away_reason_s[k] = self.away_reason_s.get(k, 0.0) + v
        for k, n in other.agent_ended_talk.items():
            self.agent_ended_talk[k] = self.agent_ended_talk.get(k, 0) + n

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AgentDay:
        return cls(**data)


_DAY_SUM = tuple(f.name for f in fields(AgentDay)
                 if f.name not in {"state_s", "away_reason_s", "evidence", "agent_ended_talk"})


@dataclass(slots=True)
class DayAgg(Agg):
    """One queue × channel's figures for one day: its 15-minute intervals summed as they leave the history.

    ``last_interval`` is the start of the latest interval in it: a day's repeat rates and FCR are final
    72 h after it, whether the day is still in intervals or rolled up.
    """

    last_interval: int = 0

    def merge(self, other: Agg) -> None:
        Agg.merge(self, other)  # (slots dataclasses cannot use a bare super())
        if isinstance(other, DayAgg):
            self.last_interval = max(self.last_interval, other.last_interval)
