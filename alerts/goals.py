"""What the supervisor is told, on the alerts topic, when an agent's goal is achieved or missed.

The same envelope as an alarm (``alerts.messages``), so the dispatcher routes, deduplicates and delivers
it like any other; the rule that decides when to tell is ``callwatch.goals``.
"""

from __future__ import annotations

import time
from typing import Any

from alerts.messages import iso
from callwatch.goals import Goal


def goal_message(goal: Goal, state: dict[str, Any], wallboard_url: str) -> dict[str, Any]:
    """What the supervisor is told when a goal is achieved or missed (the alerts topic's format)."""
    status = state["status"]
    current = state["current"]
    now = iso(time.time())
    return {
        "v": 1, "id": f"goal:{goal.id}:{status}", "key": f"goal:{goal.id}", "alarm": f"goal_{status}",
        "status": "started", "severity": "info", "agent": goal.agent,
        "title": f"Goal {status}: {goal.agent}", "at": now, "started_at": now,
        "summary": f"{goal.agent}: goal {goal.metric} → {goal.target:g} by {goal.by} {status} "
                   f"(value since {goal.set_on}: {'–' if current is None else f'{current:.3g}'})"
                   + (f" — {goal.note}" if goal.note else ""),
        "value": {goal.metric: current}, "threshold": {"target": goal.target}, "context": {},
        "call_id": None, "link": f"{wallboard_url}?var-agent={goal.agent}",
    }
