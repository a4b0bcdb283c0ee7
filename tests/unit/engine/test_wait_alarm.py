"""The wait alarm: started at the crossing, repeated per the rules file, resolved when the last caller leaves."""

from __future__ import annotations

from callwatch.alarm_rules import AlarmRules
from callwatch.config import MonitorConfig
from callwatch.engine import Engine, replay_events
from tests.unit.helpers import BASE_TS, call, ev

RULES = AlarmRules.model_validate({"wait_window_exceeded": {"repeat_s": 300, "severity": "warning"}})


def _wait_alarms(eng: Engine) -> list[tuple[str, float, str, float]]:
    return [(a.status, a.at - BASE_TS, a.severity, a.value) for a in eng.outbox if a.alarm == "wait_window_exceeded"]


def test_repeats_at_the_rules_interval_with_its_severity() -> None:
    """A caller waiting 20 minutes: started at 180 s, repeated every 300 s (the rules file's), resolved."""
    beats = [ev("source.heartbeat", t, source="s") for t in range(30, 1400, 30)]  # the clock moves steadily
    events = sorted(call("c", "q", 0, answered=1200) + beats, key=lambda e: e.ts)
    eng = replay_events(Engine(MonitorConfig(alarms=RULES)), events)
    assert _wait_alarms(eng) == [("started", 180.0, "warning", 180.0), ("repeated", 480.0, "warning", 480.0),
                                 ("repeated", 780.0, "warning", 780.0), ("repeated", 1080.0, "warning", 1080.0),
                                 ("resolved", 1200.0, "warning", 0.0)]
    ids = [a.id for a in eng.outbox]
    assert len(ids) == len(set(ids))  # each repeat is its own message (the dispatcher drops only copies)


def test_a_disabled_rule_raises_nothing() -> None:
    """With the wait rule disabled, nobody is paged, whatever the wait."""
    rules = AlarmRules.model_validate({"wait_window_exceeded": {"enabled": False}})
    events = [*call("c", "q", 0, answered=1200), ev("source.heartbeat", 1300, source="s")]
    assert _wait_alarms(replay_events(Engine(MonitorConfig(alarms=rules)), events)) == []


def test_repeats_continue_after_a_restore() -> None:
    """A worker restarted mid-incident repeats on the same schedule (last sent is part of the state)."""
    cfg = MonitorConfig(alarms=RULES)
    events = call("c", "q", 0, answered=1200) + [ev("source.heartbeat", t, source="s") for t in range(60, 1400, 60)]
    events.sort(key=lambda e: e.ts)
    whole = replay_events(Engine(cfg), events)
    first = Engine(cfg)
    for e in events[:10]:
        first.step(e)
    store: dict[str, dict[str, bytes]] = {}
    for name, items in first.take_dirty().items():
        store[name] = {k: v for k, v in items.items() if v is not None}
    again = Engine.restore(cfg, first.meta(), store)
    for e in events[10:]:
        again.step(e)
    again.finish()
    assert _wait_alarms(first) + _wait_alarms(again) == _wait_alarms(whole)


def test_a_clock_that_jumps_sends_one_repeat_not_a_burst() -> None:
    """Live, a timer that comes back an hour late (a paused worker) sends the latest repeat due, once."""
    eng = Engine(MonitorConfig(alarms=RULES))
    eng.step(call("c", "q", 0)[0], now=BASE_TS + 1)
    alarms = eng.advance(now=BASE_TS + 3600)
    assert [(a.status, a.at - BASE_TS) for a in alarms] == [("started", 180.0), ("repeated", 3480.0)]
