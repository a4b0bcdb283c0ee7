"""Goals: one focused goal per agent (METRICS.md, the seeds' "one specific, measurable goal").

A supervisor sets a metric, a target and a deadline; the monitor shows the baseline (this month and the
three before), the value day by day since the goal was set, and its status: ``on track`` (as close to the
target as a straight path from the baseline would be by now), ``behind``, ``achieved`` (the value since
the goal was set meets the target) or ``missed`` (the deadline passed first). ``callwatch goals check``
tells the supervisor — once — when a goal is achieved or missed, through the alerts topic.

Goals are kept in Redis (``streams.goal_store``); what the supervisor is told is an alerts-topic
message (``alerts.goals``). This module is the rule alone: what a goal is, how it is doing, when to tell.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from callwatch.engine import Engine
from callwatch.engine.aggregates import AgentDay
from callwatch.engine.figures import agent_figures
from callwatch.scorecard import GOAL_METRICS, _month, _previous_months


@dataclass(frozen=True)
class Goal:
    id: str
    agent: str
    metric: str
    target: float
    set_on: str
    by: str
    note: str
    created_by: str
    closed: bool = False
    #: the last status the supervisor was told of (achieved or missed), so that it is told once
    notified: str = ""


def new_goal(agent: str, metric: str, target: float, by: str, note: str, created_by: str, today: str) -> Goal:
    if metric not in GOAL_METRICS:
        raise ValueError(f"unknown metric {metric!r}; one of: {', '.join(sorted(GOAL_METRICS))}")
    try:
        deadline = date.fromisoformat(by)
    except ValueError:
        raise ValueError(f"--by {by!r}: give a date like 2026-12-07") from None
    if deadline.isoformat() <= today:
        raise ValueError(f"--by {by}: the deadline must lie after today ({today})")
    return Goal(secrets.token_hex(4), agent, metric, float(target), today, deadline.isoformat(), note.strip(),
                created_by)


def _value(days: list[AgentDay], metric: str) -> float | None:
    total = AgentDay()
    for d in days:
        total.merge(d)
    value = agent_figures(total).get(metric)
    return float(value) if isinstance(value, int | float) else None


def progress(goal: Goal, engine: Engine, today: str) -> dict[str, Any]:
    """Baseline, daily values since the goal was set, the value so far and the status."""
    mine = {d: v for (a, d), v in engine.agent_days.items() if a == goal.agent}
    this_month = _month(goal.set_on)
    baseline = {m: _value([v for d, v in mine.items() if _month(d) == m], goal.metric)
                for m in [this_month, *_previous_months(this_month, 3)]}
    since = sorted(d for d in mine if d >= goal.set_on)
    daily = {d: _value([mine[d]], goal.metric) for d in since}
    current = _value([mine[d] for d in since], goal.metric)
    higher = GOAL_METRICS[goal.metric] > 0
    start = next((v for v in baseline.values() if v is not None), None)
    met = current is not None and (current >= goal.target if higher else current <= goal.target)
    if goal.closed:
        status = "closed"
    elif met and today >= goal.set_on:
        status = "achieved"
    elif today > goal.by:
        status = "missed"
    elif current is None or start is None:
        status = "on track" if current is not None else "no data yet"
    else:
        span = max(1, date.fromisoformat(goal.by).toordinal() - date.fromisoformat(goal.set_on).toordinal())
        elapsed = min(1.0, (date.fromisoformat(today).toordinal() - date.fromisoformat(goal.set_on).toordinal())
                      / span)
        expected = start + (goal.target - start) * elapsed  # the straight path from baseline to target
        status = "on track" if (current >= expected if higher else current <= expected) else "behind"
    return {**asdict(goal), "baseline": baseline, "daily": daily, "current": current, "status": status}


def figures_day(engine: Engine, today: str) -> str:
    """The day the figures have reached (the watermark's, in the floor's zone); ``today`` if there are none
    (the caller's: the core reads no clock)."""
    return engine.day_of(engine.watermark) if engine.watermark > float("-inf") else today


def news(goals: list[Goal], engine: Engine, today: str) -> list[tuple[Goal, dict[str, Any]]]:
    """The goals achieved or missed that the supervisor has not been told of yet, each with its progress."""
    out = []
    for goal in goals:
        state = progress(goal, engine, today)
        if state["status"] in ("achieved", "missed") and goal.notified != state["status"]:
            out.append((goal, state))
    return out
