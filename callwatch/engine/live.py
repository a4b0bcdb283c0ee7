"""METRICS.md's "now" of a queue as of an instant: who waits and since when, the agents serving it in
each state, and whether it is closed.

A screen shows many figures side by side (a badge, the oldest wait, the waiting list, the tiles): all
of them are read as of one instant ``now`` from one state, so that they cannot disagree. In a replay
``now`` is the watermark, and the state already holds events newer than it (within the lateness): a
caller answered after ``now`` was still waiting then, an agent's change after ``now`` has not happened
yet. Everything here asks the rooms "as of ``now``", as the alarms do.
"""

from __future__ import annotations

from typing import Any

from callwatch.engine.core import Engine


def agents_in_queue(engine: Engine, queue: str, at: float | None = None) -> dict[str, int]:
    """Agents serving the queue (per their latest ``queues``) in each state; staffed = not offline.

    By default the latest state known; with ``at``, the state each agent was in at that moment.
    """
    return engine.agents_at(queue, at)


def queues_of(engine: Engine) -> list[str]:
    """The queues a screen shows: every one with figures, a caller waiting or an agent serving it."""
    seen: set[str] = set(engine.buckets.channels)
    seen.update(q for q, w in engine.waiting.items() if w)
    seen.update(q for q, names in engine.agents_by_queue.items() if names)
    return sorted(seen)


def live_queue(engine: Engine, queue: str, now: float) -> dict[str, Any]:
    """METRICS.md's "now", as of ``now``: waiting, oldest wait, agents by state, the longest-waiting list."""
    waiting = sorted(((since, leg.call_id, leg) for since, leg in engine.calls.waiting_legs_at(queue, now)),
                     key=lambda item: (item[0], item[1]))
    size = engine.config.longest_waiting_size
    qc = engine.config.for_queue(queue)

    def wait_of(since: float) -> float:
        return round(max(now - since, 0.0), 3)

    alarm = engine.alarms.get(queue)
    return {
        "waiting": len(waiting),
        "oldest_wait": wait_of(waiting[0][0]) if waiting else 0.0,
        "wait_window": qc.wait_window_s,
        "wait_warning": qc.warning_s,
        "over_window": sum(1 for since, _, _ in waiting if now - since > qc.wait_window_s),
        "agents": agents_in_queue(engine, queue, now),
        "longest_waiting": [
            {"call_id": call_id, "wait": wait_of(since), "channel": leg.channel, "priority": leg.priority}
            for since, call_id, leg in waiting[:size]
        ],
        "alarm": None if alarm is None else {"alarm": "wait_window_exceeded", "started_at": alarm.started_at},
    }


def is_closed(live: dict[str, Any]) -> bool:
    """Nobody staffed and nobody waiting: the queue is closed (after hours), not failing its target."""
    return bool(live["agents"]["staffed"] == 0 and live["waiting"] == 0)
