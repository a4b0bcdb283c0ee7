"""``make bench-agents``: what 120 days of per-agent history cost for 1,000 agents.

Per-agent days shaped like a simulated floor's (the ``floor`` scenario's agents, their figures scaled a
little at random), 1,000 agents × 120 days, held by one engine: memory (tracemalloc), the bytes Redis
holds for them, the time to restore them, and the time of a scorecard, of the month's integrity signals
for the whole floor and of the full report. Results to stdout and bench/results/agents.json.
"""

from __future__ import annotations

import copy
import gc
import json
import random
import sys
import time
import tracemalloc
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callwatch.config import IntegrityConfig, MonitorConfig  # noqa: E402
from callwatch.engine import Engine  # noqa: E402
from callwatch.engine.integrity import evaluate  # noqa: E402
from callwatch.scorecard import render_html, scorecard  # noqa: E402
from producers.simulator import demo_events  # noqa: E402

AGENTS, DAYS = 1000, 120


def main() -> None:
    config = MonitorConfig(integrity=IntegrityConfig(handle_cap_s=420))
    day_engine = Engine(config)
    for event in demo_events(scenario="floor", seed=5):
        day_engine.step(event)
    templates = list(day_engine.agent_days.values())
    rng = random.Random(7)
    last = date(2026, 11, 23)
    days = [(last - timedelta(days=i)).isoformat() for i in range(DAYS)]
    gc.collect()
    tracemalloc.start()
    engine = Engine(config.model_copy(update={"agent_history_days": 130}))
    t = time.perf_counter()
    for a in range(AGENTS):
        for day in days:
            figures = copy.deepcopy(rng.choice(templates))
            for name in ("handled", "dispositions", "resolved", "surveys_offered", "customer_contacts"):
                setattr(figures, name, int(getattr(figures, name) * rng.uniform(0.8, 1.2)))
            engine.agent_days[(f"agent-{a:04d}", day)] = figures
            engine.dirty["agent_days"].add((f"agent-{a:04d}", day))
    build_s = time.perf_counter() - t
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t = time.perf_counter()
    changes = engine.take_dirty()
    serialise_s = time.perf_counter() - t
    stored = changes["agent_days"]
    redis_bytes = sum(len(k) + len(v or b"") for k, v in stored.items())
    t = time.perf_counter()
    restored = Engine.restore(config, None, {"agent_days": {k.encode(): v for k, v in stored.items() if v}})
    restore_s = time.perf_counter() - t
    t = time.perf_counter()
    card = scorecard(restored, "agent-0042")
    render_html(card)
    card_s = time.perf_counter() - t
    t = time.perf_counter()
    signals = evaluate(restored.agent_days, days[29], days[0], config.integrity)
    integrity_s = time.perf_counter() - t
    results = {
        "agents": AGENTS, "days": DAYS, "agent_days": len(engine.agent_days),
        "memory_mb": round(current / 2**20, 1), "redis_mb": round(redis_bytes / 2**20, 1),
        "bytes_per_agent_day_in_redis": round(redis_bytes / len(stored)),
        "build_s": round(build_s, 2), "serialise_s": round(serialise_s, 2), "restore_s": round(restore_s, 2),
        "scorecard_s": round(card_s, 3), "integrity_30_days_s": round(integrity_s, 3), "signals": len(signals),
    }
    print(json.dumps(results, indent=1))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "agents.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
