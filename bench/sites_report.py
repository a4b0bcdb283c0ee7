"""The bank's three months as three sites, live and offline: ``callwatch report`` against ``callwatch replay
--offline --json`` (issue 14's "one report").

Each month of ``bench/.cache/`` (see ``bench/bank_bench.py``) gets its own ``source`` (``bank-1999-01``…),
and the three go through an embedded tansu, one ``callwatch worker`` (event clock) and a Redis started
here; once every event is applied, the report the workers' state gives is compared, byte for byte, with
the offline replay of the same log. Prints the timings and the outcome. A measurement, not a test.

    PYTHONPATH=. python bench/sites_report.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from console.embedded import free_port, start_redis, start_tansu  # noqa: E402
from tests.integration.harness import Stack, Worker, applied_offsets, publish  # noqa: E402

#: the converted months (``make bench`` writes them; another checkout's: ``CALLWATCH_BENCH_CACHE``)
CACHE = Path(os.environ.get("CALLWATCH_BENCH_CACHE", ROOT / "bench" / ".cache"))
MONTHS = ("1999-01", "1999-02", "1999-10")


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="callwatch-sites-"))
    log = work / "three-sites.jsonl"
    n = 0
    with open(log, "wb") as out:
        for month in MONTHS:
            with open(CACHE / f"bank-{month}.jsonl", "rb") as lines:
                for raw in lines:
                    event = orjson.loads(raw)
                    event["source"] = f"bank-{month}"
                    out.write(orjson.dumps(event) + b"\n")
                    n += 1
    broker = start_tansu(log_dir=work)
    redis = start_redis(data_dir=work)
    worker = None
    try:
        stack = Stack(broker.url, redis.url, "sites" + uuid.uuid4().hex[:6])
        worker = Worker(stack, work).start()
        started = time.monotonic()
        with open(log, "rb") as lines:
            sent = publish(stack, lines)
        published = time.monotonic()
        while sum(o + 1 for o in applied_offsets(stack).values()) < n:
            time.sleep(0.5)
        applied = time.monotonic()
        print(f"{n} events, 3 sites: published in {published - started:.1f} s; every event applied "
              f"{applied - started:.1f} s after the publish started ({sent / (applied - started):.0f} events/s)")
        worker.stop()
        worker = None
        env = {**stack.env(free_port()), "CALLWATCH_REDIS_TIMEOUT_S": "300"}
        t0 = time.monotonic()
        live = subprocess.run([sys.executable, "-m", "console", "report"], env=env, capture_output=True, check=True)
        t1 = time.monotonic()
        offline = subprocess.run([sys.executable, "-m", "console", "replay", str(log), "--offline", "--json"],
                                 env=env, capture_output=True, check=True)
        t2 = time.monotonic()
        print(f"callwatch report: {t1 - t0:.1f} s; callwatch replay --offline --json: {t2 - t1:.1f} s")
        rep = json.loads(live.stdout)
        print(f"byte-identical: {live.stdout == offline.stdout}; alarms {len(rep['alarms'])}, sites "
              f"{sorted(rep['sites'])}, days {len(rep['all_queues']['days'])}, offered "
              f"{rep['all_queues']['total']['offered']}")
        return 0 if live.stdout == offline.stdout else 1
    finally:
        if worker is not None:
            worker.stop()
        broker.stop()
        redis.stop()


if __name__ == "__main__":
    raise SystemExit(main())
