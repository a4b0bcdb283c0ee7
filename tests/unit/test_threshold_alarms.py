"""Abandonment high, service level low, no agents and feed silent: start, repeat, resolve, rules file."""

from __future__ import annotations

from pathlib import Path

import pytest

from callwatch.alarm_rules import AlarmRules, RulesFileError, load_rules
from callwatch.config import MonitorConfig
from callwatch.engine import Engine, replay_events
from callwatch.settings import Settings
from tests.unit.helpers import T0, call, ev

BASE = T0.timestamp()
ROOT = Path(__file__).resolve().parents[2]


def alarms(eng: Engine, name: str) -> list[tuple[str, float]]:
    return [(a.status, a.at - BASE) for a in eng.outbox if a.alarm == name]


def test_abandonment_needs_volume_and_resolves_with_hysteresis() -> None:
    """Over 8 % with 20 contacts starts; back under 8 % − 2 % resolves; fewer than 20 contacts never starts."""
    events = []
    for i in range(20):  # minute 0–10: 20 contacts, 4 abandoned (20 %)
        t = i * 30
        if i % 5 == 0:
            events += call(f"a{i}", "q", t, abandoned=t + 10)
        else:
            events += call(f"a{i}", "q", t, answered=t + 5, ended=t + 20)
    for i in range(60):  # minute 10–40: all answered, the rate falls
        t = 600 + i * 30
        events += call(f"b{i}", "q", t, answered=t + 5, ended=t + 20)
    events.append(ev("source.heartbeat", 3000, source="s"))
    eng = replay_events(Engine(MonitorConfig()), sorted(events, key=lambda e: e.ts))
    got = alarms(eng, "abandonment_high")
    assert got[0][0] == "started" and got[-1][0] == "resolved"
    started = next(a for a in eng.outbox if a.alarm == "abandonment_high")
    assert started.value > 0.08 and started.threshold == 0.08 and started.unit == "ratio"
    few = replay_events(Engine(MonitorConfig()), [*call("x", "q", 0, abandoned=30),
                                                  ev("source.heartbeat", 900, source="s")])
    assert alarms(few, "abandonment_high") == []


def test_no_agents_waits_out_its_period() -> None:
    """A caller waits with the queue's only agent away: the alarm starts after 60 s, resolves on return."""
    events = [ev("agent.state", 0, agent="ann", state="away", reason="break", queues=["q"]),
              ev("call.queued", 10, call_id="c", queue="q"),
              ev("agent.state", 200, agent="ann", state="available"),
              ev("call.answered", 205, call_id="c", queue="q", agent="ann"),
              ev("source.heartbeat", 400, source="s")]
    eng = replay_events(Engine(MonitorConfig()), events)
    # evaluated every 15 s: it began at the 15 s instant, and is sent at the first instant 60 s later
    assert alarms(eng, "no_agents") == [("started", 75.0), ("resolved", 210.0)]
    started = next(a for a in eng.outbox if a.alarm == "no_agents")
    assert started.started_at - BASE == 15.0 and started.waiting == 1


def test_no_agents_needs_agent_data() -> None:
    """A queue no agent ever said it serves (per-call records) raises no 'no agents' alarm."""
    eng = replay_events(Engine(MonitorConfig()), [ev("call.queued", 0, call_id="c", queue="q"),
                                                 ev("source.heartbeat", 300, source="s")])
    assert alarms(eng, "no_agents") == []


def test_feed_silent_and_repeat() -> None:
    """A source silent for more than 60 s raises feed_silent, repeats after its interval, resolves."""
    cfg = MonitorConfig(alarms=AlarmRules.model_validate({"feed_silent": {"repeat_s": 120}}))
    events = [ev("source.heartbeat", 0, source="pbx-a"), ev("source.heartbeat", 0, source="pbx-b")]
    events += [ev("source.heartbeat", t, source="pbx-b") for t in range(30, 600, 30)]
    events.append(ev("source.heartbeat", 400, source="pbx-a"))
    eng = replay_events(Engine(cfg), sorted(events, key=lambda e: e.ts))
    got = [(a.status, a.queue, a.at - BASE) for a in eng.outbox if a.alarm == "feed_silent"]
    assert got == [("started", "pbx-a", 75.0), ("repeated", "pbx-a", 195.0), ("repeated", "pbx-a", 315.0),
                   ("resolved", "pbx-a", 400.0), ("started", "pbx-a", 465.0)]  # silent again after 400


def test_rules_file_errors_name_rule_and_field(tmp_path: Path) -> None:
    """A wrong rules file is refused at start, saying which rule and field and what is wrong."""
    bad = tmp_path / "rules.yaml"
    bad.write_text("abandonment_high: {threshold: 3}\nqueues: {vip: {no_agents: {for_s: -1}}}\n")
    with pytest.raises(RulesFileError, match=r"abandonment_high\.threshold: Input should be less than or equal to 1"):
        load_rules(bad)
    bad.write_text("queues: {vip: {no_agents: {for_s: -1}}}\n")
    with pytest.raises(RulesFileError, match=r"queues\.vip\.no_agents\.for_s"):
        load_rules(bad)
    shipped = Settings(alarm_rules_file=ROOT / "alerts" / "rules" / "default.yaml")
    assert shipped.monitor.alarms.for_queue("billing").abandonment_high.threshold == 0.06
    assert shipped.monitor.alarms.for_queue("support").abandonment_high.threshold == 0.08


def test_every_alarm_has_its_rule_in_the_one_file() -> None:
    """Every alarm the engine or `goals check` sends has a rule with enabled, severity and repeat_s, read
    from the rules file (integrity: info, once a day, before the engine reads it); the shipped example
    names every rule."""
    from callwatch.alarm import ALARM_TITLES

    rules = AlarmRules()
    for name in (n for n in ALARM_TITLES if n != "test"):
        rule = rules.rule_for(name, "billing")
        assert {"enabled", "severity", "repeat_s"} <= set(type(rule).model_fields), name
    assert (rules.integrity.enabled, rules.integrity.severity, rules.integrity.repeat_s) == (True, "info", 86400.0)
    assert rules.rule_for("integrity_perfect_scores") is rules.integrity
    assert rules.rule_for("wait_window_exceeded").severity == "critical"
    assert rules.goals.repeat_s is None
    with pytest.raises(KeyError):
        rules.rule_for("nonsense")
    shipped = load_rules(ROOT / "alerts" / "rules" / "default.yaml")
    assert shipped.model_dump(exclude={"queues"}) == rules.model_dump(exclude={"queues"})  # it shows the defaults
    text = (ROOT / "alerts" / "rules" / "default.yaml").read_text()
    for name in AlarmRules.model_fields:
        assert f"\n{name}:" in text, name
    custom = AlarmRules.model_validate({"integrity": {"enabled": False, "repeat_s": 3600},
                                        "queues": {"vip": {"wait_window_exceeded": {"repeat_s": 300}}}})
    assert not custom.rule_for("integrity_short_hangups").enabled
    assert custom.rule_for("wait_window_exceeded", "vip").repeat_s == 300
