"""A contact answered by nobody the source names (``agent: null``, EVENTS.md): the queue counts it, no agent does."""

from __future__ import annotations

import orjson
import pytest

from callwatch.config import MonitorConfig
from callwatch.engine import Engine, codec, replay_events
from callwatch.engine.report import report
from callwatch.events import CallAnswered, InvalidEvent, decode, encode
from tests.unit.helpers import call, ev


def test_a_null_agent_survives_the_wire_but_a_missing_one_does_not() -> None:
    """`agent: null` is written and read back; an answer that leaves the field out is still refused."""
    answered = ev("call.answered", 10, call_id="c1", queue="sales", agent=None)
    wire = encode(answered)
    assert orjson.loads(wire)["agent"] is None
    assert decode(wire) == answered and isinstance(decode(wire), CallAnswered)
    without = {k: v for k, v in orjson.loads(wire).items() if k != "agent"}
    with pytest.raises(InvalidEvent, match="agent"):
        decode(orjson.dumps(without))


def test_an_unnamed_answer_counts_for_the_queue_and_credits_no_agent() -> None:
    """Offered, answered, its wait and its talk count in the queue's figures; no agent day is created for it."""
    events = sorted([
        *call("c1", "sales", 0, answered=20, ended=80, agent="a1"),
        ev("call.queued", 5, call_id="c2", queue="sales", customer="k2"),
        ev("call.answered", 35, call_id="c2", queue="sales", agent=None),
        ev("call.ended", 155, call_id="c2", queue="sales", agent=None, ended_by="agent"),
    ], key=lambda e: e.ts)
    engine = replay_events(Engine(MonitorConfig()), events)
    sales = report(engine)["queues"]["sales"]["total"]
    assert (sales["offered"], sales["answered"], sales["ended"]) == (2, 2, 2)
    assert sales["asa"] == pytest.approx((20 + 30) / 2)
    assert sales["talk"] == pytest.approx(60 + 120)
    assert sales["agent_ended_calls"] == 1
    assert {agent for agent, _ in engine.agent_days} == {"a1"}
    assert sum(day.handled for day in engine.agent_days.values()) == 1
    assert not any(k.startswith("inconsistent") for k in engine.counters)


def test_an_unnamed_end_is_the_answering_agents() -> None:
    """An end that names nobody after an answer that named an agent is credited to that agent."""
    events = [ev("call.queued", 0, call_id="c1", queue="sales"),
              ev("call.answered", 10, call_id="c1", queue="sales", agent="a1"),
              ev("call.ended", 70, call_id="c1", queue="sales", agent=None, ended_by="customer")]
    engine = replay_events(Engine(MonitorConfig()), events)
    assert [(agent, d.handled, d.talk_s) for (agent, _), d in engine.agent_days.items()] == [("a1", 1, 60.0)]


def test_a_held_unnamed_answer_survives_the_state_codec() -> None:
    """An unnamed answer held for its late `call.queued` is written to the store and read back with its null agent."""
    held = {("sales", "c9"): [ev("call.answered", 30, call_id="c9", queue="sales", agent=None)]}
    written = codec.changes(held, held)
    back: dict[object, object] = {}
    codec.load("held", {k: v for k, v in written.items() if v is not None}, back)
    assert back == held
