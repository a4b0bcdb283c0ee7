"""Erlang C: the M/M/c queue's waiting probability, service level and ASA (the simulator's yardstick)."""

from __future__ import annotations

import math


def erlang_c(agents: int, load: float) -> float:
    """Probability that a contact waits, with ``load`` = arrival rate × mean service time (erlangs)."""
    if load >= agents:
        return 1.0
    term, total = 1.0, 1.0  # A^k / k!, summed for k < c
    for k in range(1, agents):
        term *= load / k
        total += term
    top = term * load / agents * agents / (agents - load)  # A^c / c! · c / (c − A)
    return top / (total + top)


def service_level(agents: int, load: float, mean_service_s: float, threshold_s: float) -> float:
    """Share of contacts answered within ``threshold_s`` (infinite patience)."""
    c = erlang_c(agents, load)
    return 1.0 - c * math.exp(-(agents - load) * threshold_s / mean_service_s)


def asa(agents: int, load: float, mean_service_s: float) -> float:
    """Average speed of answer, seconds."""
    return erlang_c(agents, load) * mean_service_s / (agents - load)
