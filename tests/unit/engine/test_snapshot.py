"""The wallboard snapshot: every figure of a screen as of one instant (its badges: test_badges.py)."""

from __future__ import annotations

import pytest

from callwatch.engine.snapshot import snapshot
from tests.unit.helpers import BASE_TS, agent_state, ev, stepped


def test_a_caller_answered_after_the_watermark_still_waits_on_the_screen() -> None:
    """In a replay the alarm and the screen both stand at the watermark: a caller whose answer is newer
    than it is still waiting there, so the oldest wait beside the WAIT badge is over the window, never 0 s."""
    events = [
        agent_state("a1", 0, "away", reason="break"),
        ev("call.queued", 10, call_id="c1", queue="billing"),
        # answered at 250 s, after the watermark (newest − 60 s), which the heartbeat leaves at 230 s
        agent_state("a1", 200, "available"),
        ev("call.answered", 250, call_id="c1", queue="billing", agent="a1"),
        ev("call.queued", 280, call_id="c2", queue="billing"),
        ev("source.heartbeat", 290, source="pbx"),
    ]
    engine = stepped(events)
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
    engine = stepped([agent_state("a1", 0, "busy"), ev("call.queued", 100, call_id="c1", queue="billing")])
    now = BASE_TS + 400
    engine.advance(now)
    snap = snapshot(engine, now)
    q = snap["queues"]["billing"]
    assert q["oldest_wait"] == pytest.approx(300.0) and q["alarms"][0]["alarm"] == "wait_window_exceeded"
    [row] = snap["agents"]["listed"]
    assert row["agent"] == "a1" and row["state"] == "busy" and row["for"] == pytest.approx(400.0)
