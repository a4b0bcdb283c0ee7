"""The early warning (``wait_window_forecast``) on the simulator: lead before the first crossing, and
false warnings on steady days.

- Ramps (``producers/scenarios/ramp.yaml``, its peak rate varied from 1.1 to 1.4 times the floor's
  capacity, ``RAMP_SEEDS`` seeds each): a crossing is a caller's wait passing the window (from the
  events: what the wait alarm raises on); the first one of a run was warned of when a warning started
  before it and was still on.
  The lead is the time from that warning's start to the crossing. Goal: warned before ≥ 80 % of first
  crossings, median lead ≥ 2 minutes.
- Steady days (``producers/scenarios/steady.yaml``, 100 calls an hour, ``STEADY_SEEDS`` days; and the
  same at the rates that offer occupancy exactly 0.6 and 0.55; the occupancy measured from the agents'
  states is reported): a warning is false when no caller crosses within the rule's horizon after it.
  Goal, as issue 15 words it: false warnings on steady days ≤ 5 % of all warnings (``steady_false_share``;
  the ramps' warnings count in the whole). Reported apart: the ramps' warnings with no crossing within
  the horizon, before the run's first crossing and after it (re-warnings in the same overload). A warning
  less than a horizon before a run's end cannot be judged (the simulated agents log off at the end while
  callers still wait): counted apart.

The rule's constants (``CAUTION_Z``, ``HOLD_S``, ``REWARN_S`` in engine/early_warning.py) were chosen on the
default seeds; ``--holdout`` runs the next ones (ramps 11-20, steady days 61-120), which the choice never
saw. ``--seed-block N`` runs block N of seeds (0 the default ones, 1 the held-out ones, 2 ramps 21-30 and
steady days 121-180, ...): a third set confirms a choice that meets the goals on the first two. Given
several times, the blocks' runs are pooled into one set of figures. A block holds about forty first
crossings and a handful of steady warnings, and the blocks differ by more than the variants tried so far:
before the rule stopped warning of crossings it could only follow, it warned before 85 %, 87 %, 68 % and
87 % of first crossings on blocks 0 to 3 (median leads 136, 131, 111 and 118 s; steady false 2, 4, 2
and 2 warnings of 50, 52, 59 and 65). The four pooled, as the rule is now: 126 of 155 first crossings
warned (81.3 %), median lead 129.7 s, steady false 8 of 220 warnings (3.6 %) — the goals, judged on
the pooled blocks (``--seed-block 0 --seed-block 1 --seed-block 2 --seed-block 3``, about 5 minutes).

    python bench/warning_eval.py [--json OUT] [--holdout | --seed-block N [--seed-block M ...]]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from bisect import bisect_left
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from callwatch.config import MonitorConfig
from callwatch.engine import Engine, replay_events
from producers.scenario import Scenario
from producers.simulator import simulate

#: the ramp's peak as a multiple of the floor's capacity (12 agents, handle time about 260 s)
PEAKS = (1.1, 1.2, 1.3, 1.4)
RAMP_SEEDS = 10
#: steady days: the scenario as it is (100 calls an hour), and its rate set for an offered occupancy of
#: exactly 0.6 and slightly below (the occupancy measured from the simulated agents is reported beside)
STEADY = (None, 0.6, 0.55)
STEADY_SEEDS = 60
CAPACITY_PER_HOUR = 12 * 3600 / 260
log = logging.getLogger("warning_eval")
#: the rule on (as by default, whatever a rules file says), with its default horizon and hysteresis
ENABLED = MonitorConfig.model_validate({"alarms": {"wait_window_forecast": {"enabled": True}}})


def ramp(peak: float) -> Scenario:
    sc = Scenario.builtin("ramp")
    steps = [(m, rate if m != 90 else round(peak * CAPACITY_PER_HOUR, 1)) for m, rate in sc.queues["billing"].arrivals]
    queues = {"billing": sc.queues["billing"].model_copy(update={"arrivals": steps})}
    return sc.model_copy(update={"queues": queues})


def steady(occupancy: float | None) -> Scenario:
    """The steady day, as it is or at the arrival rate that offers ``occupancy`` to its twelve agents."""
    sc = Scenario.builtin("steady")
    if occupancy is None:
        return sc
    steps = [(0, round(occupancy * CAPACITY_PER_HOUR, 1))]
    queues = {"billing": sc.queues["billing"].model_copy(update={"arrivals": steps})}
    return sc.model_copy(update={"queues": queues})


def occupancy_of(events: list[Any]) -> float:
    """The agents' occupancy from their states: time busy or in wrap-up over time logged in (available,
    busy or wrap-up), from each agent's first state to the last event."""
    busy = serving = 0.0
    last: dict[str, tuple[str, float]] = {}
    for ev in events:
        if ev.type != "agent.state":
            continue
        t = ev.ts.timestamp()
        was = last.get(ev.agent)
        if was is not None:
            span = t - was[1]
            serving += span if was[0] in ("available", "busy", "wrap_up") else 0.0
            busy += span if was[0] in ("busy", "wrap_up") else 0.0
        last[ev.agent] = (str(ev.state.value), t)
    end = events[-1].ts.timestamp() if events else 0.0
    for state, t in last.values():
        serving += end - t if state in ("available", "busy", "wrap_up") else 0.0
        busy += end - t if state in ("busy", "wrap_up") else 0.0
    return busy / serving if serving else 0.0


def run(args: tuple[str, float | None, int]) -> dict[str, Any]:
    """One simulated run through the engine: its warnings and crossings (epoch seconds)."""
    kind, level, seed = args
    scenario = ramp(level or 0.0) if kind == "ramp" else steady(level)
    events, _ = simulate(scenario, seed)
    config = ENABLED
    window = config.for_queue("billing").wait_window_s
    # every caller's crossing of the window (not only the alarm's starts): what a warning foretells
    since: dict[str, float] = {}
    crossings: list[float] = []
    for ev in events:
        if ev.type == "call.queued":
            since[ev.call_id] = ev.ts.timestamp()
        elif ev.type in ("call.answered", "call.abandoned", "call.dequeued"):
            start = since.pop(ev.call_id, None)
            if start is not None and ev.ts.timestamp() - start > window:
                crossings.append(start + window)
    crossings += [start + window for start in since.values()]
    engine = replay_events(Engine(config), events)
    starts: dict[str, list[float]] = {"wait_window_forecast": [], "wait_window_exceeded": []}
    end = scenario.start.timestamp() + scenario.hours * 3600
    spans: list[tuple[float, float]] = []
    opened: float | None = None
    for alarm in engine.outbox:
        if alarm.alarm in starts and alarm.status == "started":
            starts[alarm.alarm].append(alarm.at)
        if alarm.alarm == "wait_window_forecast":
            if alarm.status == "started":
                opened = alarm.at
            elif alarm.status == "resolved" and opened is not None:
                spans.append((opened, alarm.at))
                opened = None
    if opened is not None:
        spans.append((opened, float("inf")))
    return {"kind": kind, "level": level, "seed": seed, "warnings": starts["wait_window_forecast"],
            "crossings": sorted(crossings), "spans": spans, "end": end,
            "occupancy": occupancy_of(events) if kind == "steady" else None}


def _share(part: int, whole: int) -> float:
    return round(part / whole, 3) if whole else 0.0


def evaluate(runs: list[dict[str, Any]], horizon: float) -> dict[str, Any]:
    """The goals' figures. A warning is false when no caller crosses within the horizon after it; on a
    ramp, one before the run's first crossing is an early false alarm, one after it a re-warning in the
    same overload (the line already crossed once: the wait alarm has told the floor)."""
    leads: list[float] = []
    firsts = warned = 0
    warnings = false = unjudged = 0
    ramp_warnings = ramp_false_before = ramp_false_after = ramp_before = 0
    steady: dict[str, dict[str, Any]] = {}
    for r in runs:
        crossings = r["crossings"]
        first = crossings[0] if crossings else float("inf")
        if r["kind"] == "steady":
            label = "scenario" if r["level"] is None else f"{r['level']:.2f}"
            day = steady.setdefault(label, {"days": 0, "warnings": 0, "false": 0, "occupancy": []})
            day["days"] += 1
            day["occupancy"].append(r["occupancy"])
        for w in r["warnings"]:
            if w > r["end"] - horizon:
                unjudged += 1  # the run ends within its horizon: nobody can say whether it came true
                continue
            i = bisect_left(crossings, w)
            is_false = i == len(crossings) or crossings[i] - w > horizon
            warnings += 1
            false += is_false
            if r["kind"] == "steady":
                day["warnings"] += 1
                day["false"] += is_false
            else:
                ramp_warnings += 1
                ramp_before += w < first
                ramp_false_before += is_false and w < first
                ramp_false_after += is_false and w >= first
        if r["kind"] == "ramp" and crossings:
            firsts += 1
            on = [start for start, end in r["spans"] if start < first <= end]
            if on:
                warned += 1
                leads.append(first - on[0])
    steady_warnings = sum(d["warnings"] for d in steady.values())
    steady_false = sum(d["false"] for d in steady.values())
    for d in steady.values():
        occ = d.pop("occupancy")
        d["occupancy_mean"] = round(statistics.fmean(occ), 4)
        d["occupancy_range"] = [round(min(occ), 4), round(max(occ), 4)]
    return {
        "ramp_runs": sum(1 for r in runs if r["kind"] == "ramp"),
        "first_crossings": firsts, "warned_before": warned,
        "warned_share": round(warned / firsts, 3) if firsts else None,
        "median_lead_s": round(statistics.median(leads), 1) if leads else None,
        "lead_quartiles_s": [round(q, 1) for q in statistics.quantiles(leads, n=4)] if len(leads) > 1 else None,
        "warnings": warnings, "false_warnings": false, "false_share_all": _share(false, warnings),
        # (a) the goal as written: false warnings on steady days below capacity, over all warnings
        "steady_days": sum(d["days"] for d in steady.values()),
        "steady_warnings": steady_warnings, "steady_false": steady_false,
        "steady_false_share": _share(steady_false, warnings),
        "steady_false_of_steady": _share(steady_false, steady_warnings),
        "steady": steady,
        # (b) the ramps: warnings that saw no crossing within the horizon, before the run's first crossing
        # and after it (re-warnings in the same overload)
        "ramp_warnings": ramp_warnings, "ramp_warnings_before_first": ramp_before,
        "ramp_false_before_first": ramp_false_before, "ramp_false_rewarnings": ramp_false_after,
        "ramp_false_share": _share(ramp_false_before + ramp_false_after, ramp_warnings),
        "unjudged_at_run_end": unjudged,
    }


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--workers", type=int, default=2)
    seeds = ap.add_mutually_exclusive_group()
    seeds.add_argument("--holdout", action="store_true", help="the seeds after the default ones (block 1)")
    seeds.add_argument("--seed-block", type=int, action="append", metavar="N",
                       help=f"ramp seeds {RAMP_SEEDS}N+1.. and steady days {STEADY_SEEDS}N+1.. (0: the default);"
                       " given several times, the blocks pooled")
    args = ap.parse_args()
    blocks = [1] if args.holdout else sorted(set(args.seed_block or [0]))
    if blocks[0] < 0:
        ap.error("--seed-block must be 0 or more")
    jobs: list[tuple[str, float | None, int]] = []
    for block in blocks:
        ramps = range(block * RAMP_SEEDS + 1, (block + 1) * RAMP_SEEDS + 1)
        days = range(block * STEADY_SEEDS + 1, (block + 1) * STEADY_SEEDS + 1)
        jobs += [("ramp", peak, seed) for peak in PEAKS for seed in ramps]
        jobs += [("steady", level, seed) for level in STEADY for seed in days]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        runs = list(pool.map(run, jobs))
    horizon = ENABLED.alarms.wait_window_forecast.horizon_s
    result = evaluate(runs, horizon)
    for key, value in result.items():
        log.info("%-26s %s", key, value)
    ok = ((result["warned_share"] or 0) >= 0.8 and (result["median_lead_s"] or 0) >= 120
          and result["steady_false_share"] <= 0.05)
    log.info("goal met: %s", ok)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
