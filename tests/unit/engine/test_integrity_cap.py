"""Cap clustering with no cap configured: the cap is found in each agent's hang-ups against the floor."""

from __future__ import annotations

import random

import pytest

from callwatch.config import IntegrityConfig
from callwatch.engine.aggregates import TALK_BIN_S, AgentDay
from callwatch.engine.integrity import evaluate

HONEST = 27


def floor_days(cap: float, seed: int) -> dict[tuple[str, str], AgentDay]:
    """A month of agent days: every agent hangs up 8 % of calls (lognormal talk, mean 240 s); one of them
    also ends the calls that would pass ``cap`` in the 25 s before it."""
    rng = random.Random(seed)
    days: dict[tuple[str, str], AgentDay] = {}
    for n in range(HONEST + 1):
        agent = f"agent-{n:02d}"
        day = days[(agent, "2026-11-01")] = AgentDay()
        for _ in range(2000):
            talk = rng.lognormvariate(5.3, 0.6)
            by_agent = rng.random() < 0.08
            if n == 0 and talk > cap - 30:
                talk, by_agent = cap - rng.uniform(1, 25), True
            day.handled += 1
            if by_agent:
                key = str(int(talk // TALK_BIN_S) * TALK_BIN_S)
                day.agent_ended_talk[key] = day.agent_ended_talk.get(key, 0) + 1
    return days


@pytest.mark.parametrize("cap", [300.0, 600.0, 900.0])
def test_a_cap_nobody_configured_is_found(cap: float) -> None:
    """With the defaults, the agent who hangs up just under the cap is flagged, whatever the cap, with
    the cap in the sentence, and no honest agent is."""
    for seed in (1, 2):
        signals = [s for s in evaluate(floor_days(cap, seed), "2026-11-01", "2026-11-01", IntegrityConfig())
                   if s.signal == "cap_clustering"]
        assert [s.subject for s in signals] == ["agent-00"]
        assert signals[0].details["cap_s"] == cap
        assert f"before {cap:g} s" in signals[0].reason


def test_a_configured_cap_is_today_s_behaviour() -> None:
    """With ``handle_cap_s`` set, only the configured cap's window counts (near_cap_agent_ended): a
    cluster under another duration is not looked for."""
    days = floor_days(600.0, 1)
    signals = evaluate(days, "2026-11-01", "2026-11-01", IntegrityConfig(handle_cap_s=420.0))
    assert not [s for s in signals if s.signal == "cap_clustering"]
