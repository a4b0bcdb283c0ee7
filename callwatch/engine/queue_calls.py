"""Contacts in their queues: one leg per contact and queue, who is waiting now, and who left when.

The only owner of legs. Indexes kept beside them, so that nothing scans every contact: the waiting
legs per queue; (arrived, left) of recent departures, for "waiting at an instant"; (left, waited from,
contact id) of departures per queue sorted by time, for the wait alarm's context and the wallboard's
waiting list as of a past moment; and the legs
by the hour of their last event, so that retention forgets what it forgets and nothing else.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort

from callwatch.engine.records import Leg

ContactKey = tuple[str, str]
NEG_INF = float("-inf")


class QueueCalls:
    def __init__(self) -> None:
        self.legs: dict[ContactKey, Leg] = {}
        self.dirty: set[ContactKey] = set()
        #: per queue, the legs waiting now, by contact id
        self.waiting: dict[str, dict[str, Leg]] = {}
        #: distinguishes a re-entry into the same queue (persisted)
        self.seq = 0
        self._recently_left: dict[str, list[tuple[float, float]]] = {}
        self._departed: dict[str, list[tuple[float, float, str]]] = {}
        self._hours: dict[int, list[ContactKey]] = {}

    def get(self, key: ContactKey) -> Leg | None:
        return self.legs.get(key)

    def __contains__(self, key: ContactKey) -> bool:
        return key in self.legs

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def add(self, leg: Leg, ts: float) -> None:
        self.legs[(leg.queue, leg.call_id)] = leg
        self.touch(leg, ts)
        if leg.status == "waiting":
            self.waiting.setdefault(leg.queue, {})[leg.call_id] = leg

    def touch(self, leg: Leg, ts: float) -> None:
        """The leg changed at ``ts``: it is persisted, and remembered from its latest event time."""
        if ts > leg.last_ts:
            leg.last_ts = ts
            self._hours.setdefault(int(ts // 3600), []).append((leg.queue, leg.call_id))
        self.dirty.add((leg.queue, leg.call_id))

    def leave(self, leg: Leg, ts: float, done: float) -> None:
        """Take a waiting leg out of its queue at ``ts`` (``done``: the last alarm instant evaluated)."""
        del self.waiting[leg.queue][leg.call_id]
        leg.left_at = ts
        if leg.arrived_at is not None:
            left = self._recently_left.setdefault(leg.queue, [])
            left.append((leg.arrived_at, ts))
            if len(left) > 64 and left[0][1] <= done:  # those that left before it count no more
                self._recently_left[leg.queue] = [item for item in left if item[1] > done]
        assert leg.wait_from is not None
        departed = self._departed.setdefault(leg.queue, [])
        if not departed or departed[-1][0] <= ts:
            departed.append((ts, leg.wait_from, leg.call_id))
        else:
            insort(departed, (ts, leg.wait_from, leg.call_id))

    # ------------------------------------------------------------ as of

    def waiting_at(self, queue: str, at: float) -> int:
        """Contacts waiting in the queue at ``at``: those still waiting and those that left after it."""
        n = 0
        for leg in self.waiting.get(queue, {}).values():
            if leg.arrived_at is not None and leg.arrived_at <= at:
                n += 1
        for arrived, left in self._recently_left.get(queue, ()):
            if arrived <= at < left:
                n += 1
        return n

    def waits_at(self, queue: str, at: float) -> list[float]:
        """How long each contact waiting in the queue at ``at`` had waited by then (from ``waiting_since``)."""
        waits = [at - leg.wait_from for leg in self.waiting.get(queue, {}).values()
                 if leg.wait_from is not None and leg.wait_from <= at]
        departed = self._departed.get(queue, [])
        for _, wait_from, _ in departed[bisect_right(departed, (at, float("inf"))):]:
            if wait_from <= at:
                waits.append(at - wait_from)
        return waits

    def waiting_legs_at(self, queue: str, at: float) -> list[tuple[float, Leg]]:
        """(waited from, leg) of each contact waiting in the queue at ``at``: what :meth:`waits_at` counts.

        A contact that left after ``at`` (its event is newer than a replay's watermark) was still waiting
        then; a wallboard that leaves it out shows a younger oldest wait beside the alarm it raised.
        """
        out = [(leg.wait_from, leg) for leg in self.waiting.get(queue, {}).values()
               if leg.wait_from is not None and leg.wait_from <= at]
        departed = self._departed.get(queue, [])
        for left_at, wait_from, call_id in departed[bisect_right(departed, (at, float("inf"))):]:
            leg = self.legs.get((queue, call_id))
            # the same stay (a contact back in the queue later has a leg of its own under its id)
            if wait_from <= at and leg is not None and leg.wait_from == wait_from and leg.left_at == left_at:
                out.append((wait_from, leg))
        return out

    # ---------------------------------------------------------- retention

    def expire(self, before_hour: int, departed_before: float) -> None:
        """Forget finished legs whose last event is older than ``before_hour`` (whole hours)."""
        if self._hours and min(self._hours) < before_hour:
            for hour in [h for h in self._hours if h < before_hour]:
                for key in self._hours.pop(hour):
                    leg = self.legs.get(key)
                    if leg is not None and leg.status != "waiting" and int(leg.last_ts // 3600) <= hour:
                        del self.legs[key]
                        self.dirty.add(key)
        for departed in self._departed.values():
            if departed and departed[0][0] < departed_before:
                del departed[:bisect_left(departed, (departed_before, NEG_INF))]

    def reindex(self, done: float) -> None:
        """The derived indexes from the legs (after a restore)."""
        for key, leg in self.legs.items():
            if leg.status == "waiting" and leg.wait_from is not None:
                self.waiting.setdefault(leg.queue, {})[leg.call_id] = leg
            self._hours.setdefault(int(leg.last_ts // 3600), []).append(key)
            if leg.arrived_at is not None and leg.left_at is not None and leg.left_at > done:
                self._recently_left.setdefault(leg.queue, []).append((leg.arrived_at, leg.left_at))
            if leg.wait_from is not None and leg.left_at is not None:
                self._departed.setdefault(leg.queue, []).append((leg.left_at, leg.wait_from, leg.call_id))
        for departed in self._departed.values():
            departed.sort()

    def absorb(self, other: QueueCalls) -> None:
        self.legs.update(other.legs)
        for q, legs in other.waiting.items():
            self.waiting.setdefault(q, {}).update(legs)
