"""Score the integrity signals against the simulator's ground truth: a simulated month of a floor with
planted behaviours, replayed through the engine, then which planted agents each signal finds (recall)
and which honest agents it flags by mistake (precision)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from callwatch.config import IntegrityConfig, MonitorConfig
from callwatch.engine import Engine
from callwatch.engine.integrity import Signal, evaluate
from producers.scenario import Scenario
from producers.simulator import simulate_days

#: which signal is meant to catch which planted behaviour
PLANTED_SIGNAL = {"cap_hangup": "cap_clustering", "survey_selection": "survey_selection",
                  "score_begging": "perfect_scores", "false_resolution": "contradicted_resolution"}


@dataclass
class MonthResult:
    seed: int
    days: int
    events: int
    agents: list[str]
    planted: dict[str, list[str]]
    signals: list[Signal]
    per_signal: dict[str, dict[str, Any]] = field(default_factory=dict)


#: a month's customer base: the scenario's one-day pool (50,000) would make one contact in six a
#: "repeat" by chance alone over a month of ~55,000 contacts; a floor of this size serves far more people
MONTH_CUSTOMERS = 2_000_000


def run_month(seed: int, days: int = 30, scenario: str = "floor", cap_s: float | None = None,
              configure_cap: bool = True) -> MonthResult:
    """``cap_s``: the floor's handle-time cap (the scenario's by default); ``configure_cap``: tell the
    monitor it (False: the defaults, which find a cap in the data)."""
    sc = Scenario.builtin(scenario)
    outcomes = {"customers": MONTH_CUSTOMERS, **({} if cap_s is None else {"handle_cap_s": cap_s})}
    sc = sc.model_copy(update={"outcomes": sc.outcomes.model_copy(update=outcomes)})
    cap = sc.outcomes.handle_cap_s
    config = MonitorConfig(integrity=IntegrityConfig(handle_cap_s=cap if configure_cap else None),
                           history_days=max(8, days + 1))
    engine = Engine(config)
    planted: dict[str, list[str]] = {}
    count = 0
    for events, truth in simulate_days(sc, seed, days):
        planted = truth.planted
        for event in events:
            engine.step(event)
            count += 1
    agent_days = engine.agent_days
    all_days = sorted({d for _, d in agent_days})
    signals = evaluate(agent_days, all_days[0], all_days[-1], config.integrity)
    agents = sorted({a for a, _ in agent_days})
    result = MonthResult(seed, days, count, agents, planted, signals)
    for signal in ("cap_clustering", "short_hangups", "survey_selection", "contradicted_resolution",
                   "contradicted_satisfaction", "perfect_scores"):
        meant = {a for a, behaviours in planted.items() for b in behaviours if PLANTED_SIGNAL.get(b) == signal}
        flagged = {s.subject for s in signals if s.signal == signal}
        result.per_signal[signal] = {
            "planted": sorted(meant), "flagged": sorted(flagged),
            "found": sorted(flagged & meant), "missed": sorted(meant - flagged),
            "honest_flagged": sorted(flagged - meant),
        }
    return result
