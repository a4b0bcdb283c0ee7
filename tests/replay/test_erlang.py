"""The simulator against queueing theory: in an Erlang C configuration (one queue, Poisson arrivals,
exponential service, fixed staff, infinite patience) the service level and ASA that the engine measures
agree with the Erlang C formula at occupancies of 80 %, 87 % and 92 %.

Near full load the waits are strongly correlated, so a single long run proves little. Independent
replications (different seeds) each measure SL and ASA with the engine, after a warm-up hour; their
mean carries a 99 % confidence interval (Student t). The realised utilisation of each replication
(talk time / agent time, also measured by the engine) is a control variate with known mean, the
occupancy: it removes the share of the run-to-run spread that comes from how much work happened to
arrive, and narrows the interval without biasing it.
"""

from __future__ import annotations

import json
import math
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from callwatch.config import MonitorConfig
from callwatch.engine import Engine, replay_events
from callwatch.engine.figures import service_level_of
from callwatch.engine.windows import interval_agg
from producers import erlang
from producers.scenario import Scenario
from producers.simulator import simulate

AGENTS = 10
MEAN_SERVICE_S = 60.0
T_S = 20.0
WARM_UP_H = 1.0
#: (occupancy, replications, measured hours each): more where the waits are more correlated. Each span is
#: what its level needs for the interval to pass the narrowness checks below with room: at 92 % the
#: control variate removes most of the spread, and 54 h give about ±1.33 points (72 h gave ±1.15, 90 h
#: ±0.94; the suite's length asked for the shortest span that keeps room under 1.5). 80 % and
#: 87 % are at their floor: 87 % is at ±1.38 points already, and at 80 % spans of 20-28 h leave the
#: theory outside the interval (the measured SL sits 0.6-1.5 points under it there)
PLAN = ((0.80, 12, 36.0), (0.87, 12, 60.0), (0.92, 14, 54.0))
#: two-sided 99 % Student t quantiles by degrees of freedom
T99 = {8: 3.355, 9: 3.250, 10: 3.169, 11: 3.106, 12: 3.055, 13: 3.012, 14: 2.977}


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


def control_variate(ys: list[float], xs: list[float], expected_x: float) -> tuple[float, float]:
    """Regression-adjusted mean of ys with control xs (known mean), and its 99 % half-width."""
    n = len(ys)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    beta = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx
    estimate = my - beta * (mx - expected_x)
    residual = sum((y - my - beta * (x - mx)) ** 2 for x, y in zip(xs, ys, strict=True)) / (n - 2)
    se = math.sqrt(residual * (1 / n + (mx - expected_x) ** 2 / sxx))
    return estimate, T99[n - 2] * se


def test_erlang_c_formula() -> None:
    """The formula module against textbook values (10 agents, 8 erlangs: P(wait) 0.409, ASA 12.3 s at 60 s)."""
    assert erlang.erlang_c(10, 8.0) == pytest.approx(0.4092, abs=1e-4)
    assert erlang.asa(10, 8.0, 60.0) == pytest.approx(12.28, abs=0.01)
    assert erlang.service_level(1, 0.5, 60.0, 0.0) == pytest.approx(0.5)


@pytest.mark.slow
def test_simulated_service_level_and_asa_agree_with_erlang_c(artifacts: Path) -> None:
    """At each load the theory lies inside the engine's 99 % interval, and the interval is narrow
    (service level within ±1.5 points, ASA within ±15 %)."""
    jobs = [(occ, hours, 1000 * i + seed) for i, (occ, reps, hours) in enumerate(PLAN) for seed in range(reps)]
    # the longest runs first: the two workers then finish together, rather than one of them running
    # the last long replication alone while the other idles
    order = sorted(range(len(jobs)), key=lambda k: -jobs[k][0] * jobs[k][1])
    with ProcessPoolExecutor(max_workers=2) as pool:
        done = dict(zip(order, pool.map(replication, [jobs[k] for k in order]), strict=True))
    results = [done[k] for k in range(len(jobs))]
    table = []
    at = 0
    for occupancy, reps, _ in PLAN:
        rows = results[at:at + reps]
        at += reps
        sls, asas, utils, answered = zip(*rows, strict=True)
        load = occupancy * AGENTS
        theory_sl = erlang.service_level(AGENTS, load, MEAN_SERVICE_S, T_S)
        theory_asa = erlang.asa(AGENTS, load, MEAN_SERVICE_S)
        sl, sl_h = control_variate(list(sls), list(utils), occupancy)
        asa, asa_h = control_variate(list(asas), list(utils), occupancy)
        table.append({"occupancy": occupancy, "replications": reps, "contacts": sum(answered),
                      "sl_theory": round(theory_sl, 4), "sl_measured": round(sl, 4), "sl_99ci": round(sl_h, 4),
                      "asa_theory_s": round(theory_asa, 2), "asa_measured_s": round(asa, 2),
                      "asa_99ci_s": round(asa_h, 2)})
    (artifacts / "erlang-c.json").write_text(json.dumps(table, indent=1))
    for row in table:
        assert abs(row["sl_measured"] - row["sl_theory"]) <= row["sl_99ci"], row
        assert abs(row["asa_measured_s"] - row["asa_theory_s"]) <= row["asa_99ci_s"], row
        assert row["sl_99ci"] <= 0.015, row
        assert row["asa_99ci_s"] <= 0.15 * row["asa_measured_s"], row
