"""The early warning (``wait_window_forecast``) on real traffic: is it spam for the staff on call?

Runs a log (default: the bank's three months) through the offline engine with the rule on (its default
horizon, hysteresis and re-warning pause) and counts, per queue and overall:

- the warnings raised (``started``; ``repeated`` counted apart), and per queue per day the floor took
  calls;
- how many came true: a caller of the same queue passed its wait window within the rule's horizon
  after the warning started (from each call's realised wait at entry: ``Forecast.record``, what
  ``--predictions`` writes), and, stricter, how many the wait alarm (``wait_window_exceeded``) followed:
  it started within the horizon, or was on already (a warning while a caller is over foretells the
  next one, which that alarm, on, does not announce);
- the lead of those that came true: from the warning's start to the first crossing after it.

The bank's log has no agent states (per-call records): the rule raises nothing there unless
``--without-agent-states`` turns on its guess of the capacity from the agents who answered in the queue
lately (``Forecast.between_answers``), the hardest case for it.

    python bench/warning_bank.py [LOG] [--without-agent-states] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from bisect import bisect_left
from collections import defaultdict
from pathlib import Path
from typing import Any

from callwatch.alarm import Alarm
from callwatch.config import MonitorConfig
from callwatch.offline import replay_log

DEFAULT_LOG = Path(__file__).resolve().parent / ".cache" / "bank-three-months.jsonl"
log = logging.getLogger("warning_bank")


def enabled(without_agent_states: bool) -> MonitorConfig:
    """The rule turned on (as by default, whatever a rules file says), with its defaults otherwise."""
    rule = {"enabled": True, "without_agent_states": without_agent_states}
    return MonitorConfig.model_validate({"alarms": {"wait_window_forecast": rule}})


def crossings(rows: list[list[Any]], config: MonitorConfig) -> dict[str, list[float]]:
    """Per queue, every instant a caller's wait passed the queue's window (sorted)."""
    out: dict[str, list[float]] = defaultdict(list)
    for _, queue, entered, _, realised, _ in rows:
        window = config.for_queue(queue).wait_window_s
        if realised is not None and realised > window:  # still waiting at the log's end: unknown
            out[queue].append(entered + window)
    for times in out.values():
        times.sort()
    return out


def evaluate(alarms: list[Alarm], crossed: dict[str, list[float]], horizon: float,
             days: float) -> dict[str, Any]:
    # the wait alarm's spans per queue: [start, end) (end inf while still on at the log's end)
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    opened: dict[str, float] = {}
    warnings: dict[str, list[float]] = defaultdict(list)
    repeats: dict[str, int] = defaultdict(int)
    for a in alarms:
        queue = a.queue
        if a.alarm == "wait_window_exceeded":
            if a.status == "started":
                opened[queue] = a.at
            elif a.status == "resolved" and queue in opened:
                spans[queue].append((opened.pop(queue), a.at))
        elif a.alarm == "wait_window_forecast":
            if a.status == "started":
                warnings[queue].append(a.at)
            elif a.status == "repeated":
                repeats[queue] += 1
    for queue, at in opened.items():
        spans[queue].append((at, float("inf")))
    table: dict[str, dict[str, Any]] = {}
    every_lead: list[float] = []
    totals = {"warnings": 0, "came_true": 0, "wait_alarm_followed": 0, "repeated": 0}
    for queue in sorted(set(warnings) | set(crossed)):
        times = crossed.get(queue, [])
        true = alarm_followed = 0
        leads: list[float] = []
        for w in warnings.get(queue, []):
            i = bisect_left(times, w)
            if i < len(times) and times[i] - w <= horizon:
                true += 1
                leads.append(times[i] - w)
            if any(start <= w + horizon and end > w for start, end in spans.get(queue, [])):
                alarm_followed += 1
        n = len(warnings.get(queue, []))
        every_lead += leads
        table[queue] = {
            "warnings": n, "per_day": round(n / days, 2), "repeated": repeats.get(queue, 0),
            "came_true": true, "wait_alarm_followed": alarm_followed,
            "true_share": round(true / n, 3) if n else None,
            "median_lead_s": round(statistics.median(leads), 1) if leads else None,
            "caller_crossings": len(times),
        }
        totals["warnings"] += n
        totals["came_true"] += true
        totals["wait_alarm_followed"] += alarm_followed
        totals["repeated"] += repeats.get(queue, 0)
    n = totals["warnings"]
    overall = {
        **totals, "days": round(days, 1), "per_queue_day": round(n / days / max(len(table), 1), 2),
        "true_share": round(totals["came_true"] / n, 3) if n else None,
        "wait_alarm_share": round(totals["wait_alarm_followed"] / n, 3) if n else None,
        "median_lead_s": round(statistics.median(every_lead), 1) if every_lead else None,
        "lead_quartiles_s": ([round(q, 1) for q in statistics.quantiles(every_lead, n=4)]
                             if len(every_lead) > 1 else None),
    }
    return {"queues": table, "all": overall}


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("log", nargs="?", type=Path, default=DEFAULT_LOG)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--without-agent-states", action="store_true",
                    help="warn with a capacity guessed from who answered (the rule's without_agent_states)")
    args = ap.parse_args()
    config = enabled(args.without_agent_states)
    if not args.log.exists():
        log.error("%s: no such log (make bench-bank downloads the bank's months into bench/.cache)", args.log)
        return 2
    started = time.perf_counter()
    rows: list[list[Any]] = []
    _, rep = replay_log(args.log, config, predictions=rows)
    # the days the floor took calls (the log's months need not follow each other)
    days = len({int(row[2] // 86400) for row in rows})
    horizon = config.alarms.wait_window_forecast.horizon_s
    result = evaluate(rep["alarms"], crossings(rows, config), horizon, max(days, 1.0))
    result["without_agent_states"] = args.without_agent_states
    result["log"] = args.log.name
    result["seconds"] = round(time.perf_counter() - started, 1)
    log.info("%-6s %9s %8s %9s %10s %10s %9s", "queue", "warnings", "per day", "came true", "wait alarm",
             "lead s", "crossings")
    for queue, r in result["queues"].items():
        log.info("%-6s %9d %8.2f %9d %10d %10s %9d", queue, r["warnings"], r["per_day"], r["came_true"],
                 r["wait_alarm_followed"], r["median_lead_s"], r["caller_crossings"])
    log.info("all: %s", json.dumps(result["all"]))
    log.info("(%s, %.0f s)", result["log"], result["seconds"])
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
