"""``make bench-alerts``: how long after a caller crosses the wait window the page reaches a receiver.

The whole path on real parts: events → embedded broker → worker (wall clock, 2 s window) → alerts topic
→ ``callwatch alerts run`` → a real HTTP receiver. 100 callers in 100 queues cross one after another
(10 a second); each start's delay is its arrival at the receiver minus the alarm's ``at`` (the exact
crossing instant), each resolve's its arrival minus the answer's time. With ``--redis-hang S``, Redis is
stopped (SIGSTOP) for S seconds while the callers cross (from the 20th on), then continued (SIGCONT):
the alarm path must not wait for Redis. Results go to stdout and bench/results/alerts.json. A
benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import orjson
from kafka import KafkaProducer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from alerts.delivery import parse_iso  # noqa: E402
from alerts.messages import iso  # noqa: E402
from bench.pipeline_bench import create_topic, worker_env  # noqa: E402
from console.embedded import free_port, start_redis, start_tansu, stop_process, wait_for_port  # noqa: E402

ALARMS = 100
RATE = 10.0
WINDOW_S = 2.0


class Hook(BaseHTTPRequestHandler):
    got: ClassVar[list[tuple[float, dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Hook.got.append((time.time(), orjson.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


def event(kind: str, ts: float, eid: str, **fields: object) -> bytes:
    return orjson.dumps({"v": 1, "id": eid, "type": kind, "ts": iso(ts), "source": "pbx-bench", **fields})


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    q = statistics.quantiles(ordered, n=100, method="inclusive")
    return {"n": len(ordered), "p50_ms": round(q[49] * 1000, 1), "p99_ms": round(q[98] * 1000, 1),
            "max_ms": round(ordered[-1] * 1000, 1)}


def wait_for(count: int, status: str, timeout: float) -> None:
    deadline = time.time() + timeout
    while sum(1 for _, m in Hook.got if m["status"] == status) < count and time.time() < deadline:
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-hang", type=float, default=0.0, metavar="S",
                        help="stop Redis with SIGSTOP for S seconds while the callers cross")
    hang_s = parser.parse_args().redis_hang
    logs = Path(tempfile.mkdtemp(prefix="callwatch-alert-bench-"))
    broker = start_tansu(log_dir=logs)
    redis = start_redis(data_dir=logs)
    hook_port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", hook_port), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    name = f"alerts{int(time.time())}"
    web_port = free_port()
    env = {**worker_env(broker.url, redis.url, name, "wall", web_port),
           "CALLWATCH_MONITOR__DEFAULTS__WAIT_WINDOW_S": str(WINDOW_S)}
    config = logs / "delivery.yaml"
    config.write_text(json.dumps({
        "receivers": [{"kind": "webhook", "name": "hook", "url": f"http://127.0.0.1:{hook_port}/"}],
        "routes": [{"receivers": ["hook"], "alarms": ["wait_window_exceeded"]}]}))
    create_topic(broker.url, f"events-{name}")
    create_topic(broker.url, f"alerts-{name}")
    with open(logs / "worker.log", "wb") as wlog, open(logs / "dispatcher.log", "wb") as dlog:
        worker = subprocess.Popen([sys.executable, "-m", "console", "worker"], cwd=ROOT, env=env,
                                  stdout=wlog, stderr=subprocess.STDOUT)
        dispatcher = subprocess.Popen([sys.executable, "-m", "console", "alerts", "run", "--config", str(config),
                                       "--metrics-port", "0"], cwd=ROOT, env=env, stdout=dlog,
                                      stderr=subprocess.STDOUT)
    producer = KafkaProducer(bootstrap_servers=broker.url, acks="all", linger_ms=0)
    try:
        wait_for_port(web_port, timeout=90, proc=worker)
        time.sleep(8)  # both consumers joined (the embedded broker waits half a session per join)
        print(f"{ALARMS} callers in {ALARMS} queues, {RATE:g}/s, window {WINDOW_S:g} s"
              + (f", Redis stopped for {hang_s:g} s from the 20th caller's crossing" if hang_s else "") + " ...")
        hang = threading.Timer(20 / RATE + WINDOW_S, _hang_redis, (redis.proc.pid, hang_s)) if hang_s else None
        if hang is not None:
            hang.start()
        for i in range(ALARMS):
            producer.send(f"events-{name}", event("call.queued", time.time(), f"q{i}", call_id=f"c{i}",
                                                  queue=f"q{i:03d}"), key=b"pbx-bench")
            producer.flush()
            time.sleep(1 / RATE)
        wait_for(ALARMS, "started", 60)
        for i in range(ALARMS):
            producer.send(f"events-{name}", event("call.answered", time.time(), f"a{i}", call_id=f"c{i}",
                                                  queue=f"q{i:03d}", agent=f"ag{i}"), key=b"pbx-bench")
            producer.flush()
            time.sleep(1 / RATE)
        wait_for(ALARMS, "resolved", 60)
        time.sleep(2)
        if hang is not None:
            hang.join()
    finally:
        producer.close()
        stop_process(dispatcher, timeout=20)
        stop_process(worker, timeout=20)
        server.shutdown()
        broker.stop()
        redis.stop()
    starts = [t - parse_iso(m["at"]) for t, m in Hook.got if m["status"] == "started"]
    resolves = [t - parse_iso(m["at"]) for t, m in Hook.got if m["status"] == "resolved"]
    ids = [m["id"] for _, m in Hook.got]
    results = {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "alarms": ALARMS,
               "redis_stopped_s": hang_s,
               "window_s": WINDOW_S, "start_after_crossing": percentiles(starts),
               "resolve_after_answer": percentiles(resolves), "duplicates": len(ids) - len(set(ids))}
    s, r = results["start_after_crossing"], results["resolve_after_answer"]
    print(f"start after the crossing ({s['n']} alarms): p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms, "
          f"max {s['max_ms']} ms")
    print(f"resolve after the answer ({r['n']}): p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, max {r['max_ms']} ms; "
          f"duplicates {results['duplicates']}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "alerts.json").write_text(json.dumps(results, indent=1))
    print(f"results in {out / 'alerts.json'}; logs in {logs}")


def _hang_redis(pid: int, seconds: float) -> None:
    """Redis hung, not gone: its connections stay open and nothing answers (SIGSTOP), then it resumes."""
    os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)


if __name__ == "__main__":
    main()
