"""The engine alone on a log, as ``make bench`` measures it, for a quick look or a profile:
``python bench/prof_engine.py LOG [p]`` (``p``: cProfile the run, 35 costliest functions)."""

from __future__ import annotations

import cProfile
import gc
import pstats
import sys
import time

from callwatch.config import MonitorConfig
from callwatch.engine import Engine
from callwatch.eventlog import read_lines


def main() -> None:
    t = time.perf_counter()
    events = [line.event for line in read_lines(sys.argv[1]) if line.event is not None]
    print("decoded", len(events), f"in {time.perf_counter() - t:.2f} s")
    engine = Engine(MonitorConfig().model_copy(update={"history_days": 400}))
    gc.collect()
    step = engine.step
    profile = cProfile.Profile() if len(sys.argv) > 2 else None
    t, cpu = time.perf_counter(), time.process_time()
    if profile is not None:
        profile.enable()
    for event in events:
        step(event)
    engine.finish()
    if profile is not None:
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(35)
    seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
    print(f"{len(events)} events: wall {seconds:.2f} s ({len(events) / seconds:,.0f}/s), "
          f"cpu {cpu:.2f} s ({len(events) / cpu:,.0f}/s)")


if __name__ == "__main__":
    main()
