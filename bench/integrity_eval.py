"""``make bench-integrity``: precision and recall of every integrity signal on simulated months.

For each seed: 30 days of the built-in ``floor`` scenario (28 agents, four of them with a planted
behaviour: cap hang-ups, survey selection, score begging, false resolution), replayed through the
engine; the signals over the month against the ground truth. Results to stdout and
bench/results/integrity.json.

Then cap clustering with the defaults (no ``handle_cap_s`` configured) on floors whose cap is not the
scenario's 420 s — 300 s and 600 s, ``CAP_DAYS`` days each: the cap must be found in the data, the
planted agent flagged and no honest one (to stdout and bench/results/integrity-caps.json).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from producers.integrity_eval import run_month  # noqa: E402

SEEDS = (1, 2, 3)
CAPS = (300.0, 600.0)
CAP_DAYS = 10


def main() -> None:
    results = []
    totals: dict[str, dict[str, int]] = {}
    for seed in SEEDS:
        started = time.perf_counter()
        month = run_month(seed, days=30)
        print(f"seed {seed}: {month.events:,} events, {len(month.agents)} agents, "
              f"{time.perf_counter() - started:.0f} s")
        for signal, r in month.per_signal.items():
            t = totals.setdefault(signal, {"planted": 0, "found": 0, "flagged": 0, "honest_flagged": 0})
            t["planted"] += len(r["planted"])
            t["found"] += len(r["found"])
            t["flagged"] += len(r["flagged"])
            t["honest_flagged"] += len(r["honest_flagged"])
            print(f"  {signal:26} planted {r['planted']} found {r['found']} honest flagged {r['honest_flagged']}")
        results.append({"seed": seed, "events": month.events, "per_signal": month.per_signal,
                        "signals": [{"signal": s.signal, "subject": s.subject, "numerator": s.numerator,
                                     "denominator": s.denominator, "value": s.value, "baseline": s.baseline,
                                     "p_value": s.p_value, "reason": s.reason} for s in month.signals]})
    print("signal                     precision  recall   (over the seeds)")
    summary = {}
    for signal, t in totals.items():
        precision = t["found"] / t["flagged"] if t["flagged"] else None
        recall = t["found"] / t["planted"] if t["planted"] else None
        summary[signal] = {**t, "precision": precision, "recall": recall}
        fmt = lambda x: "n/a" if x is None else f"{x:.2f}"  # noqa: E731
        print(f"{signal:26} {fmt(precision):>9}  {fmt(recall):>6}   flagged {t['flagged']}, "
              f"honest flagged {t['honest_flagged']}, planted {t['planted']}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "integrity.json").write_text(json.dumps({"seeds": SEEDS, "summary": summary, "runs": results}, indent=1))
    caps()


def caps() -> None:
    """Cap clustering with nothing configured, on caps other than the default."""
    rows = []
    for cap in CAPS:
        for seed in SEEDS:
            started = time.perf_counter()
            month = run_month(seed, days=CAP_DAYS, cap_s=cap, configure_cap=False)
            r = month.per_signal["cap_clustering"]
            found = [s.reason for s in month.signals if s.signal == "cap_clustering"]
            print(f"cap {cap:g} s, seed {seed}, {CAP_DAYS} days, handle_cap_s not configured: planted {r['planted']} "
                  f"found {r['found']} honest flagged {r['honest_flagged']} ({time.perf_counter() - started:.0f} s)")
            rows.append({"cap_s": cap, "seed": seed, "days": CAP_DAYS, **r, "reasons": found})
    ok = all(not r["missed"] and not r["honest_flagged"] for r in rows)
    print(f"every planted agent flagged and no honest one: {ok}")
    (ROOT / "bench" / "results" / "integrity-caps.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    if sys.argv[1:] == ["--caps"]:
        (ROOT / "bench" / "results").mkdir(exist_ok=True)
        caps()
    else:
        main()
