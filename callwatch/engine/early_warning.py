"""The early warning ``wait_window_forecast``: a caller is predicted to pass the wait window, per queue.

**The prediction.** The forecast's queue-position estimate per waiting caller (:mod:`forecast`), read as
of an instant: the caller at place ``k`` in line (priority, then wait) is answered after about ``k × s``,
``s`` the mean time between answers (the average handle time over the agents serving the queue, shared
by offered load, :mod:`staffed_share`; or, with no agent states from the source, over the agents who
answered in the queue). Callers ahead who give up move the line too (Erlang A: each waiting caller
leaves at the abandonment hazard of the last 15 minutes). As every wait grows with the clock, the
instant a prediction will pass the window is known in advance; the warning starts ``HOLD_S`` after it
unless a change in between clears the prediction (persistence). A forecast of a random line stays
uncertain: bench/warning_eval.py measures how often it comes true. No new warning starts within
``REWARN_S`` of a caller leaving over the window (the wait alarm has told of that overload; the queue's
next change after it decides), and none for a queue whose source sends no agent states unless the rule
asks (a capacity guessed from who answered: bench/warning_bank.py).

Like the other alarms, the warning is decided at instants the engine's clock has passed (the watermark
in a replay, the wall clock live), from the floor *as of* each instant: the callers waiting then
(:meth:`QueueCalls.waiting_legs_at`), the agents' states then, and the events of the 15 minutes up to
it, kept at their own event times (``_Past``). The instants are booked in a heap: each change's event
time, and the starts and repeats falling due; so a late event within the lateness lands where it
belongs, and any arrival order gives the same warnings. What its future depends on (the pending start,
the re-warning pause, the instants booked, that past) is saved with the state and restored.

**Who feeds it.** The contact events come through the forecast, which passes each on as it gets it
(:meth:`Forecast.entered` and the rest): the contact handlers (:mod:`contacts`) keep one listener with
the arguments both need, so the engine's routing stays as it was and no contact event can reach one of
the two and miss the other. Agent changes and the clock come from the engine, as to every alarm room
(:meth:`agent_changed`, :meth:`advance`). Its saved state rides in the forecast's, per queue beside the
learned cells (:meth:`Forecast.to_state`): the state's shape is older than this room.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from callwatch.alarm import Alarm
from callwatch.alarm_rules import WaitForecastRule
from callwatch.config import MonitorConfig, QueueConfig
from callwatch.engine.agents import Agents
from callwatch.engine.queue_calls import QueueCalls
from callwatch.engine.records import Leg
from callwatch.engine.staffed_share import WINDOW_S, staffed_share
from callwatch.engine.views import FloorAsOf

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
        # on every event of the queue: the timelines themselves, not the named dict the state is saved by
        for timeline in (self.arrivals, self.ended, self.acw, self.waited, self.abandons, self.answers, self.overs):
            if timeline.times and timeline.times[0] < before:
                timeline.expire(before)

    def last_over(self, at: float) -> float:
        """The last time a caller over the window left, at or before ``at``."""
        i = bisect_right(self.overs.times, at)
        return self.overs.times[i - 1] if i else -INF


@dataclass(slots=True)
class _Queue:
    """One queue's warning: when it falls due (inf: not predicted), whether it is on, when it was last
    sent, and its past."""

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
    #: the events the early warning reads as of its instants (None: no early warning on the floor)
    past: _Past | None = None


class EarlyWarning:
    """The early warning of every queue of one site: decided at the instants booked, handed out as the
    engine's clock passes them."""

    def __init__(self, config: MonitorConfig, calls: QueueCalls, agents: Agents) -> None:
        self.config = config
        self.calls = calls
        self.agents = agents
        #: every queue the forecast has heard of (it passes each event on), warned of or not
        self._queues: dict[str, _Queue] = {}
        self._qc: dict[str, QueueConfig] = {}
        self._rules: dict[str, WaitForecastRule] = {}
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

    # ------------------------------------------------------------ events

    def entered(self, leg: Leg, ts: float) -> None:
        """A caller entered the queue (already among its waiting)."""
        past = self._past(self._q(leg.queue))
        if past is not None:
            past.arrivals.add(ts, 1.0)
        self._changed(leg.queue, ts)

    def left(self, leg: Leg, ts: float, wait: float, outcome: str) -> None:
        """A caller left the queue: answered, abandoned or dequeued."""
        past = self._past(self._q(leg.queue))
        if past is not None:
            if wait > self._config(leg.queue).wait_window_s:
                past.overs.add(ts, 1.0)  # a caller over the window leaves: the overload's end as the floor saw it
            if outcome != "dequeued":
                past.waited.add(ts, wait)
            if outcome == "abandoned":
                past.abandons.add(ts, 1.0)
            elif outcome == "answered" and leg.agent is not None:
                past.answers.add(ts, leg.agent)
        self._changed(leg.queue, ts)

    def conversation_ended(self, queue: str, ts: float, talk: float) -> None:
        past = self._past(self._q(queue))
        if past is not None:
            past.ended.add(ts, talk)

    def wrapped(self, queue: str, ended_at: float, acw: float) -> None:
        past = self._past(self._q(queue))
        if past is not None:
            # as of an instant, at the wrap-up's own time (acw is that time less the end): an instant
            # before it must not see it, however early the wrap-up came in
            past.acw.add(ended_at + acw, acw)

    def agent_changed(self, queues: list[str], ts: float) -> None:
        """An agent serving these queues changed state or skills: their capacity changed."""
        for queue in queues:
            if queue in self._queues:
                self._changed(queue, ts)

    # ------------------------------------------------------ the instants
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
        """:meth:`Forecast.staffed_share` as of ``at``: the agents' states then, the offered loads up to then."""
        return staffed_share(self.agents, queue, lambda rec: rec.state_at(at), lambda other: self._load_at(other, at))

    def _between_answers_at(self, queue: str, past: _Past, at: float) -> float | None:
        """:meth:`Forecast.between_answers` as of ``at``."""
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
            # a crossing the warning could only follow (it starts HOLD_S after its prediction at the
            # earliest) is not foretold but late: the wait alarm tells of it. Measured on four seed
            # blocks pooled (bench/warning_eval.py): steady false 10 of 226 warnings -> 8 of 220, first
            # crossings warned 127 of 155 -> 126
            if crossing > max(mine, at) + HOLD_S and mine < due:
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
        # the source's agent states first: without them (per-call records) no line needs reading
        line = self._line_at(queue, ts) if rule.without_agent_states or self.agents.by_queue.get(queue) else []
        if not line:
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

    def on(self, queue: str) -> tuple[float, float] | None:
        """The warning on for ``queue``: (since when, the instant its caller was predicted to pass the
        window), or None. For the screens (:mod:`badges`)."""
        q = self._queues.get(queue)
        if q is None or q.active_since is None:
            return None
        return q.active_since, q.due_cross

    # --------------------------------------------------------- persistence

    def to_state(self) -> dict[str, dict[str, Any]]:
        """Per queue, the warning on; with the early warning on, also what its future depends on: its
        pending start and re-warning pause, the instants booked and the events of its past (at their own
        times; the legs keep no wrap-up time). The forecast saves it beside its learned cells."""
        out: dict[str, dict[str, Any]] = {}
        booked: dict[str, list[list[float]]] = {}
        for at, kind, queue in sorted(self._booked):
            booked.setdefault(queue, []).append([at, kind])
        for queue, q in sorted(self._queues.items()):
            saved: dict[str, Any] = {"active_since": q.active_since, "last_sent": q.last_sent}
            if q.past is not None:
                saved["warning"] = {
                    "decided_to": _finite(self.decided_to), "due": _finite(q.due), "due_value": _finite(q.due_value),
                    "pred_due": _finite(q.pred_due), "true_since": q.true_since, "due_cross": _finite(q.due_cross),
                    "over_at": _finite(q.over_at), "booked": booked.get(queue, []),
                    "past": {name: timeline.dump() for name, timeline in q.past.timelines().items()}}
            out[queue] = saved
        return out

    def load(self, state: dict[str, Any], calls: QueueCalls) -> None:
        """After a restore: the warnings from ``state`` (the forecast's saved queues), and every queue of
        the legs known, as the forecast knows them."""
        for queue, saved in state.items():
            q = self._q(queue)
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
        for leg in calls.legs.values():
            self._q(leg.queue)


def _finite(t: float) -> float | None:
    """JSON has no infinity: None stands for it (the field's own default on load)."""
    return None if math.isinf(t) else t


def _or(value: float | None, default: float) -> float:
    return default if value is None else float(value)
