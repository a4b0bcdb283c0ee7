"""A small, seeded contact-center simulation that tells a story a supervisor recognises.

Two queues share a floor. Mid-morning ``billing`` falls behind: a burst of calls arrives just as two
of its agents go on their break, callers abandon, and one caller holds on for more than three minutes
— the wait alarm must fire for them and resolve when they are answered. ``support`` stays healthy.

It is a pure generator of event models (no I/O): ``callwatch`` ships its output as the demo log, the
tests use it for long replays (``scale`` multiplies the traffic), and the full simulator of the
producers' work builds on the same shape.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from callwatch.events import Event, build

SOURCE = "pbx-demo"


@dataclass
class _Agent:
    name: str
    queues: list[str]
    team: str
    breaks: list[tuple[float, float, str]]  # (start offset s, duration s, reason)
    state: str = "offline"
    on_break_until: float | None = None
    pending_break: tuple[float, str] | None = None


@dataclass(order=True)
class _Waiting:
    priority_key: tuple[int, float]
    call_id: str = field(compare=False)
    queue: str = field(compare=False)
    channel: str = field(compare=False)
    priority: int = field(compare=False)


class Storyline:
    """Discrete-event simulation: Poisson arrivals, lognormal talk, exponential patience."""

    def __init__(self, start: datetime, seed: int = 7, hours: float = 2.0, scale: float = 1.0,
                 heartbeat_s: float = 30.0) -> None:
        self.t0 = start.astimezone(timezone.utc)
        self.rng = random.Random(seed)
        self.horizon = hours * 3600
        self.scale = scale
        self.heartbeat_s = heartbeat_s
        self.ids = itertools.count(1)
        self.calls = itertools.count(1)
        self.heap: list[tuple[float, int, str, Any]] = []
        self.order = itertools.count()
        self.queue_waiting: dict[str, list[_Waiting]] = {"billing": [], "support": []}
        self.waiting_calls: dict[str, _Waiting] = {}
        n_billing = max(2, round(6 * scale))
        n_support = max(2, round(5 * scale))
        n_shared = max(1, round(2 * scale))
        self.agents: dict[str, _Agent] = {}
        for i in range(n_billing):
            # two billing agents take their break together, right into the burst
            brk = [(2400.0, 900.0, "break")] if i < 2 else [(4800.0 + 60 * i, 600.0, "break")]
            self._add_agent(f"agent-b{i + 1:03d}", ["billing"], "billing", brk)
        for i in range(n_support):
            self._add_agent(f"agent-s{i + 1:03d}", ["support"], "support", [(3600.0 + 120 * i, 600.0, "lunch")])
        for i in range(n_shared):
            self._add_agent(f"agent-x{i + 1:03d}", ["support", "billing"], "shared",
                            [(5400.0 + 60 * i, 300.0, "training")])
        self.long_waiter_planted = False

    def _add_agent(self, name: str, queues: list[str], team: str, breaks: list[tuple[float, float, str]]) -> None:
        self.agents[name] = _Agent(name, queues, team, breaks)

    # -------------------------------------------------------------- helpers

    def _ts(self, t: float) -> str:
        return (self.t0 + timedelta(seconds=t)).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _event(self, t: float, **fields: Any) -> Event:
        return build(id=f"ev-{next(self.ids):08d}", ts=self._ts(t), source=SOURCE, **fields)

    def _at(self, t: float, kind: str, payload: Any = None) -> None:
        heapq.heappush(self.heap, (t, next(self.order), kind, payload))

    def _rate_per_s(self, queue: str, t: float) -> float:
        """Calls per second: a morning ramp, and billing's burst from minute 40 to 55."""
        base = {"billing": 1.1, "support": 0.9}[queue] / 60 * self.scale
        ramp = 0.6 + 0.4 * min(t / 1800, 1.0)
        burst = 2.6 if queue == "billing" and 2400 <= t < 3300 else 1.0
        return base * ramp * burst

    # ----------------------------------------------------------------- run

    def events(self) -> Iterator[Event]:
        for name, agent in self.agents.items():
            self._at(self.rng.uniform(0, 30), "login", name)
            for start, duration, reason in agent.breaks:
                self._at(start, "break", (name, duration, reason))
        for queue in self.queue_waiting:
            self._at(self._next_arrival(queue, 0.0), "arrival", queue)
        self._at(0.0, "heartbeat", None)
        while self.heap:
            t, _, kind, payload = heapq.heappop(self.heap)
            if t > self.horizon and kind in ("arrival", "heartbeat", "break", "login"):
                continue
            yield from getattr(self, f"_on_{kind}")(t, payload)

    def _next_arrival(self, queue: str, t: float) -> float:
        # thinning of a non-homogeneous Poisson process (peak rate bounds the profile)
        peak = self._rate_per_s(queue, 2500.0) * 1.01
        while True:
            t += self.rng.expovariate(peak)
            if self.rng.random() <= self._rate_per_s(queue, t) / peak:
                return t

    def _on_heartbeat(self, t: float, _: Any) -> Iterator[Event]:
        yield self._event(t, type="source.heartbeat")
        self._at(t + self.heartbeat_s, "heartbeat", None)

    def _on_login(self, t: float, name: str) -> Iterator[Event]:
        agent = self.agents[name]
        agent.state = "available"
        yield self._event(t, type="agent.state", agent=name, state="available", queues=agent.queues,
                          team=agent.team)
        yield from self._dispatch(t)

    def _on_break(self, t: float, payload: tuple[str, float, str]) -> Iterator[Event]:
        name, duration, reason = payload
        agent = self.agents[name]
        if agent.state == "available":
            yield from self._go_away(t, agent, duration, reason)
        else:
            agent.pending_break = (duration, reason)  # after the current contact

    def _go_away(self, t: float, agent: _Agent, duration: float, reason: str) -> Iterator[Event]:
        agent.state = "away"
        yield self._event(t, type="agent.state", agent=agent.name, state="away", reason=reason)
        self._at(t + duration, "back", agent.name)

    def _on_back(self, t: float, name: str) -> Iterator[Event]:
        agent = self.agents[name]
        agent.state = "available"
        yield self._event(t, type="agent.state", agent=name, state="available")
        yield from self._dispatch(t)

    def _on_arrival(self, t: float, queue: str) -> Iterator[Event]:
        call_id = f"call-{next(self.calls):06d}"
        priority = 1 if self.rng.random() < 0.1 else 0
        w = _Waiting((-priority, t), call_id, queue, "voice", priority)
        customer = f"cust-{self.rng.randrange(10_000 * max(1, int(self.scale))):05d}"
        yield self._event(t, type="call.queued", call_id=call_id, queue=queue, priority=priority,
                          customer=customer)
        heapq.heappush(self.queue_waiting[queue], w)
        self.waiting_calls[call_id] = w
        if queue == "billing" and t >= 2700 and not self.long_waiter_planted:
            self.long_waiter_planted = True  # the story's caller who holds on past three minutes
        else:
            self._at(t + self.rng.expovariate(1 / 150.0), "patience", call_id)
        self._at(self._next_arrival(queue, t), "arrival", queue)
        yield from self._dispatch(t)

    def _on_patience(self, t: float, call_id: str) -> Iterator[Event]:
        w = self.waiting_calls.pop(call_id, None)
        if w is None:
            return
        self.queue_waiting[w.queue].remove(w)
        heapq.heapify(self.queue_waiting[w.queue])
        yield self._event(t, type="call.abandoned", call_id=call_id, queue=w.queue)

    def _dispatch(self, t: float) -> Iterator[Event]:
        for agent in self.agents.values():
            if agent.state != "available":
                continue
            candidates = [self.queue_waiting[q][0] for q in agent.queues if self.queue_waiting[q]]
            if not candidates:
                continue
            w = min(candidates)
            heapq.heappop(self.queue_waiting[w.queue])
            del self.waiting_calls[w.call_id]
            yield from self._answer(t, agent, w)

    def _answer(self, t: float, agent: _Agent, w: _Waiting) -> Iterator[Event]:
        agent.state = "busy"
        yield self._event(t, type="call.answered", call_id=w.call_id, queue=w.queue, agent=agent.name)
        yield self._event(t, type="agent.state", agent=agent.name, state="busy")
        talk = min(self.rng.lognormvariate(math.log(150), 0.6), 1800.0)
        self._at(t + talk, "end", (agent.name, w))

    def _on_end(self, t: float, payload: tuple[str, _Waiting]) -> Iterator[Event]:
        name, w = payload
        agent = self.agents[name]
        ended_by = "agent" if self.rng.random() < 0.3 else "customer"
        hold = round(self.rng.uniform(0, 30), 1) if self.rng.random() < 0.2 else None
        fields: dict[str, Any] = {"hold_s": hold} if hold is not None else {}
        yield self._event(t, type="call.ended", call_id=w.call_id, queue=w.queue, agent=name,
                          ended_by=ended_by, **fields)
        agent.state = "wrap_up"
        yield self._event(t, type="agent.state", agent=name, state="wrap_up")
        resolved = self.rng.random() < 0.75
        yield self._event(t + 1, type="call.disposition", call_id=w.call_id, queue=w.queue, agent=name,
                          resolved=resolved, complaint=self.rng.random() < 0.05)
        if self.rng.random() < 0.4:
            yield self._event(t + 1, type="survey.offered", call_id=w.call_id, queue=w.queue, agent=name)
            if self.rng.random() < 0.5:
                yield self._event(t + 2, type="survey.completed", call_id=w.call_id, queue=w.queue,
                                  agent=name, satisfied=self.rng.choice([2, 3, 4, 4, 5, 5]),
                                  professional=self.rng.choice([3, 4, 5, 5]),
                                  more_help=self.rng.random() < 0.2)
        self._at(t + self.rng.uniform(5, 40), "wrap", (name, w))

    def _on_wrap(self, t: float, payload: tuple[str, _Waiting]) -> Iterator[Event]:
        name, w = payload
        agent = self.agents[name]
        yield self._event(t, type="call.wrapped", call_id=w.call_id, queue=w.queue, agent=name)
        if agent.pending_break is not None:
            duration, reason = agent.pending_break
            agent.pending_break = None
            yield from self._go_away(t, agent, duration, reason)
            return
        agent.state = "available"
        yield self._event(t, type="agent.state", agent=name, state="available")
        yield from self._dispatch(t)


def demo_events(start: datetime, seed: int = 7, hours: float = 2.0, scale: float = 1.0) -> list[Event]:
    """The story's events in time order (stable for equal times)."""
    events = list(Storyline(start, seed=seed, hours=hours, scale=scale).events())
    events.sort(key=lambda e: e.ts)
    return events
