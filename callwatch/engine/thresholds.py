"""The threshold alarms of METRICS.md: abandonment high, service level low, no agents, feed silent.

They are decided at fixed instants, every ``EVAL_S`` seconds of the engine's "now", from the state *as
of that instant*: whole minutes before it, agent states and waiting contacts at that moment. So a
replay decides them at the same moments, with the same result, however its events were batched or
reordered within the lateness. An alarm starts once, is sent again after its rule's repeat interval
while it lasts, and resolves with hysteresis.

Cost follows the events: an instant is visited for a subject only when its result can differ from the
previous visit — an input changed (an event in one of its windows, a caller arriving or leaving, an
agent changing state, a source's event), a minute enters or leaves a window, or a timed step is due (a
repeat, the end of a rule's ``for`` period, the moment a source becomes silent). Those instants wait in
a heap; between them a subject's result is the same as at its last visit, so nothing is lost by not
looking. An idle night costs nothing.
"""

from __future__ import annotations

import heapq
from typing import Protocol

from callwatch.alarm import Alarm
from callwatch.alarm_rules import AlarmRules, QueueRules
from callwatch.config import MonitorConfig, QueueConfig
from callwatch.engine.aggregates import MINUTE_S
from callwatch.engine.records import ActiveThreshold
from callwatch.engine.rolling import RollingCounts

EVAL_S = 15.0
NEG_INF = float("-inf")
_QUEUE, _SOURCE = 0, 1


def grid_after(t: float) -> float:
    """The first evaluation instant at or after ``t``."""
    k = -(-t // EVAL_S)
    return k * EVAL_S


class FloorAsOf(Protocol):
    """What the alarms read from the rest of the engine, as of an instant (no state of theirs)."""

    def waiting_at(self, queue: str, at: float) -> int: ...

    def agents_at(self, queue: str, at: float) -> dict[str, int]: ...

    def service_level_15m(self, queue: str, at: float) -> float | None: ...


class ThresholdAlarms:
    """The threshold alarms' state (pending or active, per alarm and subject) and their agenda."""

    def __init__(self, config: MonitorConfig, windows: RollingCounts) -> None:
        self.config = config
        self.rules: AlarmRules = config.alarms
        self.windows = windows
        #: alarm:subject -> its state (persisted)
        self.active: dict[str, ActiveThreshold] = {}
        self.dirty: set[str] = set()
        #: the last evaluation instant passed (persisted)
        self.evaluated_to = NEG_INF
        self._agenda: list[tuple[float, int, str]] = []
        self._booked: set[tuple[float, int, str]] = set()
        self._queue_rules: dict[str, QueueRules] = {}
        self._queue_config: dict[str, QueueConfig] = {}
        self._lengths: dict[str, tuple[float, ...]] = {}
        #: sources with a silence deadline booked
        self._silence_booked: set[str] = set()
        #: the last instant the current advance reaches (a repeat that fell behind jumps to the latest due)
        self._limit = NEG_INF
        #: subjects visited so far (what the work costs: follows the changes, never the calendar)
        self.visits = 0

    # ----------------------------------------------------------- agenda

    def _book(self, t: float, kind: int, subject: str) -> None:
        floor = self.evaluated_to + EVAL_S
        # no instant before the next one is visited any more (and -inf has no grid instant)
        t = floor if t <= floor else grid_after(t)
        item = (t, kind, subject)
        if item not in self._booked:
            self._booked.add(item)
            heapq.heappush(self._agenda, item)

    def queue_changed(self, queue: str, ts: float) -> None:
        """A caller arrived or left, or an agent serving the queue changed state, at ``ts``."""
        self._book(ts, _QUEUE, queue)

    def minute_changed(self, queue: str, minute: int, new: bool) -> None:
        """Counts of a minute changed: the windows it enters, leaves or lies in change with it."""
        self._book(minute + MINUTE_S, _QUEUE, queue)
        if new:
            for length in self._window_lengths(queue):
                self._book(minute + MINUTE_S + length, _QUEUE, queue)

    def source_seen(self, source: str, last: float) -> None:
        """A source's newest event time moved to ``last``."""
        if source in self._silence_booked:
            return  # its silence is booked; when that falls due it moves to this newer time
        fs = self.rules.feed_silent
        if not fs.enabled:
            return
        if f"feed_silent:{source}" in self.active:
            self._book(self.evaluated_to + EVAL_S, _SOURCE, source)
        elif source not in self._silence_booked:
            # one booking per source at a time: when it falls due and the source spoke since, it moves
            # to the new moment of silence instead of being visited (a busy source costs nothing)
            self._silence_booked.add(source)
            self._book(self._silent_from(last), _SOURCE, source)

    def _silent_from(self, last: float) -> float:
        """The first instant strictly after ``last + after_s``: a source silent since ``last`` is silent then."""
        return (int((last + self.rules.feed_silent.after_s) // EVAL_S) + 1) * EVAL_S

    def next_instant(self) -> float | None:
        return self._agenda[0][0] if self._agenda else None

    # ------------------------------------------------------------ clock

    def advance(self, clock: float, known_queues: set[str], staffed: set[str], sources: dict[str, float],
                floor: FloorAsOf) -> list[Alarm]:
        """Visit every booked instant up to ``clock``; returns the alarms they decided."""
        out: list[Alarm] = []
        if clock == NEG_INF or clock < self.evaluated_to + EVAL_S:
            return out
        limit = int(clock // EVAL_S) * EVAL_S
        self._limit = limit
        if self.evaluated_to == NEG_INF:
            # the first instant looks at everything; what was booked for it or before is covered
            while self._agenda and self._agenda[0][0] <= limit:
                item = heapq.heappop(self._agenda)
                self._booked.discard(item)
                if item[1] == _SOURCE:
                    self._silence_booked.discard(item[2])
            self._visit(limit, sorted(known_queues), sorted(sources), staffed, sources, floor, out)
            self.evaluated_to = limit
            return out
        agenda = self._agenda
        while agenda and agenda[0][0] <= limit:
            at = agenda[0][0]
            queues: list[str] = []
            srcs: list[str] = []
            while agenda and agenda[0][0] == at:
                item = heapq.heappop(agenda)
                self._booked.discard(item)
                if item[1] == _QUEUE:
                    queues.append(item[2])
                    continue
                source = item[2]
                self._silence_booked.discard(source)
                last = sources.get(source)
                if last is not None and f"feed_silent:{source}" not in self.active:
                    due = self._silent_from(last)
                    if due > at:  # it spoke since this was booked: silent later, if at all
                        self._silence_booked.add(source)
                        self._book(due, _SOURCE, source)
                        continue
                srcs.append(source)
            self.evaluated_to = at  # what is booked while visiting ``at`` falls after it
            self._visit(at, sorted(q for q in set(queues) if q in known_queues), sorted(set(srcs)), staffed,
                        sources, floor, out)
        self.evaluated_to = limit
        return out

    def _visit(self, at: float, queues: list[str], srcs: list[str], staffed: set[str], sources: dict[str, float],
               floor: FloorAsOf, out: list[Alarm]) -> None:
        self.visits += len(queues) + len(srcs)
        for queue in queues:
            self._evaluate_queue(queue, at, queue in staffed, floor, out)
        fs = self.rules.feed_silent
        if fs.enabled:
            for source in srcs:
                last = sources.get(source)
                if last is None:
                    continue
                silence = max(at - last, 0.0)
                # in a replay the source's next event may already be in (within the lateness): the
                # feed came back at that event, not at this instant
                moment = max(at, last) if silence <= fs.after_s else at
                self._step("feed_silent", _SOURCE, source, moment, breached=silence > fs.after_s,
                           clear=silence <= fs.after_s, value=silence, threshold=fs.after_s, unit="seconds",
                           metric="silence", severity=fs.severity, repeat_s=fs.repeat_s, floor=None, out=out)
                if f"feed_silent:{source}" not in self.active:
                    self.source_seen(source, last)  # not silent (any more): when it would be next

    def _rules_of(self, queue: str) -> tuple[QueueRules, QueueConfig]:
        qr = self._queue_rules.get(queue)
        if qr is None:
            qr = self._queue_rules[queue] = self.rules.for_queue(queue)
            self._queue_config[queue] = self.config.for_queue(queue)
        return qr, self._queue_config[queue]

    def _window_lengths(self, queue: str) -> tuple[float, ...]:
        found = self._lengths.get(queue)
        if found is None:
            qr, _ = self._rules_of(queue)
            found = self._lengths[queue] = tuple(sorted(
                {r.window_s for r in (qr.abandonment_high, qr.service_level_low) if r.enabled}))
        return found

    def _evaluate_queue(self, queue: str, at: float, staffed: bool, floor: FloorAsOf,
                        out: list[Alarm]) -> None:
        qr, qc = self._rules_of(queue)
        ab = qr.abandonment_high
        if ab.enabled:
            w = self.windows.window(queue, ab.window_s, at)
            volume = w.answered + w.abandoned + w.dequeued
            rate = w.abandoned / volume if volume else 0.0
            enough = volume >= ab.min_contacts
            self._step("abandonment_high", _QUEUE, queue, at, breached=enough and rate > ab.threshold,
                       clear=not enough or rate <= ab.threshold - ab.hysteresis, value=rate,
                       threshold=ab.threshold, unit="ratio", metric="abandonment_rate", severity=ab.severity,
                       repeat_s=ab.repeat_s, floor=floor, out=out)
        slr = qr.service_level_low
        if slr.enabled:
            w = self.windows.window(queue, slr.window_s, at)
            sl = w.service_level(qc.service_level_formula.value)
            enough = sl is not None and w.answered + w.abandoned >= slr.min_contacts
            target = qc.service_level_target
            self._step("service_level_low", _QUEUE, queue, at, breached=enough and sl is not None and sl < target,
                       clear=not enough or (sl is not None and sl >= target + slr.hysteresis),
                       value=sl or 0.0, threshold=target, unit="ratio", metric="service_level",
                       severity=slr.severity, repeat_s=slr.repeat_s, floor=floor, out=out)
        na = qr.no_agents
        # a source that never says which agents serve the queue (per-call records) cannot tell
        # "no agents" from "no agent data": the alarm needs the queue in some agent's queues
        if na.enabled and staffed:
            waiting = floor.waiting_at(queue, at)
            agents = floor.agents_at(queue, at)
            serving = agents["available"] + agents["busy"]
            self._step("no_agents", _QUEUE, queue, at, breached=waiting > 0 and serving == 0,
                       clear=serving > 0 or waiting == 0, value=waiting, threshold=na.for_s, unit="contacts",
                       metric="waiting", severity=na.severity, repeat_s=na.repeat_s, for_s=na.for_s, floor=floor,
                       out=out)

    def _step(self, alarm: str, kind: int, subject: str, at: float, breached: bool, clear: bool, value: float,
              threshold: float, unit: str, metric: str, severity: str, repeat_s: float, floor: FloorAsOf | None,
              out: list[Alarm], for_s: float = 0.0) -> None:
        """Start (after ``for_s`` of breach), repeat or resolve one alarm for one subject."""
        key = f"{alarm}:{subject}"
        state = self.active.get(key)
        if state is None:
            if not breached:
                return
            state = self.active[key] = ActiveThreshold(alarm, subject, "pending", at)
            self.dirty.add(key)
        if state.status == "pending":
            if not breached:
                del self.active[key]
            elif at - state.since >= for_s:
                state.status, state.last_sent = "active", at
                out.append(self._alarm(alarm, "started", subject, at, state.since, severity, value, threshold,
                                       unit, metric, floor))
                self._book(self._next_repeat(at, repeat_s), kind, subject)
            else:
                self._book(state.since + for_s, kind, subject)
            self.dirty.add(key)
            return
        if clear:
            out.append(self._alarm(alarm, "resolved", subject, at, state.since, severity, value, threshold, unit,
                                   metric, floor))
            del self.active[key]
            self.dirty.add(key)
        elif at - state.last_sent >= repeat_s:
            state.last_sent = at
            self.dirty.add(key)
            out.append(self._alarm(alarm, "repeated", subject, at, state.since, severity, value, threshold, unit,
                                   metric, floor))
            self._book(self._next_repeat(at, repeat_s), kind, subject)
        else:  # still on: its next repeat is due then (booked again after a restore, too)
            self._book(self._next_repeat(state.last_sent, repeat_s), kind, subject)

    def _next_repeat(self, last: float, repeat_s: float) -> float:
        """The next repeat after ``last``; when the clock jumped past several, only the latest due is sent
        (a replay over an idle month, a worker back after an outage: one repeat, not a burst)."""
        due = last + repeat_s
        if due + repeat_s <= self._limit:
            due += ((self._limit - due) // repeat_s) * repeat_s
        return due

    def _alarm(self, alarm: str, status: str, subject: str, at: float, started: float, severity: str,
               value: float, threshold: float, unit: str, metric: str, floor: FloorAsOf | None) -> Alarm:
        waiting = available = 0
        sl = None
        if floor is not None:  # a queue's alarm: its context as of the instant
            waiting = floor.waiting_at(subject, at)
            available = floor.agents_at(subject, at)["available"]
            sl = floor.service_level_15m(subject, at)
        return Alarm(
            alarm=alarm, status=status, queue=subject, at=at, started_at=started, severity=severity,
            value=round(value, 6), threshold=threshold, unit=unit, metric=metric, waiting=waiting,
            agents_available=available, service_level=None if sl is None else round(sl, 6))

    # ---------------------------------------------------------- restore

    def rebook(self, queues: set[str], sources: dict[str, float], newest: float) -> None:
        """After a restore, what the applied events had booked and is not stored: every queue at each
        instant up to the newest event (the events within the lateness booked their own times, which the
        state no longer tells apart), the edges of the windows the counted minutes enter and leave, the
        active and pending alarms' next steps, the sources' silence. A visit where nothing changed
        decides nothing, so booking more than was booked changes no alarm; booking less would move one."""
        if self.evaluated_to == NEG_INF:
            return  # the first instant looks at everything anyway
        last = grid_after(newest) if newest != NEG_INF else self.evaluated_to + EVAL_S
        for queue in queues:
            t = self.evaluated_to + EVAL_S
            while t <= last:
                self._book(t, _QUEUE, queue)
                t += EVAL_S
            for minute in self.windows.minutes(queue):
                self.minute_changed(queue, minute, True)
        for state in self.active.values():
            kind = _SOURCE if state.alarm == "feed_silent" else _QUEUE
            self._book(self.evaluated_to + EVAL_S, kind, state.subject)
        for source, last in sources.items():
            self.source_seen(source, last)
