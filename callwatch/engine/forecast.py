"""Ahead of the line: predicted waits, the early warning and the staffing advice, per queue.

Fed by the contact handlers (a caller entered, left, a conversation ended, its after-contact work) and
by agent state changes, with their event time; it reads the waiting callers (:mod:`queue_calls`) and
who serves which queue (:mod:`agents`), and owns only what it derives.

**Predicted wait at entry.** Chosen by measurement on the bank's three months (``bench/predict_eval.py``):
per queue, the running *median* wait of the callers that entered with the same number of callers ahead
of them (waiting, of their priority or higher; 30 or more is one cell) and the same priority. Each
answer moves its cell's estimate ``STEP_S`` toward the wait it realised (a stochastic median: O(1) per
answer, no window to scan, adapts to a changing floor). The mean absolute error is what is judged, and
a median minimises it; the mean of the same cells did markedly worse on the bank's skewed waits. A cell
not seen yet extends the nearest learned cell with fewer callers ahead by the time between answers
per caller more. A prediction uses only what was applied before the caller's ``call.queued``, so a log
cut after it gives the same prediction.

**Per waiting caller and the early warning.** A queue-position estimate: the caller at place ``k`` in
line (priority, then wait) is answered after about ``k × s``, ``s`` the mean time between answers: the
average handle time of the last 15 minutes over the agents serving the queue (an agent serving several
queues counts in each by the share of their offered load, see :meth:`Forecast.staffed_share`), or, with
no agent states from the source, over the agents who answered in the queue in the last 15 minutes. A
caller's predicted wait is its wait so far plus that. For the early warning, callers ahead who give up
move the line too (Erlang A: each waiting caller leaves at the abandonment hazard of the last 15
minutes). As every wait grows with the clock, the instant a prediction will pass the window is known
in advance; the warning starts ``HOLD_S`` after it unless a change in between clears the prediction
(persistence). A forecast of a random line stays uncertain: bench/warning_eval.py measures how often
it comes true. No new warning starts within ``REWARN_S`` of a caller leaving over the window (the wait
alarm has told of that overload; the queue's next change after it decides), and none for a queue whose
source sends no agent states unless the rule asks (a capacity guessed from who answered:
bench/warning_bank.py).

Like the other alarms, the warning is decided at instants the engine's clock has passed (the watermark
in a replay, the wall clock live), from the floor *as of* each instant: the callers waiting then
(:meth:`QueueCalls.waiting_legs_at`), the agents' states then, and the events of the 15 minutes up to
it, kept at their own event times (``_Past``). The instants are booked in a heap: each change's event
time, and the starts and repeats falling due; so a late event within the lateness lands where it
belongs, and any arrival order gives the same warnings. What its future depends on (the pending start,
the re-warning pause, the instants booked, that past) is saved with the state and restored.

**Staffing advice.** Erlang C (:mod:`callwatch.erlang`) on the last 15 minutes' arrivals and average
handle time: the fewest agents that meet the queue's service-level target at its threshold T.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from callwatch.alarm import Alarm
from callwatch.alarm_rules import WaitForecastRule
from callwatch.config import MonitorConfig, QueueConfig
from callwatch.engine.agents import Agents
from callwatch.engine.queue_calls import QueueCalls
from callwatch.engine.records import AgentRecord, Leg
from callwatch.engine.views import FloorAsOf
from callwatch.erlang import agents_needed
from callwatch.events import Channel

#: the recent past the rates and handle times are taken from
WINDOW_S = 900.0
#: callers ahead from which the wait is one cell
MAX_AHEAD = 30
#: how far one answer moves its cell's median estimate, seconds
STEP_S = 3.0
WARNING = "wait_window_forecast"
#: the early warning counts a caller's predicted wait less this many standard deviations of the time
#: the line ahead takes. With persistence (HOLD_S) the mean itself does best: measured on the simulated
#: ramps (bench/warning_eval.py, seeds 1-10), 0.5 with 30 s warned 62 % of first crossings, 0.25 75 %
CAUTION_Z = 0.0
#: the early warning starts only once its prediction has held this long with no event clearing it
#: (persistence: a line that spikes for a moment, one caller near the window answered the next second,
#: is not a forecast; those were most of the false warnings). Measured with CAUTION_Z 0 and hysteresis
#: 60 s (bench/warning_eval.py, seeds 1-10; warned share, median lead, false share): none 100 %, 168 s,
#: 37 %; 10 s 100 %, 160 s, 37 %; 30 s 85 %, 136 s, 16 %; 45 s 80 %, 116 s, 13 %; 60 s 72 %, 100 s, 10 %
HOLD_S = 30.0
#: no new warning within this long of a caller last seen over the window: in the same overload the wait
#: alarm has told the floor already. Measured (bench/warning_eval.py; ramp warnings with no crossing
#: within the horizon, of them re-warnings): off, 9 of 58, 6 (held-out seeds 9 of 56, 4); 900 s, 4 of
#: 46, 1 (held-out 7 of 48, 2), with the same first crossings warned and leads (85 %, 136 s; 87 %, 120 s)
REWARN_S = 900.0
INF = math.inf
#: kinds of the early warning's instants: a start or repeat falls due; an input changed
TIMED, CHANGED = 0, 1
#: agent states that serve a queue now (not away, not offline)
SERVING = ("available", "busy", "wrap_up")


@dataclass(slots=True)
class _Recent:
    """Times (sorted) and values of what happened in a queue in the last ``WINDOW_S``, with their sum."""

    times: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    total: float = 0.0

    def add(self, t: float, value: float = 1.0) -> None:
        i = len(self.times) if not self.times or self.times[-1] <= t else bisect_left(self.times, t)
        self.times.insert(i, t)
        self.values.insert(i, value)
        self.total += value

    def expire(self, before: float) -> None:
        times = self.times
        if not times or times[0] >= before:
            return
        n = bisect_left(times, before)
        if n:
            self.total -= sum(self.values[:n])
            del self.times[:n], self.values[:n]
            if not self.times:
                self.total = 0.0  # no float dust left behind

    def __len__(self) -> int:
        return len(self.times)


T = TypeVar("T")


class _Timeline(Generic[T]):
    """Event times (sorted) and values, read as of an instant: what happened in the ``WINDOW_S`` up to
    it. A late event is inserted where it belongs, and a sum is taken exactly (``math.fsum``), so the
    figures as of an instant do not depend on the order the events came in."""

    __slots__ = ("times", "values")

    def __init__(self) -> None:
        self.times: list[float] = []
        self.values: list[T] = []

    def add(self, t: float, value: T) -> None:
        i = len(self.times) if not self.times or self.times[-1] <= t else bisect_right(self.times, t)
        self.times.insert(i, t)
        self.values.insert(i, value)

    def window(self, at: float) -> list[T]:
        """The values of the events in ``[at - WINDOW_S, at]``."""
        return self.values[bisect_left(self.times, at - WINDOW_S):bisect_right(self.times, at)]

    def expire(self, before: float) -> None:
        if self.times and self.times[0] < before:
            n = bisect_left(self.times, before)
            del self.times[:n], self.values[:n]

    def dump(self) -> list[list[Any]]:
        return [[t, v] for t, v in zip(self.times, self.values, strict=True)]

    def restore(self, rows: list[list[Any]], kind: type) -> None:
        for t, v in rows:
            self.add(float(t), kind(v))


@dataclass(slots=True)
class _Past:
    """What the early warning of a queue reads as of an instant, at each event's own time: kept for the
    instants still to decide (those the clock has not passed) and the window before them."""

    arrivals: _Timeline[float] = field(default_factory=_Timeline)
    #: conversations ended (talk) and after-contact work (at the wrap-up's own time)
    ended: _Timeline[float] = field(default_factory=_Timeline)
    acw: _Timeline[float] = field(default_factory=_Timeline)
    #: the waits of the callers who left answered or abandoned (1.0 abandoned, else 0.0 beside it)
    waited: _Timeline[float] = field(default_factory=_Timeline)
    abandons: _Timeline[float] = field(default_factory=_Timeline)
    #: who answered (capacity, for a source that sends no agent states)
    answers: _Timeline[str] = field(default_factory=_Timeline)
    #: callers leaving over the window (re-warnings wait REWARN_S after the last)
    overs: _Timeline[float] = field(default_factory=_Timeline)

    def timelines(self) -> dict[str, _Timeline[Any]]:
        return {"arrivals": self.arrivals, "ended": self.ended, "acw": self.acw, "waited": self.waited,
                "abandons": self.abandons, "answers": self.answers, "overs": self.overs}

    def expire(self, before: float) -> None:
        for timeline in self.timelines().values():
            timeline.expire(before)

    def last_over(self, at: float) -> float:
        """The last time a caller over the window left, at or before ``at``."""
        i = bisect_right(self.overs.times, at)
        return self.overs.times[i - 1] if i else -INF


@dataclass(slots=True)
class _Queue:
    arrivals: _Recent = field(default_factory=_Recent)
    answers: _Recent = field(default_factory=_Recent)
    abandons: _Recent = field(default_factory=_Recent)
    #: the waits of the callers who left (answered or abandoned), for the abandonment hazard
    waited: _Recent = field(default_factory=_Recent)
    #: talk + after-contact work of the conversations that ended (ACW counted when it comes)
    handle: _Recent = field(default_factory=_Recent)
    ended: _Recent = field(default_factory=_Recent)
    #: (callers ahead, priority) -> the running median wait
    cells: dict[tuple[int, int], float] = field(default_factory=dict)
    #: the waiting callers' cells and predictions at entry, by (call id, leg seq)
    entries: dict[tuple[str, int], tuple[tuple[int, int], float]] = field(default_factory=dict)
    #: the early warning: when it falls due (inf: not predicted), whether it is on, when it was last sent
    due: float = INF
    due_value: float = 0.0
    #: the instant the current prediction passes the window (given no further event), and since when
    #: it has held (None: not now); the warning starts HOLD_S after the latter
    pred_due: float = INF
    true_since: float | None = None
    #: when the caller that warning is about would pass the window
    due_cross: float = INF
    #: the last event time a waiting caller was over the window (re-warnings wait REWARN_S after it)
    over_at: float = -INF
    active_since: float | None = None
    last_sent: float = 0.0
    channel: str = "voice"
    #: the earliest time in any of the recent windows (nothing to expire before it: cheap per event)
    earliest: float = INF

    def add(self, recent: _Recent, t: float, value: float = 1.0) -> None:
        recent.add(t, value)
        if t < self.earliest:
            self.earliest = t
    #: agent -> their latest answer here (capacity, for a source that sends no agent states)
    answered_by: dict[str, float] = field(default_factory=dict)
    #: the events the early warning reads as of its instants (None: no early warning on the floor)
    past: _Past | None = None


@dataclass(frozen=True, slots=True)
class Staffing:
    """The staffing advice of one queue now."""

    agents_needed: int | None
    #: agents serving the queue, each shared between its queues by their offered load
    agents_staffed_shared: float
    offered_load: float
    aht_s: float | None
    arrivals_per_s: float


class Forecast:
    def __init__(self, config: MonitorConfig, calls: QueueCalls, agents: Agents) -> None:
        self.config = config
        self.calls = calls
        self.agents = agents
        self._queues: dict[str, _Queue] = {}
        self._qc: dict[str, QueueConfig] = {}
        self._rules: dict[str, WaitForecastRule] = {}
        self.newest = -INF
        #: (instant, kind, queue) the early warning decides at: an input changed then (CHANGED), or a
        #: start or repeat falls due (TIMED; stale ones are skipped); visited once the clock passes them
        self._agenda: list[tuple[float, int, str]] = []
        self._booked: set[tuple[float, int, str]] = set()
        #: the engine's clock at the last advance: the instants up to it are decided
        self.decided_to = -INF
        #: whether any queue has the early warning on (then every queue keeps its past: an agent shared
        #: with another queue counts by that queue's offered load as of the instant)
        rules = config.alarms
        self._keeps = any(rules.for_queue(name).wait_window_forecast.enabled for name in [*rules.queues, ""])
        #: alarms decided and not yet handed out (the clock had not reached them)
        self._pending: list[tuple[float, int, str, str, float, float, float, float]] = []
        self._seq = 0
        #: with a list here, every prediction at entry is recorded (the replay's --predictions)
        self.record: list[list[Any]] | None = None
        self._rows: dict[tuple[str, str, int], int] = {}

    def _q(self, queue: str) -> _Queue:
        found = self._queues.get(queue)
        if found is None:
            found = self._queues[queue] = _Queue(past=_Past() if self._keeps else None)
        return found

    def _past(self, q: _Queue) -> _Past | None:
        """The queue's past, what no instant still to decide reads any more forgotten."""
        past = q.past
        if past is not None:
            past.expire(self.decided_to - WINDOW_S)
        return past

    def _config(self, queue: str) -> QueueConfig:
        qc = self._qc.get(queue)
        if qc is None:
            qc = self._qc[queue] = self.config.for_queue(queue)
        return qc

    def _rule(self, queue: str) -> WaitForecastRule:
        rule = self._rules.get(queue)
        if rule is None:
            rule = self._rules[queue] = self.config.alarms.for_queue(queue).wait_window_forecast
        return rule

    def _tick(self, ts: float, q: _Queue) -> None:
        if ts > self.newest:
            self.newest = ts
        before = self.newest - WINDOW_S
        if before <= q.earliest:
            return
        windows = (q.arrivals, q.answers, q.abandons, q.waited, q.handle, q.ended)
        for recent in windows:
            recent.expire(before)
        q.earliest = min((recent.times[0] for recent in windows if recent.times), default=INF)

    # ------------------------------------------------------------ events

    def entered(self, leg: Leg, ts: float) -> float:
        """A caller entered the queue (already among its waiting): its predicted wait, recorded."""
        q = self._q(leg.queue)
        self._tick(ts, q)
        ahead = sum(1 for other in self.calls.waiting.get(leg.queue, {}).values()
                    if other is not leg and other.priority >= leg.priority)
        cell = (min(ahead, MAX_AHEAD), leg.priority)
        predicted = self._estimate(q, leg.queue, cell)
        q.entries[(leg.call_id, leg.seq)] = (cell, predicted)
        q.channel = leg.channel
        if ts >= self.newest - WINDOW_S:
            q.add(q.arrivals, ts)
        past = self._past(q)
        if past is not None:
            past.arrivals.add(ts, 1.0)
        if self.record is not None:
            self._rows[(leg.queue, leg.call_id, leg.seq)] = len(self.record)
            entered = leg.arrived_at if leg.arrived_at is not None else ts
            self.record.append([leg.call_id, leg.queue, entered, round(predicted, 3), None, "waiting"])
        self._changed(leg.queue, ts)
        return predicted

    def left(self, leg: Leg, ts: float, wait: float, outcome: str) -> None:
        """A caller left the queue: answered (its wait teaches its cell), abandoned or dequeued."""
        q = self._q(leg.queue)
        self._tick(ts, q)
        entry = q.entries.pop((leg.call_id, leg.seq), None)
        if outcome == "answered":
            if ts >= self.newest - WINDOW_S:
                q.add(q.answers, ts)
            if leg.agent is not None and ts > q.answered_by.get(leg.agent, -INF):
                q.answered_by[leg.agent] = ts
            if entry is not None:
                cell = entry[0]
                have = q.cells.get(cell)
                if have is None:
                    have = self._estimate(q, leg.queue, cell)
                q.cells[cell] = have + (STEP_S if wait > have else -STEP_S if wait < have else 0.0)
        elif outcome == "abandoned" and ts >= self.newest - WINDOW_S:
            q.add(q.abandons, ts)
        if outcome != "dequeued" and ts >= self.newest - WINDOW_S:
            q.add(q.waited, ts, wait)
        past = self._past(q)
        if past is not None:
            if wait > self._config(leg.queue).wait_window_s:
                past.overs.add(ts, 1.0)  # a caller over the window leaves: the overload's end as the floor saw it
            if outcome != "dequeued":
                past.waited.add(ts, wait)
            if outcome == "abandoned":
                past.abandons.add(ts, 1.0)
            elif outcome == "answered" and leg.agent is not None:
                past.answers.add(ts, leg.agent)
        if self.record is not None:
            row = self._rows.pop((leg.queue, leg.call_id, leg.seq), None)
            if row is not None:
                self.record[row][4] = round(wait, 3)
                self.record[row][5] = outcome
        self._changed(leg.queue, ts)

    def conversation_ended(self, queue: str, ts: float, talk: float) -> None:
        q = self._q(queue)
        self._tick(ts, q)
        if ts >= self.newest - WINDOW_S:
            q.add(q.handle, ts, talk)
            q.add(q.ended, ts)
        past = self._past(q)
        if past is not None:
            past.ended.add(ts, talk)

    def wrapped(self, queue: str, ended_at: float, acw: float) -> None:
        q = self._q(queue)
        if ended_at >= self.newest - WINDOW_S:
            q.add(q.handle, ended_at, acw)
        past = self._past(q)
        if past is not None:
            # as of an instant, at the wrap-up's own time (acw is that time less the end): an instant
            # before it must not see it, however early the wrap-up came in
            past.acw.add(ended_at + acw, acw)

    def agent_changed(self, queues: list[str], ts: float) -> None:
        """An agent serving these queues changed state or skills: their capacity changed."""
        for queue in queues:
            if queue in self._queues:
                self._changed(queue, ts)

    # ------------------------------------------------------- predictions

    def _estimate(self, q: _Queue, queue: str, cell: tuple[int, int]) -> float:
        """The cell's running median; a cell not learned yet extends the nearest learned one with fewer
        callers ahead by one place in line (the time between answers) per caller more. Borrowing that
        cell's median alone told a caller with five ahead and every agent busy "a few seconds"."""
        cells = q.cells
        want, priority = cell
        ahead = want
        while ahead >= 0:
            found = cells.get((ahead, priority))
            if found is not None:
                break
            ahead -= 1
        else:
            found, ahead = 0.0, 0
        found = max(found, 0.0)
        if ahead < want:
            s = self.between_answers(queue)
            if s is not None and s < INF:
                found += (want - ahead) * s
        return found

    def predicted_wait(self, queue: str) -> float:
        """The predicted wait of a caller of priority 0 entering the queue now, seconds."""
        q = self._queues.get(queue)
        if q is None:
            return 0.0
        ahead = len(self.calls.waiting.get(queue, {}))
        return round(self._estimate(q, queue, (min(ahead, MAX_AHEAD), 0)), 3)

    def between_answers(self, queue: str) -> float | None:
        """The mean time between answers while every agent is busy (None: nothing to go by)."""
        q = self._queues.get(queue)
        if q is None:
            return None
        aht = q.handle.total / len(q.ended) if len(q.ended) else None
        if self.agents.by_queue.get(queue):
            share = self.staffed_share(queue)
            if aht is not None and share > 0:
                return aht / share
            return None if share > 0 else INF  # no agent serving: nobody will be answered
        # no agent states from this source: the agents who answered here in the last 15 minutes
        since = self.newest - WINDOW_S
        for name in [n for n, t in q.answered_by.items() if t < since]:
            del q.answered_by[name]
        if aht is not None and q.answered_by:
            return aht / len(q.answered_by)
        return None

    def in_line(self, queue: str) -> list[Leg]:
        """The waiting callers in the order they are answered: priority, then wait."""
        legs = [leg for leg in self.calls.waiting.get(queue, {}).values() if leg.wait_from is not None]
        legs.sort(key=lambda leg: (-leg.priority, leg.wait_from, leg.seq))
        return legs

    def expected_answer_in(self, queue: str, now: float) -> dict[str, float]:
        """Per waiting caller, the expected seconds until answer (its place in line × time between answers,
        or, with nothing to go by, its prediction at entry less its wait so far)."""
        s = self.between_answers(queue)
        q = self._queues.get(queue)
        out: dict[str, float] = {}
        for k, leg in enumerate(self.in_line(queue), start=1):
            if s is not None and s < INF:
                out[leg.call_id] = round(k * s, 3)
            else:
                entry = q.entries.get((leg.call_id, leg.seq)) if q is not None else None
                assert leg.wait_from is not None
                guess = entry[1] - (now - leg.wait_from) if entry is not None else 0.0
                out[leg.call_id] = round(max(guess, 0.0), 3)
        return out

    # ----------------------------------------------------------- staffing

    def offered_load(self, queue: str) -> float:
        """Erlangs offered to the queue over the last 15 minutes: arrivals per second × AHT."""
        q = self._queues.get(queue)
        if q is not None:
            self._tick(self.newest, q)  # a quiet queue's windows move with the floor's newest event
        if q is None or not len(q.ended):
            return 0.0
        return len(q.arrivals) / WINDOW_S * (q.handle.total / len(q.ended))

    def staffed_share(self, queue: str) -> float:
        """Agents serving the queue now (available, busy or in wrap-up), an agent who serves several
        queues counting in each by its share of their offered load (equal shares when none is offered)."""
        return self._share(queue, lambda rec: rec.current[0], self.offered_load)

    def _share(self, queue: str, state_of: Callable[[AgentRecord], str], load_of: Callable[[str], float]) -> float:
        """:meth:`staffed_share` with each agent's state and each queue's offered load read by the given
        functions (now, or as of an instant). Agents in name order and an exact sum, so that the figure
        does not depend on the order the agents were met in."""
        total = 0.0
        records = self.agents.records
        loads: dict[str, float] = {}
        for name in sorted(self.agents.by_queue.get(queue, ())):
            rec = records[name]
            if state_of(rec) not in SERVING:
                continue
            if len(rec.queues) == 1:
                total += 1.0
                continue
            for other in rec.queues:
                if other not in loads:
                    loads[other] = load_of(other)
            together = math.fsum(loads[other] for other in rec.queues)
            total += loads[queue] / together if together > 0 else 1.0 / len(rec.queues)
        return total

    def staffing(self, queue: str) -> Staffing:
        q = self._queues.get(queue)
        if q is not None:
            self._tick(self.newest, q)
        qc = self._config(queue)
        arrivals = len(q.arrivals) / WINDOW_S if q is not None else 0.0
        aht = q.handle.total / len(q.ended) if q is not None and len(q.ended) else None
        load = arrivals * aht if aht is not None else 0.0
        needed = None
        if aht is not None:
            # T of the channel the queue's callers came on last (a queue is in practice one channel)
            threshold = qc.threshold_s(Channel(q.channel if q is not None else "voice"))
            needed = agents_needed(load, aht, threshold, qc.service_level_target)
        return Staffing(needed, round(self.staffed_share(queue), 3), round(load, 3),
                        None if aht is None else round(aht, 3), arrivals)

    # ------------------------------------------------------ early warning
    #
    # Decided like the other alarms: at instants the engine's clock has passed, from the floor as of each
    # instant (the callers waiting then, agent states then, the events of the 15 minutes up to it), so a
    # late event within the lateness lands where it belongs and any arrival order gives the same warnings.
    # An instant is booked when an input changes (an event's own time) or a start or repeat falls due.

    def _changed(self, queue: str, ts: float) -> None:
        """Something the queue's forecast depends on changed at ``ts``: decide again then."""
        if self._rule(queue).enabled:
            # an instant the clock has passed is decided no more: the next one the clock reaches
            self._book(max(ts, self.decided_to), CHANGED, queue)

    def _book(self, at: float, kind: int, queue: str) -> None:
        item = (at, kind, queue)
        if item not in self._booked:
            self._booked.add(item)
            heapq.heappush(self._agenda, item)

    def _line_at(self, queue: str, at: float) -> list[Leg]:
        """The callers waiting at ``at`` in the order they are answered: priority, then wait."""
        legs = [leg for _, leg in self.calls.waiting_legs_at(queue, at)]
        legs.sort(key=lambda leg: (-leg.priority, leg.wait_from, leg.seq))
        return legs

    def _aht_at(self, past: _Past, at: float) -> float | None:
        talks = past.ended.window(at)
        if not talks:
            return None
        return math.fsum(talks + past.acw.window(at)) / len(talks)

    def _load_at(self, queue: str, at: float) -> float:
        """Erlangs offered to the queue in the 15 minutes up to ``at``."""
        q = self._queues.get(queue)
        past = q.past if q is not None else None
        aht = self._aht_at(past, at) if past is not None else None
        if past is None or aht is None:
            return 0.0
        return len(past.arrivals.window(at)) / WINDOW_S * aht

    def _share_at(self, queue: str, at: float) -> float:
        """:meth:`staffed_share` as of ``at``: the agents' states then, the offered loads up to then."""
        return self._share(queue, lambda rec: rec.state_at(at), lambda other: self._load_at(other, at))

    def _between_answers_at(self, queue: str, past: _Past, at: float) -> float | None:
        """:meth:`between_answers` as of ``at``."""
        aht = self._aht_at(past, at)
        if self.agents.by_queue.get(queue):
            share = self._share_at(queue, at)
            if aht is not None and share > 0:
                return aht / share
            return None if share > 0 else INF  # no agent serving: nobody will be answered
        # no agent states from this source: the agents who answered here in the 15 minutes up to ``at``
        answered = set(past.answers.window(at))
        if aht is not None and answered:
            return aht / len(answered)
        return None

    def _predictions(self, queue: str, past: _Past, line: list[Leg], at: float, window: float,
                     horizon: float) -> tuple[float, float, bool, float]:
        """(the instant a prediction first passes ``window``, given no further event; the highest
        prediction a caller's crossing within ``horizon`` has at ``at``; whether a caller is over; when
        the caller of the first instant would cross), all from the floor as of ``at``."""
        s = self._between_answers_at(queue, past, at)
        if s is None:
            return INF, 0.0, False, INF
        due, top, over, cross = INF, 0.0, False, INF
        # callers ahead who give up do not delay the rest (Erlang A): each waiting caller leaves at the
        # abandonment hazard theta (abandons per second waited, the last 15 minutes), so with j callers
        # ahead the line moves at 1/s + j*theta; the caller at place k waits the sum over j < k
        waited = math.fsum(past.waited.window(at))
        theta = len(past.abandons.window(at)) / waited if waited > 0 else 0.0
        rate = 1.0 / s if s > 0 else INF
        mean = var = 0.0
        for k, leg in enumerate(line, start=1):
            assert leg.wait_from is not None
            pace = rate + (k - 1) * theta
            mean += 0.0 if pace == INF else 1.0 / pace if pace > 0 else INF
            var += 0.0 if pace == INF else 1.0 / pace ** 2 if pace > 0 else INF
            ahead = mean - CAUTION_Z * math.sqrt(var) if mean < INF else INF
            crossing = leg.wait_from + window
            if crossing <= at:
                over = True  # already over: the wait alarm's, not a forecast any more
                continue
            mine = max(crossing - ahead, crossing - horizon)
            if mine < due:
                due, cross = mine, crossing
            if crossing - at <= horizon:
                top = max(top, at - leg.wait_from + ahead)
        if horizon > window and 0 < s < INF:
            # a caller arriving before the horizon's end less the window, at the recent rates
            n = len(line)
            arrivals = len(past.arrivals.window(at)) / WINDOW_S
            growth = max(arrivals - rate - n * theta, 0.0) * (horizon - window)
            paces = [rate + j * theta for j in range(int(n + growth) + 1)]
            future = sum(1.0 / p for p in paces) - CAUTION_Z * math.sqrt(sum(1.0 / p ** 2 for p in paces))
            if future > window:
                due, cross = min(due, at), min(cross, at + window)
            top = max(top, future)
        elif s == INF and line:
            due, top, cross = min(due, at), INF, min(cross, at + window)
        return due, top, over, cross

    def _recheck(self, queue: str, ts: float) -> None:
        """An input of the queue's forecast changed at ``ts`` (the clock has passed it): start, book or
        resolve, from the floor as of ``ts``."""
        rule = self._rule(queue)
        q = self._q(queue)
        past = q.past
        if not rule.enabled or past is None:
            return
        if q.active_since is None and q.due <= ts:
            self._start(queue, q, q.due, q.due_value)  # it fell due before this change
        window = self._config(queue).wait_window_s
        line = self._line_at(queue, ts)
        if not line or not (rule.without_agent_states or self.agents.by_queue.get(queue)):
            # nobody waits: an agent is free, the next caller is answered at once — nothing to foretell;
            # or no agent states from the source: the capacity would be guessed (see the rule)
            if q.active_since is not None:
                self._emit(ts, "resolved", queue, q.active_since, 0.0, window)
                q.active_since = None
            q.due, q.pred_due, q.true_since = INF, INF, None
            return
        if q.active_since is not None:
            # on while a caller is over the window: what it forecast has come, and it clears with it
            _, top, over, _ = self._predictions(queue, past, line, ts, window - rule.hysteresis_s, rule.horizon_s)
            if not over and top < window - rule.hysteresis_s:
                self._emit(ts, "resolved", queue, q.active_since, top, window)
                q.active_since = None
            q.due = INF
            return
        if q.true_since is None and q.pred_due <= ts:
            q.true_since = q.pred_due  # what held until this change came true before it
        due, top, over, cross = self._predictions(queue, past, line, ts, window, rule.horizon_s)
        if over:
            q.over_at = ts
        if due <= ts:
            if q.true_since is None:
                q.true_since = ts
            start = q.true_since + HOLD_S
        else:
            q.true_since = None  # this change cleared it: persistence starts over
            start = due + HOLD_S
        q.pred_due = due
        q.due_cross = cross
        if ts < max(q.over_at, past.last_over(ts)) + REWARN_S:
            q.due = INF  # in the overload the wait alarm told of: the queue's next change after it decides
            return
        q.due, q.due_value = max(start, ts), top
        if start <= ts:
            self._start(queue, q, ts, top)
        elif start < INF:
            self._book(start, TIMED, queue)

    def _timed(self, queue: str, at: float) -> None:
        """A start or a repeat booked for ``at`` (stale when a change since moved or cleared it)."""
        q = self._queues[queue]
        if q.active_since is None:
            if q.due == at:
                self._start(queue, q, at, q.due_value)
        elif at == q.last_sent + self._rule(queue).repeat_s:
            q.last_sent = at
            self._emit(at, "repeated", queue, q.active_since, q.due_value, self._config(queue).wait_window_s)
            self._book(at + self._rule(queue).repeat_s, TIMED, queue)

    def _start(self, queue: str, q: _Queue, at: float, value: float) -> None:
        window = self._config(queue).wait_window_s
        q.active_since = q.last_sent = at
        q.due, q.pred_due, q.true_since = INF, INF, None
        self._emit(at, "started", queue, at, max(value, window), window, q.due_cross)
        self._book(at + self._rule(queue).repeat_s, TIMED, queue)

    def _emit(self, at: float, status: str, queue: str, since: float, value: float, window: float,
              cross: float = INF) -> None:
        self._seq += 1
        heapq.heappush(self._pending, (at, self._seq, status, queue, since, value, window, cross))

    def advance(self, clock: float, floor: FloorAsOf) -> list[Alarm]:
        """Decide the early warnings at the instants booked up to ``clock`` (the engine's now), in time
        order, and hand them out."""
        agenda = self._agenda
        while agenda and agenda[0][0] <= clock:
            item = heapq.heappop(agenda)
            self._booked.discard(item)
            at, kind, queue = item
            if kind == TIMED:
                self._timed(queue, at)
            else:
                self._recheck(queue, at)
        if clock > self.decided_to:
            self.decided_to = clock
        out: list[Alarm] = []
        pending = self._pending
        while pending and pending[0][0] <= clock:
            at, _, status, queue, since, value, window, cross = heapq.heappop(pending)
            out.append(self._alarm(status, queue, at, since, value, window, cross, floor))
        return out

    def _alarm(self, status: str, queue: str, at: float, since: float, value: float, window: float,
               cross: float, floor: FloorAsOf) -> Alarm:
        rule = self._rule(queue)
        shown = min(value, 86400.0)  # "nobody will be answered" is shown as a day
        if status == "resolved":
            detail = f"{queue}: no caller predicted to pass {window:.0f} s any more"
        else:
            minutes = max(round((cross - at) / 60), 1) if cross < INF else 1
            detail = (f"{queue}: a caller will pass {window:.0f} s in about {minutes} min at this rate"
                      f" (predicted wait {shown:.0f} s)")
        sl = floor.service_level_15m(queue, at)
        return Alarm(alarm=WARNING, status=status, queue=queue, at=at, started_at=since, severity=rule.severity,
                     value=round(shown, 3), threshold=window, unit="seconds", metric="predicted_wait",
                     waiting=floor.waiting_at(queue, at), agents_available=floor.agents_at(queue, at)["available"],
                     service_level=None if sl is None else round(min(max(sl, 0.0), 1.0), 6), detail=detail)

    # --------------------------------------------------------- persistence

    def to_state(self) -> dict[str, Any]:
        """What cannot be rebuilt from the legs: the learned cells and the warnings on; with the early
        warning on, also what its future depends on: its pending start and re-warning pause, the instants
        booked and the events of its past (at their own times; the legs keep no wrap-up time)."""
        out: dict[str, Any] = {}
        booked: dict[str, list[list[float]]] = {}
        for at, kind, queue in sorted(self._booked):
            booked.setdefault(queue, []).append([at, kind])
        for queue, q in sorted(self._queues.items()):
            saved: dict[str, Any] = {"cells": [[a, p, v] for (a, p), v in sorted(q.cells.items())],
                                     "active_since": q.active_since, "last_sent": q.last_sent}
            if q.past is not None:
                saved["warning"] = {
                    "decided_to": _finite(self.decided_to), "due": _finite(q.due), "due_value": _finite(q.due_value),
                    "pred_due": _finite(q.pred_due), "true_since": q.true_since, "due_cross": _finite(q.due_cross),
                    "over_at": _finite(q.over_at), "booked": booked.get(queue, []),
                    "past": {name: timeline.dump() for name, timeline in q.past.timelines().items()}}
            out[queue] = saved
        return out

    def load(self, state: dict[str, Any], calls: QueueCalls, newest: float) -> None:
        """After a restore: the cells and warnings from ``state``, the recent windows from the legs."""
        self.newest = newest
        for queue, saved in state.items():
            q = self._q(queue)
            q.cells = {(int(a), int(p)): float(v) for a, p, v in saved.get("cells", [])}
            q.active_since = saved.get("active_since")
            q.last_sent = saved.get("last_sent", 0.0)
            warning = saved.get("warning")
            if warning is not None and q.past is not None:
                self.decided_to = max(self.decided_to, _or(warning["decided_to"], -INF))
                q.due, q.due_value = _or(warning["due"], INF), _or(warning["due_value"], INF)
                q.pred_due, q.true_since = _or(warning["pred_due"], INF), warning["true_since"]
                q.due_cross, q.over_at = _or(warning["due_cross"], INF), _or(warning["over_at"], -INF)
                for at, kind in warning["booked"]:
                    self._book(float(at), int(kind), queue)
                timelines = q.past.timelines()
                for name, rows in warning["past"].items():
                    timelines[name].restore(rows, str if name == "answers" else float)
            elif q.active_since is not None:  # a state from before the warning's own was saved
                self._book(q.last_sent + self._rule(queue).repeat_s, TIMED, queue)
        since = newest - WINDOW_S
        for leg in sorted(calls.legs.values(), key=_leg_order):
            q = self._q(leg.queue)
            if leg.arrived_at is not None and leg.arrived_at >= since:
                q.add(q.arrivals, leg.arrived_at)
            if leg.answered_at is not None and leg.answered_at >= since and leg.wait_from is not None:
                q.add(q.answers, leg.answered_at)
            if leg.ended_at is not None and leg.ended_at >= since and leg.answered_at is not None:
                q.add(q.handle, leg.ended_at, leg.ended_at - leg.answered_at)
                q.add(q.ended, leg.ended_at)
        # the waiting callers' cells once every window is back (an estimate reads the time between answers)
        for leg in sorted(calls.legs.values(), key=_leg_order):
            if leg.status == "waiting" and leg.arrived_at is not None:
                ahead = sum(1 for other in calls.waiting.get(leg.queue, {}).values()
                            if other.priority >= leg.priority and (other.arrived_at or 0) < leg.arrived_at)
                cell = (min(ahead, MAX_AHEAD), leg.priority)
                q = self._q(leg.queue)
                q.entries[(leg.call_id, leg.seq)] = (cell, self._estimate(q, leg.queue, cell))


def _finite(t: float) -> float | None:
    """JSON has no infinity: None stands for it (the field's own default on load)."""
    return None if math.isinf(t) else t


def _or(value: float | None, default: float) -> float:
    return default if value is None else float(value)


def _leg_order(leg: Leg) -> tuple[float, int]:
    return (leg.arrived_at if leg.arrived_at is not None else leg.last_ts, leg.seq)

