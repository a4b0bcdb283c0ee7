"""Ahead of the line: predicted waits and the staffing advice, per queue.

Fed by the contact handlers (a caller entered, left, a conversation ended, its after-contact work) with
their event time; it reads the waiting callers (:mod:`queue_calls`) and who serves which queue
(:mod:`agents`), and owns only what it derives. It passes each of those events on to the early warning
(:mod:`early_warning`), which reads them as of its own instants and owns its own state; the warning's
saved keys ride in this room's, per queue beside the learned cells (the state's shape is older than the
split).

**Predicted wait at entry.** Chosen by measurement on the bank's three months (``bench/predict_eval.py``):
per queue, the running *median* wait of the callers that entered with the same number of callers ahead
of them (waiting, of their priority or higher; 30 or more is one cell) and the same priority. Each
answer moves its cell's estimate ``STEP_S`` toward the wait it realised (a stochastic median: O(1) per
answer, no window to scan, adapts to a changing floor). The mean absolute error is what is judged, and
a median minimises it; the mean of the same cells did markedly worse on the bank's skewed waits. A cell
not seen yet extends the nearest learned cell with fewer callers ahead by the time between answers
per caller more. A prediction uses only what was applied before the caller's ``call.queued``, so a log
cut after it gives the same prediction.

**Per waiting caller.** A queue-position estimate: the caller at place ``k`` in line (priority, then
wait) is answered after about ``k × s``, ``s`` the mean time between answers: the average handle time
of the last 15 minutes over the agents serving the queue (an agent serving several queues counts in
each by the share of their offered load, see :meth:`Forecast.staffed_share`), or, with no agent states
from the source, over the agents who answered in the queue in the last 15 minutes. A caller's predicted
wait is its wait so far plus that. The early warning reads the same estimate as of its instants.

**Staffing advice.** Erlang C (:mod:`callwatch.erlang`) on the last 15 minutes' arrivals and average
handle time: the fewest agents that meet the queue's service-level target at its threshold T.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

from callwatch.config import MonitorConfig, QueueConfig
from callwatch.engine.agents import Agents
from callwatch.engine.early_warning import EarlyWarning
from callwatch.engine.queue_calls import QueueCalls
from callwatch.engine.records import Leg
from callwatch.engine.staffed_share import WINDOW_S, staffed_share
from callwatch.erlang import agents_needed
from callwatch.events import Channel

#: callers ahead from which the wait is one cell
MAX_AHEAD = 30
#: how far one answer moves its cell's median estimate, seconds
STEP_S = 3.0
INF = math.inf


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
    channel: str = "voice"
    #: the earliest time in any of the recent windows (nothing to expire before it: cheap per event)
    earliest: float = INF
    #: agent -> their latest answer here (capacity, for a source that sends no agent states)
    answered_by: dict[str, float] = field(default_factory=dict)

    def add(self, recent: _Recent, t: float, value: float = 1.0) -> None:
        recent.add(t, value)
        if t < self.earliest:
            self.earliest = t


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
    def __init__(self, config: MonitorConfig, calls: QueueCalls, agents: Agents, warning: EarlyWarning) -> None:
        self.config = config
        self.calls = calls
        self.agents = agents
        #: the early warning, told of every contact event this room is (see the module docstring)
        self._warning = warning
        self._queues: dict[str, _Queue] = {}
        self._qc: dict[str, QueueConfig] = {}
        self.newest = -INF
        #: with a list here, every prediction at entry is recorded (the replay's --predictions)
        self.record: list[list[Any]] | None = None
        self._rows: dict[tuple[str, str, int], int] = {}

    def _q(self, queue: str) -> _Queue:
        found = self._queues.get(queue)
        if found is None:
            found = self._queues[queue] = _Queue()
        return found

    def _config(self, queue: str) -> QueueConfig:
        qc = self._qc.get(queue)
        if qc is None:
            qc = self._qc[queue] = self.config.for_queue(queue)
        return qc

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
        if self.record is not None:
            self._rows[(leg.queue, leg.call_id, leg.seq)] = len(self.record)
            entered = leg.arrived_at if leg.arrived_at is not None else ts
            self.record.append([leg.call_id, leg.queue, entered, round(predicted, 3), None, "waiting"])
        self._warning.entered(leg, ts)
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
        if self.record is not None:
            row = self._rows.pop((leg.queue, leg.call_id, leg.seq), None)
            if row is not None:
                self.record[row][4] = round(wait, 3)
                self.record[row][5] = outcome
        self._warning.left(leg, ts, wait, outcome)

    def conversation_ended(self, queue: str, ts: float, talk: float) -> None:
        q = self._q(queue)
        self._tick(ts, q)
        if ts >= self.newest - WINDOW_S:
            q.add(q.handle, ts, talk)
            q.add(q.ended, ts)
        self._warning.conversation_ended(queue, ts, talk)

    def wrapped(self, queue: str, ended_at: float, acw: float) -> None:
        q = self._q(queue)
        if ended_at >= self.newest - WINDOW_S:
            q.add(q.handle, ended_at, acw)
        self._warning.wrapped(queue, ended_at, acw)

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
        return staffed_share(self.agents, queue, lambda rec: rec.current[0], self.offered_load)

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

    # --------------------------------------------------------- persistence

    def to_state(self) -> dict[str, Any]:
        """What cannot be rebuilt from the legs: the learned cells, and beside them the early warning's
        own (:meth:`EarlyWarning.to_state`: the warnings on, and with the early warning on what its
        future depends on)."""
        out: dict[str, Any] = {}
        warnings = self._warning.to_state()
        for queue, q in sorted(self._queues.items()):
            out[queue] = {"cells": [[a, p, v] for (a, p), v in sorted(q.cells.items())], **warnings[queue]}
        return out

    def load(self, state: dict[str, Any], calls: QueueCalls, newest: float) -> None:
        """After a restore: the cells from ``state``, the recent windows from the legs; the early
        warning's own from the same ``state``."""
        self.newest = newest
        self._warning.load(state, calls)
        for queue, saved in state.items():
            q = self._q(queue)
            q.cells = {(int(a), int(p)): float(v) for a, p, v in saved.get("cells", [])}
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


def _leg_order(leg: Leg) -> tuple[float, int]:
    return (leg.arrived_at if leg.arrived_at is not None else leg.last_ts, leg.seq)

