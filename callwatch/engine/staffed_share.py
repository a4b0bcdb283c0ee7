"""The staffed share of a queue: its serving agents, one who serves several queues counted in each by
its share of their offered load over the recent past.

One computation for both readers, each with its own way to read an agent's state and a queue's load:
the staffing advice and the time between answers now (:mod:`forecast`), and the early warning as of an
instant (:mod:`early_warning`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from callwatch.engine.agents import Agents
from callwatch.engine.records import AgentRecord

#: the recent past the rates, handle times and offered loads are taken from
WINDOW_S = 900.0
#: agent states that serve a queue now (not away, not offline)
SERVING = ("available", "busy", "wrap_up")


def staffed_share(agents: Agents, queue: str, state_of: Callable[[AgentRecord], str],
                  load_of: Callable[[str], float]) -> float:
    """Agents serving the queue (available, busy or in wrap-up), an agent who serves several queues
    counting in each by its share of their offered load (equal shares when none is offered), with each
    agent's state and each queue's offered load read by the given functions (now, or as of an instant).
    Agents in name order and an exact sum, so that the figure does not depend on the order the agents
    were met in."""
    total = 0.0
    records = agents.records
    loads: dict[str, float] = {}
    for name in sorted(agents.by_queue.get(queue, ())):
        rec = records[name]
        if state_of(rec) not in SERVING:
            continue
        if len(rec.queues) == 1:
            total += 1.0
            continue
        for other in rec.queues:
            if other not in loads:
                loads[other] = load_of(other)
        together = math.fsum(loads[other] for other in rec.queues)
        total += loads[queue] / together if together > 0 else 1.0 / len(rec.queues)
    return total
