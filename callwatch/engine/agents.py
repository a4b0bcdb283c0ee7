"""Agents: who serves which queue, in which state since when, and the changes not yet final.

A state change is final once the watermark has passed it (so a change arriving out of order within
the allowed lateness lands where it belongs); finalising yields the spell the previous state lasted,
which the agent days account. A heap of pending change times finds the due agents without a scan,
and an index of agents per queue answers "who serves this queue" without one.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass

from callwatch.engine.records import AGENT_STATES, AgentRecord
from callwatch.events import AgentState


@dataclass(frozen=True, slots=True)
class Spell:
    """One agent in one state from ``start`` to ``end``."""

    agent: str
    state: str
    reason: str | None
    start: float
    end: float
    #: available time between the end of one contact's work and the next answer
    idle: bool


class Agents:
    def __init__(self) -> None:
        self.records: dict[str, AgentRecord] = {}
        self.dirty: set[str] = set()
        #: queues some agent has said it serves, and the agents of each
        self.staffed: set[str] = set()
        self.by_queue: dict[str, set[str]] = {}
        #: (time, agent) of state changes not yet final
        self._changes: list[tuple[float, str]] = []

    def state_event(self, ev: AgentState, ts: float) -> tuple[bool, set[str]]:
        """Record a state event; returns (placed, the queues whose membership changed).

        Not placed: older than a change already made final, it cannot be placed any more.
        """
        rec = self.records.get(ev.agent)
        if rec is None:
            rec = self.records[ev.agent] = AgentRecord(ev.agent)
        moved: set[str] = set()
        if ev.queues is not None and ts >= rec.queues_ts:
            old, new = set(rec.queues), set(ev.queues)
            rec.queues = list(ev.queues)
            rec.queues_ts = ts
            self.staffed.update(ev.queues)
            for q in old - new:
                self.by_queue.get(q, set()).discard(ev.agent)
            for q in new - old:
                self.by_queue.setdefault(q, set()).add(ev.agent)
            moved = old ^ new
        if ev.team is not None:
            rec.team = ev.team
        self.dirty.add(ev.agent)
        if rec.since is not None and ts < rec.since:
            return False, moved
        # changes at the same instant are ordered by event id: arrival order must not matter
        change = [ts, ev.state.value, ev.reason, ev.id]
        pending = rec.pending
        order = (ts, ev.id)
        if not pending or order >= (pending[-1][0], pending[-1][3]):
            pending.append(change)
        else:
            i = len(pending)
            while i and (pending[i - 1][0], pending[i - 1][3]) > order:
                i -= 1
            pending.insert(i, change)
        heapq.heappush(self._changes, (ts, ev.agent))
        return True, moved

    def queues_of(self, agent: str) -> list[str]:
        rec = self.records.get(agent)
        return rec.queues if rec is not None else []

    def any_due(self, watermark: float) -> bool:
        return bool(self._changes) and self._changes[0][0] <= watermark

    def finalise(self, watermark: float) -> Iterator[Spell]:
        """Make final the changes the watermark has passed; yields the spells they ended."""
        heap = self._changes
        due: set[str] = set()
        while heap and heap[0][0] <= watermark:
            due.add(heapq.heappop(heap)[1])
        for name in sorted(due):
            rec = self.records[name]
            pending = rec.pending
            n = 0
            while n < len(pending) and pending[n][0] <= watermark:
                ts, state, reason, _ = pending[n]
                if rec.since is not None:
                    yield open_spell(rec, ts, next_state=state)
                rec.previous, rec.state, rec.reason, rec.since = rec.state, state, reason, ts
                n += 1
            if n:
                del pending[:n]
                self.dirty.add(name)

    def at(self, queue: str, at: float | None = None) -> dict[str, int]:
        """Agents serving the queue in each state (at ``at``, or their latest state); staffed = not offline."""
        counts = dict.fromkeys(AGENT_STATES, 0)
        records = self.records
        for name in self.by_queue.get(queue, ()):
            rec = records[name]
            state = rec.current[0] if at is None else rec.state_at(at)
            if state in counts:
                counts[state] += 1
        counts["staffed"] = sum(counts.values())
        return counts

    def reindex(self) -> None:
        for name, rec in self.records.items():
            for change in rec.pending:
                heapq.heappush(self._changes, (change[0], name))
            self.staffed.update(rec.queues)
            for q in rec.queues:
                self.by_queue.setdefault(q, set()).add(name)

    def absorb(self, other: Agents) -> None:
        self.records.update(other.records)
        self.staffed |= other.staffed
        for q, names in other.by_queue.items():
            self.by_queue.setdefault(q, set()).update(names)


def open_spell(rec: AgentRecord, end: float, next_state: str | None) -> Spell:
    """The spell of the agent's final state from its start to ``end`` (then ``next_state``)."""
    assert rec.since is not None
    idle = rec.state == "available" and next_state == "busy" and rec.previous in ("busy", "wrap_up")
    return Spell(rec.agent, rec.state, rec.reason, rec.since, end, idle)
