"""The wallboard snapshot: every figure of a screen as of one instant, every alarm with a badge and a reason."""

from __future__ import annotations

from typing import Any

import pytest

from callwatch.alarm_rules import AlarmRules
from callwatch.config import MonitorConfig
from callwatch.engine import Engine
from callwatch.engine.figures import pct_beside, snapshot
from callwatch.events import Event
from tests.unit.helpers import BASE_TS, call, capped_floor, ev

CFG = MonitorConfig()


def _run(events: list[Event], config: MonitorConfig = CFG) -> Engine:
    engine = Engine(config)
    for e in sorted(events, key=lambda e: e.ts):
        engine.step(e)
    return engine


def _agent(name: str, t: float, state: str, queues: list[str] | None = None, **fields: Any) -> Event:
    return ev("agent.state", t, agent=name, state=state, queues=queues or ["billing"], **fields)


def test_a_caller_answered_after_the_watermark_still_waits_on_the_screen() -> None:
    """In a replay the alarm and the screen both stand at the watermark: a caller whose answer is newer
    than it is still waiting there, so the oldest wait beside the WAIT badge is over the window, never 0 s."""
    events = [
        _agent("a1", 0, "away", reason="break"),
        ev("call.queued", 10, call_id="c1", queue="billing"),
        # answered at 250 s, after the watermark (newest − 60 s), which the heartbeat leaves at 230 s
        _agent("a1", 200, "available"),
        ev("call.answered", 250, call_id="c1", queue="billing", agent="a1"),
        ev("call.queued", 280, call_id="c2", queue="billing"),
        ev("source.heartbeat", 290, source="pbx"),
    ]
    engine = _run(events)
    now = engine.watermark
    assert now == pytest.approx(BASE_TS + 230)
    assert "billing" in engine.alarms, "the caller crossed 180 s at 190 s, before the watermark"
    q = snapshot(engine, now)["queues"]["billing"]
    assert q["waiting"] == 1 and q["over_window"] == 1
    assert q["oldest_wait"] == pytest.approx(220.0), "waited from 10 s to the watermark at 230 s"
    assert [w["call_id"] for w in q["longest_waiting"]] == ["c1"], "c2 queued after the instant shown"
    assert q["longest_waiting"][0]["wait"] == q["oldest_wait"]
    # the agent's return at 200 s is before the instant; nothing after it is shown
    assert q["agents"]["available"] == 1 and q["agents"]["away"] == 0
    [badge] = q["alarms"]
    assert badge["label"] == "WAIT" and badge["since"] == pytest.approx(BASE_TS + 190)
    assert badge["window_s"] == 180.0
    assert badge["reason"] == "1 caller over the 3:00 wait window; the oldest has waited 3:40"


def test_every_figure_is_taken_at_the_same_instant_on_the_wall_clock() -> None:
    """Live, ``now`` is the wall clock the timer swept to: waits and agents' times count up to it."""
    engine = _run([_agent("a1", 0, "busy"), ev("call.queued", 100, call_id="c1", queue="billing")])
    now = BASE_TS + 400
    engine.advance(now)
    snap = snapshot(engine, now)
    q = snap["queues"]["billing"]
    assert q["oldest_wait"] == pytest.approx(300.0) and q["alarms"][0]["alarm"] == "wait_window_exceeded"
    [row] = snap["agents"]["listed"]
    assert row["agent"] == "a1" and row["state"] == "busy" and row["for"] == pytest.approx(400.0)


def test_threshold_alarms_have_a_badge_with_their_rules_window_and_value() -> None:
    """Abandonment and service level alarms carry their rule's window, and the tile beside them shows the
    figure counted as the alarm counts it (whole minutes of that window)."""
    events = [_agent("a1", 0, "available")]
    for i in range(30):  # 30 callers in ten minutes: 10 abandon, 20 answered after 40 s
        t = 10 + i * 20
        if i % 3 == 0:
            events += call(f"c{i}", "billing", t, abandoned=t + 30)
        else:
            events += call(f"c{i}", "billing", t, answered=t + 40, ended=t + 50)
    events.append(ev("source.heartbeat", 900, source="pbx"))
    engine = _run(events)
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
        _agent("a1", 0, "away", queues=["billing"], source="pbx"),
        _agent("a2", 0, "offline", queues=["sales"], source="pbx"),
        ev("call.queued", 10, call_id="c1", queue="billing", source="pbx"),
        ev("source.heartbeat", 20, source="crm"),
        ev("source.heartbeat", 400, source="pbx"),
    ]
    engine = _run(events, cfg)
    snap = snapshot(engine, engine.watermark)
    assert [a["label"] for a in snap["queues"]["billing"]["alarms"]] == ["WAIT", "NO AGENTS"]
    [silent] = snap["alarms"]
    assert silent["label"] == "FEED SILENT" and silent["subject"] == "crm" and silent["window_s"] == 60.0
    assert silent["reason"].startswith("no event from source crm for 5:20")
    assert snap["queues"]["sales"]["closed"] is True
    assert snap["queues"]["billing"]["closed"] is False


@pytest.mark.parametrize(("value", "ref", "shown"), [
    (0.7996, 0.8, "79.9 %"), (0.8, 0.8, "80 %"), (0.8004, 0.8, "80.1 %"), (0.62, 0.8, "62 %"),
    (0.0799, 0.08, "7.9 %"), (0.0801, 0.08, "8.1 %"),
])
def test_a_percentage_never_reads_as_the_target_it_misses(value: float, ref: float, shown: str) -> None:
    """Rounded towards its own side of the target: no "80 % under the 80 % target"."""
    assert pct_beside(value, ref) == shown


def test_integrity_signals_are_a_floor_badge_that_names_no_agent() -> None:
    """The day after an agent's calls cluster before the handle-time cap, the floor shows an INTEGRITY badge
    counting the signals; the open floor screen names no agent (that is the scorecard's, behind a token)."""
    cfg = MonitorConfig.model_validate({"integrity": {"handle_cap_s": 420, "min_contacts": 20}})
    events = capped_floor()
    engine = _run(events, cfg)
    [badge] = [a for a in snapshot(engine, engine.watermark)["alarms"] if a["alarm"] == "integrity"]
    assert badge["label"] == "INTEGRITY"
    assert badge["reason"] == ("1 integrity signal over the last 30 days (cap clustering): see the agents' "
                               "scorecards")
    assert "cap" not in badge["reason"].replace("cap clustering", "")
