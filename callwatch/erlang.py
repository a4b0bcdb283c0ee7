"""Erlang C: the M/M/c queue's waiting probability, service level, ASA and the agents a target needs.

Pure arithmetic, no state: the staffing advice (:mod:`callwatch.engine.forecast`) and the simulator's
yardstick (``producers/erlang.py``, ``tests/replay/test_erlang.py``) use the same formulas.

Erlang C has no abandonment: every caller waits until answered. Under it the three service-level
formulas of METRICS.md (``answered_and_abandoned``, ``answered_only``, ``abandons_neutral``) give the
same figure, answered within T over answered, so :func:`agents_needed` takes the formula only to say
which figure it meets; a queue whose callers abandon a lot needs fewer agents than it advises (the
advice errs on the side of the caller).
"""

from __future__ import annotations

import math

#: never advise more than this many agents for one queue (a load that needs more is a data error)
MAX_AGENTS = 2000


def erlang_c(agents: int, load: float) -> float:
    """Probability that a contact waits, with ``load`` = arrival rate × mean service time (erlangs)."""
    if load <= 0:
        return 0.0
    if load >= agents:
        return 1.0
    # the Erlang B recursion is stable for any number of agents (no factorials)
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return agents * b / (agents - load * (1 - b))


def service_level(agents: int, load: float, mean_service_s: float, threshold_s: float) -> float:
    """Share of contacts answered within ``threshold_s`` (infinite patience)."""
    if load >= agents:
        return 0.0
    c = erlang_c(agents, load)
    return 1.0 - c * math.exp(-(agents - load) * threshold_s / mean_service_s)


def asa(agents: int, load: float, mean_service_s: float) -> float:
    """Average speed of answer, seconds (infinite when the load reaches the agents)."""
    if load >= agents:
        return math.inf
    return erlang_c(agents, load) * mean_service_s / (agents - load)


def agents_needed(load: float, mean_service_s: float, threshold_s: float, target: float) -> int:
    """The fewest agents whose Erlang C service level reaches ``target`` (0 when nothing is offered)."""
    if load <= 0 or mean_service_s <= 0:
        return 0
    agents = max(1, math.floor(load) + 1)
    while agents < MAX_AGENTS and service_level(agents, load, mean_service_s, threshold_s) < target:
        agents += 1
    return agents
