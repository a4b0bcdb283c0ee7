"""``make bench-integrity``: precision and recall of every integrity signal on simulated months.

For each seed: 30 days of the built-in ``floor`` scenario (28 agents, four of them with a planted
behaviour: cap hang-ups, survey selection, score begging, false resolution), replayed through the
engine; the signals over the month against the ground truth. Results to stdout and
bench/results/integrity.json.
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


if __name__ == "__main__":
    main()
