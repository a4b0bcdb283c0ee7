"""How good the predicted wait at entry is, on real traffic: the engine's predictor against the naive one.

Runs a log (default: the bank's three months) through the offline engine with its predictions recorded
(what ``callwatch replay LOG --offline --predictions FILE.csv`` writes) and compares, over every answered
call (those answered at once included), the mean absolute error of

- the engine's prediction at entry (``callwatch/engine/forecast.py``), and
- the naive one: the mean wait of the same queue's calls answered in the 15 minutes before the entry
  (0 when none),

per queue and overall. The goal (issue 15): at least 30 % lower than naive overall, and at least 20 %
lower in each of the three busiest queues. A call's answer time is its entry plus its realised wait
(exact for a log without ``waiting_since``, as the bank's).

    python bench/predict_eval.py [LOG] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from bisect import bisect_left
from collections import defaultdict
from pathlib import Path
from typing import Any

from callwatch.config import MonitorConfig
from callwatch.offline import replay_log

NAIVE_WINDOW_S = 900.0
DEFAULT_LOG = Path(__file__).resolve().parent / ".cache" / "bank-three-months.jsonl"
log = logging.getLogger("predict_eval")


def naive_predictions(rows: list[list[Any]]) -> list[float]:
    """Per row, the mean wait of its queue's calls answered in the 15 minutes before it entered."""
    answers: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for _, queue, entered, _, realised, outcome in rows:
        if outcome == "answered":
            answers[queue].append((entered + realised, realised))
    prefix: dict[str, tuple[list[float], list[float]]] = {}
    for queue, done in answers.items():
        done.sort()
        sums = [0.0]
        for _, w in done:
            sums.append(sums[-1] + w)
        prefix[queue] = ([t for t, _ in done], sums)
    out = []
    for _, queue, entered, _, _, _ in rows:
        times, sums = prefix.get(queue, ([], [0.0]))
        lo, hi = bisect_left(times, entered - NAIVE_WINDOW_S), bisect_left(times, entered)
        out.append((sums[hi] - sums[lo]) / (hi - lo) if hi > lo else 0.0)
    return out


def evaluate(rows: list[list[Any]]) -> dict[str, Any]:
    naive = naive_predictions(rows)
    err: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])
    for row, guess in zip(rows, naive, strict=True):
        _, queue, _, predicted, realised, outcome = row
        if outcome != "answered":
            continue
        for scope in (queue, "all"):
            e = err[scope]
            e[0] += abs(predicted - realised)
            e[1] += abs(guess - realised)
            e[2] += 1
    table = {}
    for scope, (mine, theirs, n) in sorted(err.items(), key=lambda kv: -kv[1][2]):
        table[scope] = {"answered": int(n), "mae_predictor_s": round(mine / n, 2), "mae_naive_s": round(theirs / n, 2),
                        "reduction": round(1 - mine / theirs, 3) if theirs else None}
    busiest = [q for q in table if q != "all"][:3]
    goal = {"overall_30pct": (table["all"]["reduction"] or 0) >= 0.30,
            "busiest_three_20pct": all((table[q]["reduction"] or 0) >= 0.20 for q in busiest)}
    return {"queues": table, "busiest": busiest, "goal_met": goal}


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log", nargs="?", type=Path, default=DEFAULT_LOG)
    ap.add_argument("--json", type=Path, help="also write the table here")
    args = ap.parse_args()
    if not args.log.exists():
        log.error("%s: no such log (make bench-bank downloads the bank's months into bench/.cache)", args.log)
        return 2
    rows: list[list[Any]] = []
    started = time.perf_counter()
    replay_log(args.log, MonitorConfig(), predictions=rows)
    result = evaluate(rows)
    result["log"] = args.log.name
    result["calls"] = len(rows)
    result["seconds"] = round(time.perf_counter() - started, 1)
    log.info("%-8s %9s %12s %10s %9s", "queue", "answered", "MAE pred s", "MAE naive", "lower by")
    for scope, r in result["queues"].items():
        log.info("%-8s %9d %12.2f %10.2f %8.1f%%", scope, r["answered"], r["mae_predictor_s"], r["mae_naive_s"],
                 100 * (r["reduction"] or 0))
    log.info("busiest: %s; goal met: %s (%s calls, %.0f s)", ", ".join(result["busiest"]), result["goal_met"],
             result["calls"], result["seconds"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0 if all(result["goal_met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
