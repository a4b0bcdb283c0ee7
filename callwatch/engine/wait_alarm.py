"""The wait alarm: a caller has waited longer than the queue's wait window (three minutes by default).

A timer, not a scan: each waiting caller's crossing deadline waits in a heap, and so does each
departure of a caller who had crossed. An incident per queue starts at the first crossing, repeats
every ``repeat_s`` of the rules file's ``wait_window_exceeded`` rule while it lasts, and resolves when
the last caller over the window leaves. Its context (waiting, oldest wait, agents available, service
level) is read as of the alarm's moment, which in a replay lies behind the newest event.
"""

from __future__ import annotations

import heapq

from callwatch.alarm import Alarm
from callwatch.alarm_rules import WaitWindowRule
from callwatch.config import MonitorConfig, QueueConfig
from callwatch.engine.queue_calls import QueueCalls
from callwatch.engine.records import ActiveAlarm, Leg
from callwatch.engine.views import FloorAsOf

WAIT_ALARM = "wait_window_exceeded"
NEG_INF = float("-inf")


class WaitAlarm:
    def __init__(self, config: MonitorConfig) -> None:
        self.config = config
        #: the incident on per queue (persisted)
        self.alarms: dict[str, ActiveAlarm] = {}
        self.dirty: set[str] = set()
        #: how far the timer has run (persisted)
        self.swept_to = NEG_INF
        self._crossings: list[tuple[float, int, str, str]] = []
        self._departures: list[tuple[float, int, str, str]] = []
        self._repeats: list[tuple[float, str]] = []
        #: per queue, the legs (by seq) over the window now
        self._over: dict[str, set[int]] = {}
        self._qc: dict[str, QueueConfig] = {}
        self._rules: dict[str, WaitWindowRule] = {}

    def _window(self, queue: str) -> float:
        qc = self._qc.get(queue)
        if qc is None:
            qc = self._qc[queue] = self.config.for_queue(queue)
        return qc.wait_window_s

    def _rule(self, queue: str) -> WaitWindowRule:
        rule = self._rules.get(queue)
        if rule is None:
            rule = self._rules[queue] = self.config.alarms.for_queue(queue).wait_window_exceeded
        return rule

    # ------------------------------------------------------------ input

    def entered(self, leg: Leg) -> None:
        """A caller started waiting: its crossing deadline joins the timer."""
        assert leg.wait_from is not None
        heapq.heappush(self._crossings, (leg.wait_from + self._window(leg.queue), leg.seq, leg.queue, leg.call_id))

    def left(self, leg: Leg, ts: float, wait: float) -> None:
        """A caller left the queue at ``ts`` after ``wait`` seconds."""
        if wait > self._window(leg.queue):
            heapq.heappush(self._departures, (ts, leg.seq, leg.queue, leg.call_id))
        elif leg.seq in self._over.get(leg.queue, ()):
            # the timer passed the crossing before this (late) event said the caller had left in time:
            # the alarm was wrong, and it resolves now rather than never
            heapq.heappush(self._departures, (max(ts, self.swept_to), leg.seq, leg.queue, leg.call_id))

    def next_deadline(self) -> float | None:
        """When the timer next has something to decide (for a driver's sleep)."""
        times = [heap[0][0] for heap in (self._crossings, self._departures, self._repeats) if heap]
        return min(times) if times else None

    # ------------------------------------------------------------ timer

    def sweep(self, now: float, calls: QueueCalls, floor: FloorAsOf) -> list[Alarm]:
        """Decide every crossing, departure and repeat due by ``now``, in time order."""
        out: list[Alarm] = []
        crossings, departures, repeats = self._crossings, self._departures, self._repeats
        inf = float("inf")
        if (not crossings or crossings[0][0] > now) and (not departures or departures[0][0] > now) and (
                not repeats or repeats[0][0] > now):
            if now > self.swept_to:  # nothing due: the common case, one look at three heaps
                self.swept_to = now
            return out
        while True:
            c = crossings[0][0] if crossings else inf
            d = departures[0][0] if departures else inf
            r = repeats[0][0] if repeats else inf
            # on a tie the crossing goes first, so an incident handed from one caller to the next
            # stays one incident; a repeat goes last, so a resolved incident does not repeat
            if c <= now and c <= d and c <= r:
                deadline, seq, queue, call_id = heapq.heappop(crossings)
                leg = calls.get((queue, call_id))
                if leg is None or leg.seq != seq or (leg.left_at is not None and leg.left_at <= deadline):
                    continue
                self._over.setdefault(queue, set()).add(seq)
                rule = self._rule(queue)
                if queue not in self.alarms and rule.enabled:
                    self.alarms[queue] = ActiveAlarm(queue, deadline, call_id, last_sent=deadline)
                    self.dirty.add(queue)
                    out.append(self._alarm("started", queue, deadline, call_id, calls, floor))
                    heapq.heappush(repeats, (deadline + rule.repeat_s, queue))
            elif d <= now and d <= r:
                left_at, seq, queue, call_id = heapq.heappop(departures)
                crossed = self._over.get(queue)
                if not crossed or seq not in crossed:
                    continue
                crossed.discard(seq)
                if not crossed and queue in self.alarms:
                    out.append(self._alarm("resolved", queue, left_at, call_id, calls, floor))
                    del self.alarms[queue]
                    self.dirty.add(queue)
            elif r <= now:
                at, queue = heapq.heappop(repeats)
                active = self.alarms.get(queue)
                repeat_s = self._rule(queue).repeat_s
                if active is None or at < active.last_sent + repeat_s:
                    continue  # resolved since, or a later incident with its own schedule
                if at + repeat_s <= now:  # a timer that fell behind sends the latest repeat due, not a burst
                    at += ((now - at) // repeat_s) * repeat_s
                active.last_sent = at
                self.dirty.add(queue)
                out.append(self._alarm("repeated", queue, at, active.call_id, calls, floor))
                heapq.heappush(repeats, (at + repeat_s, queue))
            else:
                break
        if now > self.swept_to:
            self.swept_to = now
        return out

    def _alarm(self, status: str, queue: str, at: float, call_id: str, calls: QueueCalls,
               floor: FloorAsOf) -> Alarm:
        active = self.alarms[queue]
        window = self._window(queue)
        waits = calls.waits_at(queue, at)
        oldest = max(waits, default=0.0)
        if status == "started":
            oldest = max(oldest, window)
        # the whole minutes before the alarm: all their events are in, whatever the arrival order
        sl15 = floor.service_level_15m(queue, at)
        return Alarm(
            alarm=WAIT_ALARM, status=status, queue=queue, at=at,
            started_at=max(active.started_at, 0.0), severity=self._rule(queue).severity,
            value=round(oldest, 3), threshold=window, unit="seconds", metric="oldest_wait",
            call_id=call_id, waiting=len(waits), agents_available=floor.agents_at(queue, at)["available"],
            service_level=None if sl15 is None else round(min(max(sl15, 0.0), 1.0), 6),
            over_window=len(self._over.get(queue, ())),
        )

    # ---------------------------------------------------------- restore

    def reindex(self, calls: QueueCalls) -> None:
        """The timer's heaps from the legs and the incidents on (after a restore)."""
        swept = self.swept_to
        for (queue, call_id), leg in calls.legs.items():
            if leg.wait_from is None:
                continue
            deadline = leg.wait_from + self._window(queue)
            crossed = leg.left_at is None or leg.left_at > deadline
            if not crossed:
                continue
            if deadline > swept:
                heapq.heappush(self._crossings, (deadline, leg.seq, queue, call_id))
            elif leg.left_at is None or leg.left_at > swept:
                self._over.setdefault(queue, set()).add(leg.seq)
            if leg.left_at is not None and leg.left_at > swept:
                heapq.heappush(self._departures, (leg.left_at, leg.seq, queue, call_id))
        for queue, active in self.alarms.items():
            # a state from before repeats existed has no last_sent: it counts from the start
            last = max(active.last_sent, active.started_at)
            heapq.heappush(self._repeats, (last + self._rule(queue).repeat_s, queue))
