"""The floor's alarm badges: every alarm on with its word, its rule's window and a reason written from the
figures beside it, as a snapshot shows them."""

from __future__ import annotations

import pytest

from callwatch.alarm_rules import AlarmRules
from callwatch.config import MonitorConfig
from callwatch.engine import Engine
from callwatch.engine.snapshot import snapshot
from tests.unit.helpers import BASE_TS, agent_state, call, capped_floor, ev, stepped


def test_threshold_alarms_have_a_badge_with_their_rules_window_and_value() -> None:
    """Abandonment and service level alarms carry their rule's window, and the tile beside them shows the
    figure counted as the alarm counts it (whole minutes of that window)."""
    events = [agent_state("a1", 0, "available")]
    for i in range(30):  # 30 callers in ten minutes: 10 abandon, 20 answered after 40 s
        t = 10 + i * 20
        if i % 3 == 0:
            events += call(f"c{i}", "billing", t, abandoned=t + 30)
        else:
            events += call(f"c{i}", "billing", t, answered=t + 40, ended=t + 50)
    events.append(ev("source.heartbeat", 900, source="pbx"))
    engine = stepped(events)
    snap = snapshot(engine, engine.watermark)
    q = snap["queues"]["billing"]
    labels = {a["label"]: a for a in q["alarms"]}
    assert set(labels) == {"ABANDONMENT", "SERVICE LEVEL"}
    ab, sl = q["rule_windows"]["abandonment"], q["rule_windows"]["service_level"]
    assert ab["window_s"] == sl["window_s"] == 1800.0
    assert ab["value"] == pytest.approx(10 / 30) and sl["value"] == pytest.approx(0.0)
    assert labels["ABANDONMENT"]["window_s"] == 1800.0
    assert labels["ABANDONMENT"]["reason"].startswith("33 % abandoned in the last 30 min (30 contacts)")
    assert "target 80 %" in labels["SERVICE LEVEL"]["reason"]
    assert q["windows"]["today"]["from"] <= BASE_TS and q["windows"]["last_15m"]["from"] == engine.watermark - 900


def test_no_agents_and_feed_silence_and_closed() -> None:
    """No agents is a queue's badge; a silent source is the floor's; a queue nobody staffs and nobody
    waits in is closed."""
    rules = AlarmRules.model_validate({"no_agents": {"for_s": 30}, "feed_silent": {"after_s": 60}})
    cfg = MonitorConfig(alarms=rules)
    events = [
        agent_state("a1", 0, "away", queues=["billing"], source="pbx"),
        agent_state("a2", 0, "offline", queues=["sales"], source="pbx"),
        ev("call.queued", 10, call_id="c1", queue="billing", source="pbx"),
        ev("source.heartbeat", 20, source="crm"),
        ev("source.heartbeat", 400, source="pbx"),
    ]
    engine = stepped(events, cfg)
    snap = snapshot(engine, engine.watermark)
    assert [a["label"] for a in snap["queues"]["billing"]["alarms"]] == ["WAIT", "NO AGENTS"]
    [silent] = snap["alarms"]
    assert silent["label"] == "FEED SILENT" and silent["subject"] == "crm" and silent["window_s"] == 60.0
    assert silent["reason"].startswith("no event from source crm for 5:20")
    assert snap["queues"]["sales"]["closed"] is True
    assert snap["queues"]["billing"]["closed"] is False


def test_integrity_signals_are_a_floor_badge_that_names_no_agent() -> None:
    """The day after an agent's calls cluster before the handle-time cap, the floor shows an INTEGRITY badge
    counting the signals; the open floor screen names no agent (that is the scorecard's, behind a token)."""
    cfg = MonitorConfig.model_validate({"integrity": {"handle_cap_s": 420, "min_contacts": 20}})
    events = capped_floor()
    engine = stepped(events, cfg)
    [badge] = [a for a in snapshot(engine, engine.watermark)["alarms"] if a["alarm"] == "integrity"]
    assert badge["label"] == "INTEGRITY"
    assert badge["reason"] == ("1 integrity signal over the last 30 days (cap clustering): see the agents' "
                               "scorecards")
    assert "cap" not in badge["reason"].replace("cap clustering", "")


def test_the_early_warning_is_an_amber_badge_until_the_wait_alarm_takes_over() -> None:
    """A simulated ramp past capacity (agent states sent): while the early warning is on and no caller is
    over the window yet, billing shows a WAIT AHEAD badge (warning severity, the wait window, when the
    caller is predicted to pass it, and when it clears); once a caller is over, the WAIT badge alone."""
    from producers.scenario import Scenario
    from producers.simulator import simulate

    sc = Scenario.builtin("ramp")
    events = simulate(sc.model_copy(update={"hours": 2.5}), 3)[0]
    engine = Engine(MonitorConfig())
    seen_ahead = seen_wait = 0
    for e in events:
        engine.step(e)
        badges = {a["alarm"]: a for a in snapshot(engine, engine.watermark)["queues"].get("billing", {})
                  .get("alarms", [])} if engine.early_warning.on("billing") else {}
        if "wait_window_forecast" in badges:
            ahead = badges["wait_window_forecast"]
            assert "wait_window_exceeded" not in badges
            assert ahead["label"] == "WAIT AHEAD" and ahead["severity"] == "warning"
            assert ahead["window_s"] == 180.0 and ahead["window_text"] == "3:00"
            assert ahead["reason"].startswith("a caller is predicted to pass the 3:00 wait window")
            assert ahead["reason"].endswith("clears when every predicted wait is under 1:00")
            assert ahead["since"] <= engine.watermark
            seen_ahead += 1
        elif "wait_window_exceeded" in badges:
            assert badges["wait_window_exceeded"]["severity"] == "critical"
            seen_wait += 1
    assert seen_ahead and seen_wait
