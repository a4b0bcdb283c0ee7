"""The simulator against queueing theory: in an Erlang C configuration (one queue, Poisson arrivals,
exponential service, fixed staff, infinite patience) the service level and ASA that the engine measures
agree with the Erlang C formula at occupancies of 80 %, 87 % and 92 %.

The replications run in the background from the session's start, at the lowest CPU priority, on the
cores the rest of the suite leaves idle (:mod:`tests.replay.erlang_runs`).

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
from pathlib import Path

import pytest

from producers import erlang
from tests.replay import erlang_runs
from tests.replay.erlang_runs import AGENTS, MEAN_SERVICE_S, PLAN

T_S = 20.0
#: two-sided 99 % Student t quantiles by degrees of freedom
T99 = {8: 3.355, 9: 3.250, 10: 3.169, 11: 3.106, 12: 3.055, 13: 3.012, 14: 2.977}


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
    # the replications have been running in the background since the session began (erlang_runs)
    results = erlang_runs.results()
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
