"""A seeded, deterministic discrete-event simulation of a contact center.

Arrivals are Poisson within each step of a queue's intraday profile; talk, patience and after-contact
work are drawn from the scenario's distributions, so abandonment emerges rather than being scripted.
Agents have skills (the queues they serve), shifts and breaks; the longest-idle agent takes the
highest-priority, longest-waiting contact. Customers whose problem was not solved may call back.
Planted behaviours (the seeds' gamed metrics) change what some agents do, and the ground truth is
returned beside the events so that detection can be scored.

Pure: it yields event models and touches no I/O; ``callwatch simulate`` writes or publishes them.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from callwatch.events import (
    AgentState,
    AgentStateName,
    CallAbandoned,
    CallAnswered,
    CallDequeued,
    CallDisposition,
    CallEnded,
    CallQueued,
    CallTransferred,
    CallWrapped,
    Channel,
    Event,
    SourceHeartbeat,
    SurveyCompleted,
    SurveyOffered,
)
from producers.scenario import Distribution, Scenario


@dataclass
class _Agent:
    name: str
    queues: list[str]
    team: str | None
    planted: frozenset[str]
    state: str = "offline"
    idle_since: float = 0.0
    on_shift: bool = False
    pending_break: tuple[float, str] | None = None
    leaving: bool = False


@dataclass
class _Contact:
    call_id: str
    customer: str
    queue: str
    channel: Channel
    priority: int
    wait_from: float
    solved: bool = True
    seq: int = 0
    waiting: bool = True
    transfers: int = 0


@dataclass
class Truth:
    """What was planted, and counts a detector can be scored against."""

    planted: dict[str, list[str]] = field(default_factory=dict)
    contacts: int = 0
    callbacks: int = 0


class Simulation:
    def __init__(self, scenario: Scenario, seed: int = 1, id_prefix: str = "") -> None:
        self.sc = scenario
        #: keeps event and call ids unique when several runs make one log (the days of a month)
        self.id_prefix = id_prefix
        self.rng = random.Random(seed)
        self.t0 = scenario.start.astimezone(timezone.utc)
        self.horizon = scenario.hours * 3600
        self.ids = itertools.count(1)
        self.call_numbers = itertools.count(1)
        self.order = itertools.count()
        self.heap: list[tuple[float, int, str, Any]] = []
        self.waiting: dict[str, list[tuple[int, float, int, _Contact]]] = {q: [] for q in scenario.queues}
        self.agents: dict[str, _Agent] = {}
        for group in scenario.agents:
            for i in range(group.count):
                name = f"{group.prefix}{i + 1:03d}"
                self.agents[name] = _Agent(name, list(group.queues), group.team,
                                           frozenset(scenario.planted.get(name, ())))
        self.groups = {f"{g.prefix}{i + 1:03d}": g for g in scenario.agents for i in range(g.count)}
        self.idle: dict[str, deque[str]] = {q: deque() for q in scenario.queues}
        self.truth = Truth(planted={a: list(b) for a, b in scenario.planted.items()})
        self._ts_cache: dict[int, datetime] = {}

    # -------------------------------------------------------------- helpers

    def _dt(self, t: float) -> datetime:
        return self.t0 + timedelta(seconds=round(t, 3))

    def _id(self) -> str:
        return f"{self.sc.source}-{self.id_prefix}{next(self.ids):09d}"

    def _at(self, t: float, kind: str, payload: Any = None) -> None:
        heapq.heappush(self.heap, (t, next(self.order), kind, payload))

    def _draw(self, d: Distribution) -> float:
        rng = self.rng
        if d.kind == "exponential":
            return rng.expovariate(1.0 / d.mean_s)
        if d.kind == "lognormal":
            # mean_s is the distribution's mean: mu = ln(mean) - sigma^2 / 2
            return rng.lognormvariate(math.log(d.mean_s) - d.sigma * d.sigma / 2, d.sigma)
        if d.kind == "uniform":
            return rng.uniform(d.min_s, d.max_s)
        if d.kind == "fixed":
            return d.mean_s
        return math.inf

    def _rate(self, queue: str, t: float) -> float:
        """Calls per second at ``t`` (the profile step that contains it)."""
        minute = t / 60
        rate = 0.0
        for start, per_hour in self.sc.queues[queue].arrivals:
            if start <= minute:
                rate = per_hour
            else:
                break
        return rate / 3600

    def _next_arrival(self, queue: str, t: float) -> float | None:
        """Poisson within each step: exponential gaps, restarting at each step's edge."""
        steps = self.sc.queues[queue].arrivals
        while t < self.horizon:
            rate = self._rate(queue, t)
            edges = [s * 60 for s, _ in steps if s * 60 > t]
            edge = min(edges[0] if edges else self.horizon, self.horizon)
            if rate > 0:
                gap = self.rng.expovariate(rate)
                if t + gap < edge:
                    return t + gap
            t = edge  # memorylessness: drawing afresh from the edge is exact
        return None

    # ----------------------------------------------------------------- run

    def events(self) -> Iterator[Event]:
        sc = self.sc
        for name in self.agents:
            group = self.groups[name]
            start, end = group.shift if group.shift else (0.0, sc.hours * 60)
            self._at(start * 60 + self.rng.uniform(0, 60), "login", name)
            self._at(end * 60, "logout", name)
            for b_start, minutes, reason in group.breaks:
                self._at(b_start * 60, "break", (name, minutes * 60, reason))
        for queue in sc.queues:
            first = self._next_arrival(queue, 0.0)
            if first is not None:
                self._at(first, "arrival", (queue, None))
        if sc.heartbeat_s:
            self._at(0.0, "heartbeat", None)
        while self.heap:
            t, _, kind, payload = heapq.heappop(self.heap)
            yield from getattr(self, f"_on_{kind}")(t, payload)

    def _on_heartbeat(self, t: float, _: Any) -> Iterator[Event]:
        yield SourceHeartbeat.model_construct(v=1, id=self._id(), type="source.heartbeat", ts=self._dt(t),
                                              source=self.sc.source)
        if t + self.sc.heartbeat_s <= self.horizon:
            self._at(t + self.sc.heartbeat_s, "heartbeat", None)

    def _state(self, t: float, agent: _Agent, state: str, reason: str | None = None,
               queues: list[str] | None = None) -> Iterator[Event]:
        agent.state = state
        if state == "available":
            agent.idle_since = t
            for q in agent.queues:
                self.idle[q].append(agent.name)
        if self.sc.agent_states:
            yield AgentState.model_construct(
                v=1, id=self._id(), type="agent.state", ts=self._dt(t), source=self.sc.source, agent=agent.name,
                state=AgentStateName(state), reason=reason, queues=queues, team=agent.team if queues else None)

    def _on_login(self, t: float, name: str) -> Iterator[Event]:
        agent = self.agents[name]
        agent.on_shift = True
        yield from self._state(t, agent, "available", queues=agent.queues)
        yield from self._dispatch(t)

    def _on_logout(self, t: float, name: str) -> Iterator[Event]:
        agent = self.agents[name]
        agent.on_shift = False
        if agent.state in ("available", "away"):
            yield from self._state(t, agent, "offline")
        else:
            agent.leaving = True  # after the current contact

    def _on_break(self, t: float, payload: tuple[str, float, str]) -> Iterator[Event]:
        name, duration, reason = payload
        agent = self.agents[name]
        if not agent.on_shift:
            return
        if agent.state == "available":
            yield from self._state(t, agent, "away", reason=reason)
            self._at(t + duration, "back", name)
        else:
            agent.pending_break = (duration, reason)

    def _on_back(self, t: float, name: str) -> Iterator[Event]:
        agent = self.agents[name]
        if agent.state != "away" or not agent.on_shift:
            return
        yield from self._state(t, agent, "available")
        yield from self._dispatch(t)

    def _on_arrival(self, t: float, payload: tuple[str, _Contact | None]) -> Iterator[Event]:
        queue, callback = payload
        spec = self.sc.queues[queue]
        if callback is None:
            nxt = self._next_arrival(queue, t)
            if nxt is not None:
                self._at(nxt, "arrival", (queue, None))
            customer = f"cust-{self.rng.randrange(self.sc.outcomes.customers):06d}"
        else:
            customer = callback.customer
            self.truth.callbacks += 1
        priority = 1 if self.rng.random() < spec.priority_share else 0
        call_id = f"call-{self.id_prefix}{next(self.call_numbers):07d}"
        contact = _Contact(call_id, customer, queue, spec.channel, priority, t)
        self.truth.contacts += 1
        yield from self._enqueue(t, contact, waiting_since=None)

    def _enqueue(self, t: float, c: _Contact, waiting_since: float | None) -> Iterator[Event]:
        spec = self.sc.queues[c.queue]
        c.waiting = True
        c.seq = next(self.order)
        c.wait_from = t if waiting_since is None else waiting_since
        yield CallQueued.model_construct(
            v=1, id=self._id(), type="call.queued", ts=self._dt(t), source=self.sc.source, call_id=c.call_id,
            queue=c.queue, channel=c.channel, priority=c.priority, customer=c.customer,
            waiting_since=None if waiting_since is None else self._dt(waiting_since))
        heapq.heappush(self.waiting[c.queue], (-c.priority, c.wait_from, c.seq, c))
        patience = self._draw(spec.patience or self.sc.patience)
        if math.isfinite(patience):
            self._at(c.wait_from + patience if c.wait_from + patience > t else t, "patience", (c, c.seq))
        if spec.overflow is not None:
            self._at(t + spec.overflow.after_s, "overflow", (c, c.seq))
        yield from self._dispatch(t)

    def _remove_waiting(self, c: _Contact) -> None:
        c.waiting = False  # lazily dropped from the queue heap when it reaches the top

    def _on_patience(self, t: float, payload: tuple[_Contact, int]) -> Iterator[Event]:
        c, seq = payload
        if not c.waiting or c.seq != seq:
            return
        self._remove_waiting(c)
        yield CallAbandoned.model_construct(v=1, id=self._id(), type="call.abandoned", ts=self._dt(t),
                                            source=self.sc.source, call_id=c.call_id, queue=c.queue,
                                            channel=c.channel, priority=c.priority)
        self._maybe_call_back(t, c, solved=False)

    def _on_overflow(self, t: float, payload: tuple[_Contact, int]) -> Iterator[Event]:
        c, seq = payload
        if not c.waiting or c.seq != seq:
            return
        spec = self.sc.queues[c.queue]
        assert spec.overflow is not None
        self._remove_waiting(c)
        target = spec.overflow.to
        yield CallDequeued.model_construct(v=1, id=self._id(), type="call.dequeued", ts=self._dt(t),
                                           source=self.sc.source, call_id=c.call_id, queue=c.queue,
                                           channel=c.channel, priority=c.priority, reason="overflow",
                                           to_queue=target)
        c.queue = target
        yield from self._enqueue(t, c, waiting_since=c.wait_from)

    def _free_agent(self, queue: str) -> _Agent | None:
        idle = self.idle[queue]
        while idle:
            agent = self.agents[idle[0]]
            if agent.state == "available":
                return agent
            idle.popleft()  # stale: the agent became busy through another queue
        return None

    def _dispatch(self, t: float) -> Iterator[Event]:
        progress = True
        while progress:
            progress = False
            best: tuple[tuple[int, float, int], str, _Agent] | None = None
            for queue, heap in self.waiting.items():
                while heap and not heap[0][3].waiting:
                    heapq.heappop(heap)
                if not heap:
                    continue
                agent = self._free_agent(queue)
                if agent is None:
                    continue
                key = heap[0][:3]
                # the longest-idle agent among the queues' candidates takes the most urgent contact
                if best is None or key < best[0] or (key == best[0] and agent.idle_since < best[2].idle_since):
                    best = (key, queue, agent)
            if best is not None:
                _, queue, agent = best
                _, _, _, contact = heapq.heappop(self.waiting[queue])
                contact.waiting = False
                yield from self._answer(t, agent, contact)
                progress = True

    def _answer(self, t: float, agent: _Agent, c: _Contact) -> Iterator[Event]:
        src = self.sc.source
        yield CallAnswered.model_construct(v=1, id=self._id(), type="call.answered", ts=self._dt(t), source=src,
                                           call_id=c.call_id, queue=c.queue, channel=c.channel,
                                           priority=c.priority, agent=agent.name)
        yield from self._state(t, agent, "busy")
        spec = self.sc.queues[c.queue]
        talk = self._draw(spec.service or self.sc.service)
        out = self.sc.outcomes
        c.solved = self.rng.random() < out.resolution_rate
        ended_by = "agent" if self.rng.random() < out.agent_hangup_rate else "customer"
        cap = out.handle_cap_s
        if "cap_hangup" in agent.planted and talk > cap - 30:
            # hangs up just before the cap: the customer's problem stays unsolved
            talk = cap - self.rng.uniform(1, 25)
            ended_by = "agent"
            c.solved = False
        transfer_to = None
        others = [q for q, spec in self.sc.queues.items() if q != c.queue and spec.channel == c.channel]
        if others and c.transfers < 2 and self.rng.random() < out.transfer_rate:
            transfer_to = self.rng.choice(others)
        self._at(t + talk, "end", (agent.name, c, ended_by, transfer_to))

    def _on_end(self, t: float, payload: tuple[str, _Contact, str, str | None]) -> Iterator[Event]:
        name, c, ended_by, transfer_to = payload
        agent = self.agents[name]
        src = self.sc.source
        if transfer_to is not None:
            yield CallTransferred.model_construct(
                v=1, id=self._id(), type="call.transferred", ts=self._dt(t), source=src, call_id=c.call_id,
                queue=c.queue, channel=c.channel, priority=c.priority, agent=name, to_queue=transfer_to,
                to_agent=None)
            yield from self._after_contact(t, agent)
            c.transfers += 1
            c.queue = transfer_to
            yield from self._enqueue(t, c, waiting_since=None)
            return
        hold = round(self.rng.uniform(0, 40), 1) if self.rng.random() < 0.15 else None
        yield CallEnded.model_construct(v=1, id=self._id(), type="call.ended", ts=self._dt(t), source=src,
                                        call_id=c.call_id, queue=c.queue, channel=c.channel, priority=c.priority,
                                        agent=name, ended_by=ended_by, hold_s=hold)
        yield from self._state(t, agent, "wrap_up")
        out = self.sc.outcomes
        complaint = self.rng.random() < (out.complaint_rate * (3 if not c.solved else 0.5))
        if out.dispositions:
            resolved = c.solved or "false_resolution" in agent.planted
            yield CallDisposition.model_construct(
                v=1, id=self._id(), type="call.disposition", ts=self._dt(t + 1), source=src, call_id=c.call_id,
                queue=c.queue, channel=c.channel, priority=c.priority, agent=name, resolved=resolved,
                complaint=complaint, category=None)
        yield from self._survey(t, agent, c, complaint)
        self._maybe_call_back(t, c, solved=c.solved)
        acw = self._draw(self.sc.acw)
        if math.isfinite(acw):
            self._at(t + acw, "wrap", (name, c))
        else:  # a source without after-contact work: the agent is free at once
            yield from self._after_contact(t, agent)

    def _survey(self, t: float, agent: _Agent, c: _Contact, complaint: bool) -> Iterator[Event]:
        out = self.sc.outcomes
        rng = self.rng
        if "survey_selection" in agent.planted:
            offered = not complaint and rng.random() < min(1.0, out.survey_offer_rate * 1.2)
        else:
            offered = rng.random() < out.survey_offer_rate
        if not offered:
            return
        src = self.sc.source
        common: dict[str, Any] = {"v": 1, "source": src, "call_id": c.call_id, "queue": c.queue, "channel": c.channel,
                  "agent": agent.name}
        yield SurveyOffered.model_construct(id=self._id(), type="survey.offered", ts=self._dt(t + 2), **common)
        begging = "score_begging" in agent.planted
        if rng.random() >= out.survey_response_rate * (1.3 if begging else 1.0):
            return
        if begging:
            satisfied, professional = (5, 5) if rng.random() < 0.85 else (4, 5)
        elif c.solved and not complaint:
            satisfied, professional = rng.choice((5, 5, 4, 4, 3)), rng.choice((5, 4, 4, 3))
        else:
            satisfied, professional = rng.choice((1, 2, 2, 3, 4)), rng.choice((2, 3, 3, 4))
        yield SurveyCompleted.model_construct(
            id=self._id(), type="survey.completed", ts=self._dt(t + 60 + rng.uniform(0, 600)), satisfied=satisfied,
            professional=professional, more_help=not c.solved and rng.random() < 0.7, **common)

    def _maybe_call_back(self, t: float, c: _Contact, solved: bool) -> None:
        out = self.sc.outcomes
        if solved or self.rng.random() >= out.callback_rate:
            return
        when = t + self.rng.expovariate(1.0 / out.callback_mean_s)
        if when < self.horizon:
            self._at(when, "arrival", (c.queue, c))

    def _on_wrap(self, t: float, payload: tuple[str, _Contact]) -> Iterator[Event]:
        name, c = payload
        yield CallWrapped.model_construct(v=1, id=self._id(), type="call.wrapped", ts=self._dt(t),
                                          source=self.sc.source, call_id=c.call_id, queue=c.queue,
                                          channel=c.channel, priority=c.priority, agent=name)
        yield from self._after_contact(t, self.agents[name])

    def _after_contact(self, t: float, agent: _Agent) -> Iterator[Event]:
        if agent.leaving or not agent.on_shift:
            agent.leaving = False
            yield from self._state(t, agent, "offline")
            return
        if agent.pending_break is not None:
            duration, reason = agent.pending_break
            agent.pending_break = None
            yield from self._state(t, agent, "away", reason=reason)
            self._at(t + duration, "back", agent.name)
            return
        yield from self._state(t, agent, "available")
        yield from self._dispatch(t)


def simulate(scenario: Scenario, seed: int = 1, id_prefix: str = "") -> tuple[list[Event], Truth]:
    """All events of a run in time order (stable for equal times), and the ground truth."""
    sim = Simulation(scenario, seed, id_prefix)
    events = list(sim.events())
    events.sort(key=lambda e: e.ts)
    return events, sim.truth


def simulate_days(scenario: Scenario, seed: int, days: int) -> Iterator[tuple[list[Event], Truth]]:
    """The scenario's day repeated on ``days`` consecutive days (a month of a floor, say): each day its
    own seeded run, with day-prefixed ids; the customers are one pool, so they come back across days."""
    for day in range(days):
        sc = scenario.model_copy(update={"start": scenario.start + timedelta(days=day)})
        yield simulate(sc, seed * 1000 + day, id_prefix=f"d{day:03d}-")


def simulate_floor(scenario: Scenario, seed: int = 1, days: int = 1,
                   progress: Callable[[float, datetime], None] | None = None) -> tuple[list[Event], Truth]:
    """What ``callwatch simulate`` writes: one day is the scenario as it is (seeded with ``seed``);
    several repeat it as :func:`simulate_days` does. The events are in time order within each day, the
    truth's counts are summed over the days. Every 5,000 events of a day ``progress`` is told the
    simulated seconds done (over all days) and the simulated clock."""
    events: list[Event] = []
    truth = Truth(planted={a: list(b) for a, b in scenario.planted.items()})
    for day in range(days):
        day_sc = scenario.model_copy(update={"start": scenario.start + timedelta(days=day)}) if day else scenario
        sim = Simulation(day_sc, seed if days == 1 else seed * 1000 + day, "" if days == 1 else f"d{day:03d}-")
        day_events = []
        for n, ev in enumerate(sim.events(), 1):
            day_events.append(ev)
            if progress is not None and n % 5000 == 0:
                progress(day * scenario.hours * 3600 + ev.ts.timestamp() - day_sc.start.timestamp(), ev.ts)
        day_events.sort(key=lambda e: e.ts)
        events.extend(day_events)
        truth.contacts += sim.truth.contacts
        truth.callbacks += sim.truth.callbacks
    return events, truth


#: the seed of the shipped example day (chosen for its story: billing's incident, support healthy)
DEMO_SEED = 8


def demo_events(start: datetime | None = None, seed: int = DEMO_SEED, hours: float | None = None,
                scale: float = 1.0, scenario: str = "demo") -> list[Event]:
    """A built-in scenario's events (by default the example day), optionally moved, cut or scaled."""
    sc = Scenario.builtin(scenario)
    update: dict[str, Any] = {}
    if start is not None:
        update["start"] = start
    if hours is not None:
        update["hours"] = hours
    if update:
        sc = sc.model_copy(update=update)
    if scale != 1.0:
        sc = sc.scaled(scale)
    return simulate(sc, seed)[0]
