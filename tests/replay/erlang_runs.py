"""The Erlang C agreement's replications (``test_erlang.py``), started in the background when the
session begins.

They are the suite's one long CPU-bound computation (about 2,000 simulated hours through the engine,
some six CPU-minutes), while most of the rest of the suite waits on brokers, servers and browsers with
a core to spare. So the suite's first act, once it knows the test is selected, is to start them in two
worker processes at the lowest CPU priority (nice 19): they take only CPU that the other tests leave
idle, so timing-sensitive tests run as they would alone, and the test itself, when its turn comes,
collects what is done and waits for the rest. The figures are the same as a run in the foreground: each
replication is a pure function of its seed.

"Lowest priority" takes two steps on Linux: with autogroup scheduling (the kernel's default for
desktops and many servers) CPU time is shared first between sessions, each weighing the same whatever
its processes' nice values, and the tests' servers start sessions of their own. So the workers start a
session of their own too, and lower its weight to nice 19 (``/proc/self/autogroup``), besides their own.

Processes are forked before any test has started a thread (the hook runs at the end of collection).
"""

from __future__ import annotations

import contextlib
import os
from concurrent.futures import Future, ProcessPoolExecutor

from callwatch.config import MonitorConfig
from callwatch.engine import Engine, replay_events
from callwatch.engine.figures import service_level_of
from callwatch.engine.windows import interval_agg
from producers.scenario import Scenario
from producers.simulator import simulate

#: the test these replications are for (the suite's hook starts them when it is selected)
TEST = "tests/replay/test_erlang.py::test_simulated_service_level_and_asa_agree_with_erlang_c"
AGENTS = 10
MEAN_SERVICE_S = 60.0
WARM_UP_H = 1.0
#: (occupancy, replications, measured hours each): more where the waits are more correlated. Each span is
#: what its level needs for the interval to pass the narrowness checks with room: at 92 % the control
#: variate removes most of the spread, and 54 h give about ±1.33 points (72 h gave ±1.15, 90 h ±0.94;
#: the suite's length asked for the shortest span that keeps room under 1.5). 80 % and 87 % are at their
#: floor: 87 % is at ±1.38 points already, and at 80 % spans of 20-28 h leave the theory outside the
#: interval (the measured SL sits 0.6-1.5 points under it there)
PLAN = ((0.80, 12, 36.0), (0.87, 12, 60.0), (0.92, 14, 54.0))

_pool: ProcessPoolExecutor | None = None
_futures: list[Future[tuple[float, float, float, int]]] = []


def erlang_scenario(occupancy: float, hours: float) -> Scenario:
    per_hour = occupancy * AGENTS / MEAN_SERVICE_S * 3600
    return Scenario.model_validate({
        "name": f"erlang-c-{occupancy}", "hours": hours + WARM_UP_H, "heartbeat_s": 0, "agent_states": False,
        "queues": {"q": {"arrivals": [[0, per_hour]]}},
        "agents": [{"prefix": "a", "count": AGENTS, "queues": ["q"]}],
        "service": {"kind": "exponential", "mean_s": MEAN_SERVICE_S},
        "patience": {"kind": "none"}, "acw": {"kind": "none"},
        "outcomes": {"dispositions": False, "survey_offer_rate": 0, "callback_rate": 0, "transfer_rate": 0},
    })


def replication(args: tuple[float, float, int]) -> tuple[float, float, float, int]:
    """One run through the engine: (service level, ASA, realised utilisation, answered)."""
    occupancy, hours, seed = args
    scenario = erlang_scenario(occupancy, hours)
    events, _ = simulate(scenario, seed)
    engine = replay_events(Engine(MonitorConfig()), events)
    start = scenario.start.timestamp() + WARM_UP_H * 3600
    agg = interval_agg(engine, "q", None, start, start + hours * 3600)
    sl = service_level_of(agg, MonitorConfig().defaults)
    assert sl is not None and agg.answered
    return sl, agg.wait_answered_sum_s / agg.answered, agg.talk_s / (AGENTS * hours * 3600), agg.answered


def _lowest_priority() -> None:
    """A background worker's start: its own session (autogroup) at nice 19, and itself at nice 19."""
    os.setsid()
    with contextlib.suppress(OSError), open("/proc/self/autogroup", "w") as group:
        group.write("19")
    os.nice(19)


def jobs() -> list[tuple[float, float, int]]:
    """Every replication, in PLAN's order: (occupancy, hours, seed)."""
    return [(occ, hours, 1000 * i + seed) for i, (occ, reps, hours) in enumerate(PLAN) for seed in range(reps)]


def start() -> None:
    """Submit every replication to two background processes at nice 19 (once)."""
    global _pool
    if _pool is not None:
        return
    _pool = ProcessPoolExecutor(max_workers=2, initializer=_lowest_priority)
    todo = jobs()
    # the longest runs first: the two workers then finish together, rather than one of them running the
    # last long replication alone while the other idles
    order = sorted(range(len(todo)), key=lambda k: -todo[k][0] * todo[k][1])
    submitted = {k: _pool.submit(replication, todo[k]) for k in order}
    _futures[:] = [submitted[k] for k in range(len(todo))]


def results() -> list[tuple[float, float, float, int]]:
    """Every replication's figures in PLAN's order, waiting for those not done (started here when the
    session's hook did not: a run whose root gives the test another node id than ``TEST``)."""
    start()
    return [f.result() for f in _futures]


def stop() -> None:
    """End the background processes (the session is over, or was interrupted)."""
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=True, cancel_futures=True)
        _pool = None
        _futures.clear()
