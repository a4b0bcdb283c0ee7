"""The small rooms on their own: queue calls, agents and their days, customers, held events, seen ids, codec."""

from __future__ import annotations

from datetime import timezone
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from callwatch.engine import codec
from callwatch.engine.agent_days import AgentDays, FloorCalendar
from callwatch.engine.agents import Agents
from callwatch.engine.customers import Customers
from callwatch.engine.holding import HeldEvents
from callwatch.engine.queue_calls import QueueCalls
from callwatch.engine.records import Leg
from callwatch.engine.seen import SeenIds
from tests.unit.helpers import BASE_TS, ev


@given(st.lists(st.tuples(st.floats(0, 1000), st.floats(0, 500), st.booleans()), max_size=40),
       st.floats(0, 1600))
def test_waiting_and_waits_as_of_an_instant_equal_a_scan(stays: list[tuple[float, float, bool]], at: float) -> None:
    """waiting_at and waits_at give what a scan of every leg gives, for any instant (departures indexed)."""
    calls = QueueCalls()
    legs = []
    for i, (arrived, stay, leaves) in enumerate(stays):
        leg = Leg(f"c{i}", "q", "voice", 0, calls.next_seq(), arrived, arrived, "waiting")
        calls.add(leg, arrived)
        if leaves:
            calls.leave(leg, arrived + stay, done=float("-inf"))
            leg.status = "answered"
        legs.append(leg)
    inside = [leg for leg in legs if leg.arrived_at is not None and leg.arrived_at <= at
              and (leg.left_at is None or leg.left_at > at)]
    assert calls.waiting_at("q", at) == len(inside)
    assert sorted(calls.waits_at("q", at)) == sorted(at - leg.wait_from for leg in inside if leg.wait_from is not None)


def test_agent_spells_are_accounted_at_the_watermark_and_split_at_midnight() -> None:
    """A change becomes final when the watermark passes it; the spell it ends is split at the floor's midnight."""
    agents, days = Agents(), AgentDays(FloorCalendar(ZoneInfo("UTC")))
    midnight = (BASE_TS // 86400 + 1) * 86400
    agents.state_event(ev("agent.state", midnight - BASE_TS - 600, agent="ann", state="available", queues=["q"]),
                       midnight - 600)
    agents.state_event(ev("agent.state", midnight - BASE_TS + 300, agent="ann", state="busy"), midnight + 300)
    assert agents.at("q")["busy"] == 1 and agents.at("q", midnight)["available"] == 1
    assert not list(agents.finalise(midnight))  # the first change is final, but it ends no spell yet
    for spell in agents.finalise(midnight + 300):
        days.account(spell)
    assert {d: a.state_s for (_, d), a in days.days.items()} == {
        "2026-11-23": {"available": 600.0}, "2026-11-24": {"available": 300.0}}


def test_a_customer_coming_back_makes_the_earlier_contact_a_repeat() -> None:
    """Within 24 h: a repeat for both horizons; a contact that arrives after the next one is a repeat at once."""
    customers = Customers()
    customers.contact("k", "c1", "q", "voice", 0.0)
    _, repeats = customers.contact("k", "c2", "q", "voice", 3600.0)
    assert [(r.prior.call_id, r.short, r.long) for r in repeats] == [("c1", True, True)]
    late, _ = customers.contact("k", "c0", "q", "voice", -100.0)
    assert late.repeat_72h and late.repeat_24h
    customers.expire(before_hour=1)
    assert [c.call_id for c in customers.histories["k"].contacts] == ["c2"]


def test_held_events_come_back_in_order_once() -> None:
    """Held per contact, released in event-time order, or handed back once the watermark passes them."""
    held = HeldEvents()
    late = ev("call.ended", 50, call_id="c", queue="q", agent="a", ended_by="agent")
    early = ev("call.answered", 10, call_id="c", queue="q", agent="a")
    held.hold(late, ("q", "c"), BASE_TS + 50)
    held.hold(early, ("q", "c"), BASE_TS + 10)
    assert [e.id for e in held.release(("q", "c"))] == [early.id, late.id]
    assert held.release(("q", "c")) == []
    held.hold(late, ("q", "d"), BASE_TS + 50)
    assert [(k, [e.id for e in es]) for k, es in held.expired(BASE_TS + 60)] == [(("q", "d"), [late.id])]


def test_seen_ids_persist_in_batches_and_expire_by_hour() -> None:
    """A batch of ids is one field per hour; restored, they deduplicate; their hour expires whole."""
    seen = SeenIds()
    for i in range(5):
        seen.add(f"e{i}", 7200.0 + i)
    changes = seen.take_changes()
    assert len(changes) == 1
    again = SeenIds()
    again.load({k: v for k, v in changes.items() if v is not None})
    assert "e3" in again and len(again) == 5
    again.expire(before_hour=3)
    assert len(again) == 0 and list(again.take_changes().values()) == [None]


def test_codec_round_trips_every_container() -> None:
    """What codec.changes writes, codec.load reads back equal (tuple keys, records, held events)."""
    leg = Leg("c", "q", "voice", 0, 1, 1.0, 1.0, "waiting")
    held = [ev("call.answered", 10, call_id="c", queue="q", agent="a")]
    for name, container in (("legs", {("q", "c"): leg}), ("held", {("q", "c"): held}), ("sources", {"pbx": 5.0})):
        written = codec.changes(container, container)
        back: dict[object, object] = {}
        codec.load(name, {k: v for k, v in written.items() if v is not None}, back)
        assert back == container
    assert timezone.utc  # the held event's time survives as an aware datetime
