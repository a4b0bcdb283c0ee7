"""Small builders for hand-written event sequences (a real part of the tests, not a mock)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

from callwatch.config import MonitorConfig
from callwatch.engine import Engine
from callwatch.events import Event, build

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
BASE_TS = T0.timestamp()
_ids = itertools.count(1)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def ev(kind: str, t: float, **fields: Any) -> Event:
    fields.setdefault("id", f"e{next(_ids)}")
    return build(type=kind, ts=at(t), **fields)


def call(call_id: str, queue: str, queued: float, answered: float | None = None, ended: float | None = None,
         wrapped: float | None = None, abandoned: float | None = None, agent: str = "a1",
         ended_by: str = "customer", channel: str = "voice", **queued_fields: Any) -> list[Event]:
    """The events of one ordinary contact."""
    out = [ev("call.queued", queued, call_id=call_id, queue=queue, channel=channel, **queued_fields)]
    if abandoned is not None:
        out.append(ev("call.abandoned", abandoned, call_id=call_id, queue=queue, channel=channel))
    if answered is not None:
        out.append(ev("call.answered", answered, call_id=call_id, queue=queue, agent=agent, channel=channel))
    if ended is not None:
        out.append(ev("call.ended", ended, call_id=call_id, queue=queue, agent=agent, ended_by=ended_by,
                      channel=channel))
    if wrapped is not None:
        out.append(ev("call.wrapped", wrapped, call_id=call_id, queue=queue, agent=agent, channel=channel))
    return out


def metric_samples(service: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample a worker's /metrics shows, by name and labels (the real collector, a fresh registry)."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from streams.metrics import MonitorCollector

    registry = CollectorRegistry()
    registry.register(MonitorCollector(service, lambda p, o: None))
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def commit_changes(store: dict[str, dict[str, bytes]], changes: dict[str, dict[str, bytes | None]]) -> None:
    """Apply a ``take_dirty()`` change set to a plain store, as a state store commits it (None: deleted)."""
    for name, items in changes.items():
        target = store.setdefault(name, {})
        for k, v in items.items():
            if v is None:
                target.pop(k, None)
            else:
                target[k] = v


def capped_floor() -> list[Event]:
    """A day of four agents on one queue, one of whom ("cap") ends every other call himself just before a
    420 s handle-time cap, then two heartbeats the next day (the clock's jump to it confirmed), so that
    the day is reviewed by the integrity signals."""
    events: list[Event] = []
    for agent in ("h1", "h2", "h3", "cap"):
        for i in range(40):
            t = i * 600.0 + {"h1": 0, "h2": 100, "h3": 200, "cap": 300}[agent]
            talk = 410.0 if agent == "cap" and i % 2 == 0 else 120.0 + i
            by = "agent" if (agent == "cap" and i % 2 == 0) or i == 7 else "customer"
            events += call(f"{agent}-{i}", "q", t, answered=t + 5, ended=t + 5 + talk, agent=agent, ended_by=by)
    return events + [ev("source.heartbeat", 86400 * 1.5 + i, source="pbx") for i in (0, 1)]



def agent_state(name: str, t: float, state: str, queues: list[str] | None = None, **fields: Any) -> Event:
    """One agent.state event (serving billing unless told otherwise)."""
    return ev("agent.state", t, agent=name, state=state, queues=queues or ["billing"], **fields)


def stepped(events: list[Event], config: MonitorConfig | None = None) -> Engine:
    """An engine stepped through the events in time order and not finished, as a live worker holds it."""
    engine = Engine(config or MonitorConfig())
    for e in sorted(events, key=lambda e: e.ts):
        engine.step(e)
    return engine
