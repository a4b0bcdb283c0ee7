"""Ahead of the line (engine/forecast.py, early_warning.py): predictions at entry, staffing, the early warning."""

from __future__ import annotations

import statistics
from functools import cache
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from callwatch import erlang
from callwatch.config import MonitorConfig
from callwatch.engine import Engine, replay_events
from callwatch.engine.figures import service_level_of
from callwatch.engine.snapshot import snapshot
from callwatch.engine.windows import interval_agg
from callwatch.events import Event
from producers.scenario import Scenario
from producers.simulator import simulate

RATE_PER_H, HANDLE_S, T_S = 100.0, 260.0, 20.0
#: the early warning turned on (it is off by default)
WARNING_ON = MonitorConfig.model_validate({"alarms": {"wait_window_forecast": {"enabled": True}}})


def steady(agents: int, hours: float) -> Scenario:
    """One queue, Poisson arrivals, exponential handle time, patient callers: Erlang C's own world."""
    return Scenario.model_validate({
        "name": "steady-erlang", "hours": hours, "heartbeat_s": 0,
        "queues": {"q": {"arrivals": [[0, RATE_PER_H]]}},
        "agents": [{"prefix": "a", "count": agents, "queues": ["q"]}],
        "service": {"kind": "exponential", "mean_s": HANDLE_S}, "patience": {"kind": "none"},
        "acw": {"kind": "none"},
        "outcomes": {"dispositions": False, "survey_offer_rate": 0, "callback_rate": 0, "transfer_rate": 0},
    })


@cache
def ramp_events() -> tuple[Event, ...]:
    sc = Scenario.builtin("ramp")
    return tuple(simulate(sc.model_copy(update={"hours": 2.5}), 3)[0])


def predictions(events: tuple[Event, ...] | list[Event]) -> list[list[Any]]:
    engine = Engine(MonitorConfig())
    engine.forecast.record = []
    replay_events(engine, events)
    return engine.forecast.record


@cache
def full_predictions() -> tuple[tuple[str, str, float, float], ...]:
    return tuple((r[0], r[1], r[2], r[3]) for r in predictions(ramp_events()))


@settings(max_examples=8, deadline=None)
@given(st.floats(0.05, 0.95))
def test_a_prediction_uses_only_what_was_known_at_entry(share: float) -> None:
    """The same log cut at any event time gives the same predictions for the calls that entered before."""
    events = ramp_events()
    cut = int(len(events) * share)
    cut_at = events[cut].ts.timestamp()
    before = [e for e in events if e.ts.timestamp() < cut_at]
    mine = {(r[0], r[1], r[2]): r[3] for r in predictions(before)}
    full = {(c, q, t): p for c, q, t, p in full_predictions() if t < cut_at}
    assert mine == full
    assert len(full) > 10 or share < 0.2


def test_predictions_follow_the_line() -> None:
    """A caller who enters behind a longer line is predicted a longer wait, and waiting callers each get
    an expected time until answer in the page's JSON."""
    rows = predictions(ramp_events())
    answered = [r for r in rows if r[5] == "answered"]
    assert answered and all(r[3] >= 0 for r in rows)
    late = [r[3] for r in answered if r[2] > answered[0][2] + 5400]  # the peak, past capacity
    early = [r[3] for r in answered if r[2] < answered[0][2] + 3000]
    assert statistics.mean(late) > statistics.mean(early) + 30
    engine = replay_events(Engine(MonitorConfig()), list(ramp_events())[: len(ramp_events()) * 3 // 4])
    q = snapshot(engine, engine.watermark)["queues"]["billing"]
    assert q["predicted_wait_s"] >= 0 and q["agents_staffed"] == 12
    assert set(q["expected_answer_in_s"]) == set(engine.waiting["billing"])


def test_staffing_advice_is_erlang_c_on_the_last_15_minutes() -> None:
    """On steady simulated traffic the advice is Erlang C's on the last 15 minutes' arrivals and handle
    times, and over the day it centres on the formula's answer for the true load."""
    sc = steady(agents=11, hours=8)
    events, _ = simulate(sc, 5)
    end = sc.start.timestamp() + 8 * 3600  # the agents' shift ends there
    engine = Engine(MonitorConfig())
    arrivals: list[float] = []
    ended: list[tuple[float, float]] = []
    answered_at: dict[str, float] = {}
    advice: list[int] = []
    next_sample = events[0].ts.timestamp() + 3600
    for ev in events:
        ts = ev.ts.timestamp()
        if next_sample <= ts < end:
            got = engine.forecast.staffing("q")
            recent = [t for t in arrivals if t >= engine.forecast.newest - 900]
            handles = [h for t, h in ended if t >= engine.forecast.newest - 900]
            aht = sum(handles) / len(handles)
            load = len(recent) / 900 * aht
            assert got.agents_needed == erlang.agents_needed(load, aht, T_S, 0.8)
            assert got.agents_staffed_shared == 11.0
            advice.append(got.agents_needed)
            next_sample += 900
        engine.step(ev)
        if ev.type == "call.queued":
            arrivals.append(ts)
        elif ev.type == "call.answered":
            answered_at[ev.call_id] = ts  # type: ignore[attr-defined]
        elif ev.type == "call.ended":
            ended.append((ts, ts - answered_at[ev.call_id]))  # type: ignore[attr-defined]
    theory = erlang.agents_needed(RATE_PER_H / 3600 * HANDLE_S, HANDLE_S, T_S, 0.8)
    assert len(advice) >= 25
    # 15 minutes hold about 25 arrivals: each sample is noisy, their centre is the formula's answer
    assert abs(statistics.median(advice) - theory) <= 0.5
    assert abs(statistics.mean(advice) - theory) <= 1.0


def test_the_advised_staffing_meets_the_target() -> None:
    """Staffed as advised for the true load, the simulated floor's service level (measured by the
    engine over 12 hours after a warm-up hour) meets the 80 % target."""
    theory = erlang.agents_needed(RATE_PER_H / 3600 * HANDLE_S, HANDLE_S, T_S, 0.8)
    sc = steady(agents=theory, hours=13)
    engine = replay_events(Engine(MonitorConfig()), simulate(sc, 11)[0])
    start = sc.start.timestamp() + 3600
    agg = interval_agg(engine, "q", None, start, start + 12 * 3600)
    sl = service_level_of(agg, MonitorConfig().defaults)
    assert agg.answered > 1000
    assert sl is not None and sl >= 0.8, sl


def test_early_warning_comes_before_the_line_is_crossed_and_clears() -> None:
    """On a ramp past capacity the warning starts before the first caller passes the window, and it
    resolves once the peak is over; a steady day below capacity raises none."""
    engine = replay_events(Engine(WARNING_ON), list(simulate(Scenario.builtin("ramp"), 2)[0]))
    crossed = [a.at for a in engine.outbox if a.alarm == "wait_window_exceeded" and a.status == "started"]
    warned = [a for a in engine.outbox if a.alarm == "wait_window_forecast"]
    assert crossed and warned
    first = warned[0]
    assert first.status == "started" and first.severity == "warning" and first.at < crossed[0]
    assert first.metric == "predicted_wait" and "will pass 180 s" in first.detail
    assert any(a.status == "resolved" for a in warned)
    quiet = Scenario.builtin("steady").model_copy(update={"hours": 4})
    calm = replay_events(Engine(WARNING_ON), simulate(quiet, 4)[0])
    end = quiet.start.timestamp() + 4 * 3600 - 300
    assert not [a for a in calm.outbox if a.alarm == "wait_window_forecast" and a.at < end]


def test_early_warning_is_on_by_default_and_a_rules_file_turns_it_off() -> None:
    """On by default (it met its goals on four seed blocks pooled, bench/warning_eval.py); a rules file
    with ``enabled: false`` silences it."""
    assert MonitorConfig().alarms.wait_window_forecast.enabled
    on = replay_events(Engine(MonitorConfig()), list(ramp_events()))
    assert [a for a in on.outbox if a.alarm == "wait_window_forecast"]
    off = MonitorConfig.model_validate({"alarms": {"wait_window_forecast": {"enabled": False}}})
    engine = replay_events(Engine(off), list(ramp_events()))
    assert not [a for a in engine.outbox if a.alarm == "wait_window_forecast"]


def _warnings(callers: list[tuple[str, float, float | None]], states: bool = True,
              config: MonitorConfig = WARNING_ON, delays: int | None = None,
              restart_at: float | None = None) -> list[tuple[str, float]]:
    """The early warning's starts and resolves when two agents who take 100 s a call (one answer every
    50 s; answers at 0, 100 and 1200 s) leave ``callers`` (id, queued, dequeued or never) unanswered.
    With ``states`` the source sends the agents' states; without, only the calls name them. With
    ``delays`` (a seed) each event comes up to 50 s late (the lateness is 60 s); with ``restart_at`` the
    engine is saved after the events before it and restored from what it saved."""
    import random

    from tests.unit.helpers import BASE_TS, call, commit_changes, ev

    events = [*call("c1", "q", 0, answered=0, ended=100, agent="a1"), *call("c2", "q", 0, answered=0, ended=100,
                                                                          agent="a2"),
              *call("c3", "q", 100, answered=100, ended=200, agent="a1"),
              *call("c4", "q", 100, answered=100, ended=200, agent="a2"),
              *call("c5", "q", 1200, answered=1200, ended=1300, agent="a1"),
              *call("c6", "q", 1200, answered=1200, ended=1300, agent="a2")]
    if states:
        events += [ev("agent.state", 0, agent=a, state="available", queues=["q"]) for a in ("a1", "a2")]
    for name, queued, left in callers:
        events.append(ev("call.queued", queued, call_id=name, queue="q", channel="voice"))
        if left is not None:
            events.append(ev("call.dequeued", left, call_id=name, queue="q", channel="voice", reason="other"))
    events += [ev("source.heartbeat", t, source="s") for t in range(310, 1800, 10)]
    events.sort(key=lambda e: e.ts)
    if delays is not None:
        rng = random.Random(delays)
        events.sort(key=lambda e: e.ts.timestamp() + rng.uniform(0, 50))
    if restart_at is None:
        engine = replay_events(Engine(config), events)
        return [(a.status, a.at - BASE_TS) for a in engine.outbox if a.alarm == "wait_window_forecast"]
    first = Engine(config)
    before = [e for e in events if e.ts.timestamp() - BASE_TS < restart_at]
    for e in before:
        first.step(e)
    store: dict[str, dict[str, bytes]] = {}
    commit_changes(store, first.take_dirty())
    engine = Engine.restore(config, first.meta(), store)
    replay_events(engine, events[len(before):])
    return [(a.status, a.at - BASE_TS) for a in [*first.outbox, *engine.outbox]
            if a.alarm == "wait_window_forecast"]


def _a_line(spike: bool) -> list[tuple[str, float, float | None]]:
    """Four callers at once at 300 s: the last is predicted to wait 200 s, over the 180 s window, from
    the moment it enters. With ``spike`` three of them leave 20 s later, and the last at 440 s."""
    if spike:
        return [("w0", 300, 320), ("w1", 300, 320), ("w2", 300, 320), ("w3", 300, 440)]
    return [(f"w{i}", 300, None) for i in range(4)]


def test_early_warning_waits_for_its_prediction_to_hold() -> None:
    """Persistence: the warning starts HOLD_S after its prediction first passed the window, and a line
    that is answered down within that time raises none (the spikes that made most false warnings)."""
    from callwatch.engine.early_warning import HOLD_S

    held = _warnings(_a_line(spike=False))
    assert held and held[0] == ("started", 300 + HOLD_S)
    assert _warnings(_a_line(spike=True)) == []


def test_early_warning_needs_the_agents_states() -> None:
    """A source without agent states gets no warning (its capacity would be guessed from who answered),
    unless the rule's ``without_agent_states`` asks for one."""
    assert _warnings(_a_line(spike=False), states=False) == []
    rule = {"enabled": True, "without_agent_states": True}
    guessed = MonitorConfig.model_validate({"alarms": {"wait_window_forecast": rule}})
    assert _warnings(_a_line(spike=False), states=False, config=guessed)[0] == ("started", 330)


def test_no_re_warning_in_the_overload_the_wait_alarm_told_of() -> None:
    """A caller waited past the window (200 s, gone at 400 s): a new line within REWARN_S of that raises
    no warning; the same line after it does."""
    from callwatch.engine.early_warning import HOLD_S, REWARN_S

    over = [("x", 200, 400)]
    first = [("started", 360.0), ("resolved", 400.0)]  # x foretold: 50 s ahead of it, held 30 s
    assert _warnings(over) == first
    assert _warnings(over + [(f"w{i}", 500, 560) for i in range(4)]) == first
    later = 400 + REWARN_S + 100
    assert _warnings(over + [(f"w{i}", later, later + 60) for i in range(4)]) == [
        *first, ("started", later + HOLD_S), ("resolved", later + 60)]


def test_an_unlearned_place_in_line_is_not_told_a_few_seconds() -> None:
    """Callers have only ever been answered at once (the one learned cell: nobody ahead, 0 s). Then both
    agents are on calls of about 200 s and four callers wait: the next caller, fifth in line, is told
    about four times the time between answers (200 s / 2 agents), not the 0 s of an empty line."""
    from tests.unit.helpers import agent_state, call, stepped

    events = [agent_state("a1", 0, "available"), agent_state("a2", 0, "available")]
    events += call("x1", "billing", 10, answered=10, ended=210, agent="a1")
    events += call("x2", "billing", 20, answered=20, ended=220, agent="a2")
    events += call("x3", "billing", 230, answered=230, agent="a1")
    events += call("x4", "billing", 240, answered=240, agent="a2")
    for k in range(4):
        events += call(f"w{k}", "billing", 250 + 10 * k)
    engine = stepped(events)
    assert engine.forecast.between_answers("billing") == 100.0
    assert engine.forecast.predicted_wait("billing") == 400.0


def test_early_warning_is_the_same_in_any_arrival_order_and_after_a_restart() -> None:
    """Decided as of instants the clock has passed: events up to 50 s late (within the lateness) give the
    same starts and resolves, and so does a restart while a start is pending (the line formed at 300 s,
    its start due at 330 s), in the re-warning pause, or with a warning on."""
    over_then_line = [("x", 200, 400), *((f"w{i}", 500, 560) for i in range(4)),
                      *((f"v{i}", 1500, 1600) for i in range(4))]
    for callers in (_a_line(spike=False), _a_line(spike=True), over_then_line):
        straight = _warnings(callers)
        for seed in range(3):
            assert _warnings(callers, delays=seed) == straight
        for cut in (310.0, 365.0, 450.0, 1520.0):
            assert _warnings(callers, restart_at=cut) == straight
