"""``make bench``: the engine and the offline replay on three real months of a bank's calls.

The months (January, February and October 1999 of the "Anonymous Bank", in
``../shared/reference-data/anonymous-bank/``; not ours to redistribute, so not in the repository) are
converted with the bundled mapping (``callwatch import cdr-csv``) once into ``bench/.cache/``. Then,
each measured three times in a fresh process and reported as the median:

1. the engine alone, from decoded events, on one core (events/s);
2. ``callwatch replay LOG --offline --json`` as a user runs it: the installed command, a cold process,
   validation on (events/s of the whole process, start-up included);

both on the three months as they are (seven idle months between February and October) and on the
same months with October moved to follow February (no idle months): cost must follow the events,
not the calendar. Peak memory (max RSS) of each process. Results: stdout and bench/results/bank.json.
A benchmark, not a test: nothing here passes or fails.

The machine may be shared: besides wall time, each figure is also given per second of the process's
own CPU time (user + system), which other processes disturb far less. ``--baseline DIR`` measures a
second checkout (``git worktree add DIR main``) the same way, its runs interleaved with these, with
``PYTHONPATH`` pointing each process at its checkout; ``--runs N`` changes the number of runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
BANK = Path(os.environ.get("CALLWATCH_BANK_DIR", ROOT.parent / "shared" / "reference-data" / "anonymous-bank"))
CACHE = ROOT / "bench" / ".cache"
MONTHS = ("1999-01", "1999-02", "1999-10")
RUNS = 3
CALLWATCH = Path(sys.executable).parent / "callwatch"

ENGINE_RUN = """
import gc, resource, sys, time
from callwatch.config import MonitorConfig
from callwatch.engine import Engine
from callwatch.eventlog import read_lines
events = [line.event for line in read_lines(sys.argv[1]) if line.event is not None]
engine = Engine(MonitorConfig().model_copy(update={"history_days": 400}))
gc.collect()
step = engine.step
t, cpu = time.perf_counter(), time.process_time()
for event in events:
    step(event)
engine.finish()
seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
print(len(events), seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, cpu)
"""


def convert() -> dict[str, Path]:
    """The months as event logs (converted once; the pseudonym key only has to be stable here)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CALLWATCH_PSEUDONYM_KEY": "bench-only-not-a-secret-0123456789"}
    out = {}
    for month in MONTHS:
        target = CACHE / f"bank-{month}.jsonl"
        if not target.exists():
            subprocess.run([str(CALLWATCH), "import", "cdr-csv", str(BANK / f"{month}.txt"), "--mapping",
                            str(ROOT / "producers" / "mappings" / "anonymous-bank.yaml"), "--out", str(target)],
                           check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out[month] = target
    return out


def _shift(line: bytes, by: timedelta) -> bytes:
    obj = orjson.loads(line)
    for key in ("ts", "waiting_since"):
        if key in obj:
            obj[key] = (datetime.fromisoformat(obj[key]) + by).isoformat()
    return orjson.dumps(obj)


def logs(months: dict[str, Path]) -> dict[str, Path]:
    """The three months as they are, and with October moved to start where February ends."""
    whole = CACHE / "bank-three-months.jsonl"
    packed = CACHE / "bank-three-months-no-idle.jsonl"
    if not whole.exists():
        whole.write_bytes(b"".join(months[m].read_bytes() for m in MONTHS))
    if not packed.exists():
        by = datetime.fromisoformat("1999-03-01T00:00:00+02:00") - datetime.fromisoformat("1999-10-01T00:00:00+02:00")
        october = b"\n".join(_shift(line, by) for line in months["1999-10"].read_bytes().splitlines() if line)
        packed.write_bytes(months["1999-01"].read_bytes() + months["1999-02"].read_bytes() + october + b"\n")
    return {"three months": whole, "three months, no idle months": packed}


def _env(tree: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(tree)}


def _timed(cmd: list[str], tree: Path) -> tuple[float, int, float]:
    """Wall seconds, peak RSS (KiB) and CPU seconds (user + system) of one fresh process."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=_env(tree))
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t
    if status != 0:
        raise SystemExit(f"{' '.join(cmd)} failed with status {status}")
    return seconds, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def _engine_run(log: Path, tree: Path) -> tuple[int, float, int, float]:
    out = subprocess.run([sys.executable, "-c", ENGINE_RUN, str(log)], check=True, capture_output=True,
                         text=True, cwd=tree, env=_env(tree)).stdout.split()
    return int(out[0]), float(out[1]), int(out[2]), float(out[3])


def measure(logs: dict[str, Path], trees: dict[str, Path], runs: int) -> dict[str, dict[str, dict[str, float]]]:
    """Each log's (and each checkout's) runs interleaved (A B A B …), so that a drift of the machine
    falls on all alike."""
    engine: dict[str, list[tuple[int, float, int, float]]] = {}
    replay: dict[str, list[tuple[float, int, float]]] = {}
    for _ in range(runs):
        for name, log in logs.items():
            for label, tree in trees.items():
                key = f"{name} [{label}]" if len(trees) > 1 else name
                engine.setdefault(key, []).append(_engine_run(log, tree))
                replay.setdefault(key, []).append(
                    _timed([str(CALLWATCH), "replay", str(log), "--offline", "--json"], tree))
    results: dict[str, dict[str, dict[str, float]]] = {}
    for key, runs_of in engine.items():
        events = runs_of[0][0]
        seconds = statistics.median(s for s, _, _ in replay[key])
        cpu = statistics.median(c for _, _, c in replay[key])
        results[key] = {
            "engine": {"events": events, "events_per_s": round(statistics.median(n / t for n, t, _, _ in runs_of)),
                       "events_per_cpu_s": round(statistics.median(n / c for n, _, _, c in runs_of)),
                       "peak_rss_mb": round(max(r for _, _, r, _ in runs_of) / 1024, 1)},
            "replay --offline --json": {"seconds": round(seconds, 2), "events_per_s": round(events / seconds),
                                        "cpu_seconds": round(cpu, 2), "events_per_cpu_s": round(events / cpu),
                                        "peak_rss_mb": round(max(r for _, r, _ in replay[key]) / 1024, 1)},
        }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="runs of each measurement (the median is given)")
    parser.add_argument("--baseline", type=Path, help="another checkout to measure the same way (e.g. main)")
    args = parser.parse_args()
    if not BANK.is_dir() and not (CACHE / "bank-three-months.jsonl").exists():
        raise SystemExit(f"the bank's records are not at {BANK} (set CALLWATCH_BANK_DIR)")
    trees = {"this": ROOT} if args.baseline is None else {"baseline": args.baseline.resolve(), "this": ROOT}
    results = measure(logs(convert()), trees, args.runs)
    for name, parts in results.items():
        engine, rep = parts["engine"], parts["replay --offline --json"]
        print(f"{name}: {engine['events']:,} events")
        print(f"  engine alone:              {engine['events_per_s']:>9,} events/s"
              f"  ({engine['events_per_cpu_s']:,}/cpu-s)  peak {engine['peak_rss_mb']} MB")
        print(f"  replay --offline --json:   {rep['events_per_s']:>9,} events/s  ({rep['seconds']} s;"
              f" {rep['events_per_cpu_s']:,}/cpu-s)  peak {rep['peak_rss_mb']} MB")
    for label in trees:
        suffix = f" [{label}]" if len(trees) > 1 else ""
        whole, packed = results["three months" + suffix], results["three months, no idle months" + suffix]
        for kind in ("engine", "replay --offline --json"):
            ratio = packed[kind]["events_per_cpu_s"] / whole[kind]["events_per_cpu_s"]
            print(f"with the idle months ({kind}{suffix}): {ratio:.2f}× the CPU time without them")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bank.json").write_text(json.dumps({"measured_at": datetime.now().astimezone().isoformat(),
                                               "runs": args.runs, "results": results}, indent=1))


if __name__ == "__main__":
    main()
