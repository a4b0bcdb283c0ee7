"""What the supervisor is told, on the alerts topic, when an agent's goal is achieved or missed.

An alarm like any other (:class:`callwatch.alarm.Alarm`, ``goal_achieved`` / ``goal_missed`` about the
agent), so the dispatcher routes, deduplicates and delivers it the same way; the rule that decides when
to tell is ``callwatch.goals``, the severity is the rules file's ``goals`` rule.
"""

from __future__ import annotations

import time
from typing import Any

from callwatch.alarm import Alarm
from callwatch.alarm_rules import GoalRule
from callwatch.goals import Goal
from callwatch.scorecard import FIGURES


def goal_message(goal: Goal, state: dict[str, Any], rule: GoalRule | None = None) -> Alarm:
    """The alarm ``goal_<status>`` about the agent; the sentence names the goal's id."""
    status = state["status"]
    current = state["current"]
    now = time.time()
    kind = next(k for name, _, k, _ in FIGURES if name == goal.metric)
    return Alarm(
        alarm=f"goal_{status}", status="started", queue=goal.agent, at=now, started_at=now,
        severity=(rule or GoalRule()).severity, value=current, threshold=goal.target,
        unit={"count": "contacts"}.get(kind, kind), metric=goal.metric, waiting=0, agents_available=0,
        service_level=None,
        detail=f"{goal.agent}: goal {goal.metric} → {goal.target:g} by {goal.by} {status} "
               f"(value since {goal.set_on}: {'–' if current is None else f'{current:.3g}'}; goal {goal.id})"
               + (f" — {goal.note}" if goal.note else ""))
