"""The agent list of a wall: who is on a call, in wrap-up, away or free as of an instant, and for how
long; the counts always whole, the rows in one order (by state, the longest in it first, then by name)
for one site's list and for several sites' merged."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from callwatch.engine.core import Engine

#: agents listed on a snapshot at most (the longest in their state first); the counts are always whole
MAX_AGENTS_LISTED = 300
#: the order a wall lists agents in: who is on a call, in wrap-up, away, then who is free
AGENT_ORDER = {"busy": 0, "wrap_up": 1, "away": 2, "available": 3}


def listed_order(row: dict[str, Any]) -> tuple[int, float, str]:
    """Where a listed agent stands in the agent list: by state, the longest in it first, then by name (one
    order for a site's list, several sites' and several partitions' merged)."""
    return AGENT_ORDER.get(row["state"], len(AGENT_ORDER)), -row["for"], row["agent"]


def agent_list(engine: Engine, now: float) -> dict[str, Any]:
    """Who is on a call, in wrap-up, away or free, as of ``now``, and for how long: the agents not offline,
    the longest in their state first within each state (at most ``MAX_AGENTS_LISTED``)."""
    rows = []
    counts = dict.fromkeys(AGENT_ORDER, 0)
    for name, rec in engine.agents.items():
        state, reason, since = rec.state, rec.reason, rec.since
        for ts, pending_state, pending_reason, _ in reversed(rec.pending):
            if ts <= now:
                state, reason, since = pending_state, pending_reason, ts
                break
        if state not in AGENT_ORDER:
            continue
        counts[state] += 1
        rows.append((AGENT_ORDER[state], since if since is not None else now, name, state, reason, rec))
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    return {
        "counts": counts,
        "listed": [{"agent": name, "state": state, "reason": reason, "since": since,
                    "for": round(max(now - since, 0.0), 3), "queues": rec.queues, "team": rec.team}
                   for _, since, name, state, reason, rec in rows[:MAX_AGENTS_LISTED]],
    }


def merged_lists(lists: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Several sites' agent lists as one: the counts added, the rows in the list's order, at most
    ``MAX_AGENTS_LISTED`` of them."""
    counts = dict.fromkeys(AGENT_ORDER, 0)
    listed: list[dict[str, Any]] = []
    for one in lists:
        for state, n in one["counts"].items():
            counts[state] = counts.get(state, 0) + n
        listed.extend(one["listed"])
    listed.sort(key=listed_order)
    return {"counts": counts, "listed": listed[:MAX_AGENTS_LISTED]}
