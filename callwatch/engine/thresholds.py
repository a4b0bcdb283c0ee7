"""The threshold alarms of METRICS.md: abandonment high, service level low, no agents, feed silent.

They are evaluated at fixed instants, every ``EVAL_S`` seconds of the engine's "now" (each instant
passed, none skipped), from the state *as of that instant*: whole minutes before it, agent states
and waiting contacts at that moment. So a replay evaluates them at the same moments, with the same
result, however its events were batched or reordered within the lateness. An alarm starts once, is
sent again after its rule's repeat interval while it lasts, and resolves with hysteresis.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from callwatch.alarm import Alarm as AlarmEvent
from callwatch.alarm_rules import QueueRules
from callwatch.engine.aggregates import MINUTE_S
from callwatch.engine.figures import agents_in_queue
from callwatch.engine.records import ActiveThreshold

if TYPE_CHECKING:
    from callwatch.engine.core import Engine

EVAL_S = 15.0


class _Window:
    """Just the counts the alarms need, summed over whole minutes in [start, end)."""

    __slots__ = ("abandoned", "abandoned_after_t", "answered", "dequeued", "within")

    def __init__(self, engine: Engine, queue: str, start: float, end: float) -> None:
        self.answered = self.within = self.abandoned = self.abandoned_after_t = self.dequeued = 0
        minutes = engine.minutes
        channels = tuple(engine.queue_channels.get(queue, ()))
        m = int(start // MINUTE_S) * MINUTE_S
        while m + MINUTE_S <= end:
            for ch in channels:
                agg = minutes.get((queue, ch, m))
                if agg is not None:
                    self.answered += agg.answered
                    self.within += agg.answered_within_t
                    self.abandoned += agg.abandoned
                    self.abandoned_after_t += agg.abandoned_after_t
                    if agg.dequeued:
                        self.dequeued += sum(agg.dequeued.values())
            m += MINUTE_S

    def service_level(self, formula: str) -> float | None:
        den = {"answered_only": self.answered,
               "abandons_neutral": self.answered + self.abandoned_after_t}.get(formula,
                                                                               self.answered + self.abandoned)
        return None if den <= 0 else self.within / den


def waiting_at(engine: Engine, queue: str, at: float) -> int:
    """Contacts waiting in the queue at ``at``: those still waiting and those that left after it."""
    n = sum(1 for leg in engine.waiting.get(queue, {}).values()
            if leg.arrived_at is not None and leg.arrived_at <= at)
    return n + sum(1 for arrived, left in engine.recently_left.get(queue, ()) if arrived <= at < left)


def due_instants(last: float, now: float) -> Iterable[float]:
    """The evaluation instants in (last, now]."""
    first = (int(last // EVAL_S) + 1) * EVAL_S if last > float("-inf") else int(now // EVAL_S) * EVAL_S
    t = first
    while t <= now:
        yield t
        t += EVAL_S


class ThresholdAlarms:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._cache: dict[str, QueueRules] = {}

    def _emit(self, alarm: str, status: str, subject: str, at: float, started: float, severity: str,
              value: float, threshold: float, unit: str, metric: str, is_queue: bool) -> None:
        eng = self.engine
        waiting = available = 0
        sl = None
        if is_queue:
            waiting = waiting_at(eng, subject, at)
            available = agents_in_queue(eng, subject, at)["available"]
            qc = eng._queue_config(subject)
            sl = _Window(eng, subject, at - 15 * 60, at).service_level(qc.service_level_formula.value)
        eng.outbox.append(AlarmEvent(
            alarm=alarm, status=status, queue=subject, at=at, started_at=started, severity=severity,
            value=round(value, 6), threshold=threshold, unit=unit, metric=metric, waiting=waiting,
            agents_available=available, service_level=None if sl is None else round(sl, 6)))

    def _step(self, alarm: str, subject: str, at: float, breached: bool, clear: bool, value: float,
              threshold: float, unit: str, metric: str, severity: str, repeat_s: float, for_s: float = 0.0,
              is_queue: bool = True) -> None:
        """Start (after ``for_s`` of breach), repeat or resolve one alarm for one subject."""
        eng = self.engine
        key = f"{alarm}:{subject}"
        state = eng.thresholds.get(key)
        if state is None:
            if not breached:
                return
            state = eng.thresholds[key] = ActiveThreshold(alarm, subject, "pending", at)
            eng.dirty["thresholds"].add(key)
        args = (subject, at)
        if state.status == "pending":
            if not breached:
                del eng.thresholds[key]
            elif at - state.since >= for_s:
                state.status, state.last_sent = "active", at
                self._emit(alarm, "started", *args, state.since, severity, value, threshold, unit, metric, is_queue)
            eng.dirty["thresholds"].add(key)
            return
        if clear:
            self._emit(alarm, "resolved", *args, state.since, severity, value, threshold, unit, metric, is_queue)
            del eng.thresholds[key]
            eng.dirty["thresholds"].add(key)
        elif at - state.last_sent >= repeat_s:
            state.last_sent = at
            eng.dirty["thresholds"].add(key)
            self._emit(alarm, "repeated", *args, state.since, severity, value, threshold, unit, metric, is_queue)

    def _rules(self, queue: str) -> QueueRules:
        found = self._cache.get(queue)
        if found is None:
            found = self._cache[queue] = self.engine.config.alarms.for_queue(queue)
        return found

    def evaluate(self, at: float) -> None:
        eng = self.engine
        rules = eng.config.alarms
        for queue in sorted(eng.known_queues):
            qr = self._rules(queue)
            qc = eng._queue_config(queue)
            last = eng.queue_last_minute.get(queue, float("-inf"))
            windows: dict[float, _Window] = {}  # the two rules share a window when their lengths agree
            ab = qr.abandonment_high
            # a window with no minute in it changes nothing, unless an alarm is on and must resolve
            if ab.enabled and (last >= at - ab.window_s - 60 or f"abandonment_high:{queue}" in eng.thresholds):
                w = windows.get(ab.window_s) or windows.setdefault(
                    ab.window_s, _Window(eng, queue, at - ab.window_s, at))
                volume = w.answered + w.abandoned + w.dequeued
                rate = w.abandoned / volume if volume else 0.0
                enough = volume >= ab.min_contacts
                self._step("abandonment_high", queue, at, breached=enough and rate > ab.threshold,
                           clear=not enough or rate <= ab.threshold - ab.hysteresis, value=rate,
                           threshold=ab.threshold, unit="ratio", metric="abandonment_rate", severity=ab.severity,
                           repeat_s=ab.repeat_s)
            slr = qr.service_level_low
            if slr.enabled and (last >= at - slr.window_s - 60 or f"service_level_low:{queue}" in eng.thresholds):
                w = windows.get(slr.window_s) or windows.setdefault(
                    slr.window_s, _Window(eng, queue, at - slr.window_s, at))
                sl = w.service_level(qc.service_level_formula.value)
                enough = sl is not None and w.answered + w.abandoned >= slr.min_contacts
                target = qc.service_level_target
                self._step("service_level_low", queue, at, breached=enough and sl is not None and sl < target,
                           clear=not enough or (sl is not None and sl >= target + slr.hysteresis),
                           value=sl or 0.0, threshold=target, unit="ratio", metric="service_level",
                           severity=slr.severity, repeat_s=slr.repeat_s)
            na = qr.no_agents
            # a source that never says which agents serve the queue (per-call records) cannot tell
            # "no agents" from "no agent data": the alarm needs the queue in some agent's queues
            if na.enabled and queue in eng.staffed_queues:
                waiting = waiting_at(eng, queue, at)
                agents = agents_in_queue(eng, queue, at)
                serving = agents["available"] + agents["busy"]
                self._step("no_agents", queue, at, breached=waiting > 0 and serving == 0,
                           clear=serving > 0 or waiting == 0, value=waiting, threshold=na.for_s, unit="contacts",
                           metric="waiting", severity=na.severity, repeat_s=na.repeat_s, for_s=na.for_s)
        fs = rules.feed_silent
        if fs.enabled:
            for source, last in sorted(eng.sources.items()):
                silence = max(at - last, 0.0)
                # in a replay the source's next event may already be in (within the lateness): the
                # feed came back at that event, not at this instant
                moment = max(at, last) if silence <= fs.after_s else at
                self._step("feed_silent", source, moment, breached=silence > fs.after_s,
                           clear=silence <= fs.after_s,
                           value=silence, threshold=fs.after_s, unit="seconds", metric="silence",
                           severity=fs.severity, repeat_s=fs.repeat_s, is_queue=False)
