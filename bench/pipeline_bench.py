"""``make bench``: throughput and delay of the real pipeline on this machine, in one run.

1. the offline engine's events/s on one core (decoded events, and from JSON bytes);
2. events/s through Kafka → Faust → Redis, and a no-op Faust agent on the same broker in the same run;
3. event-to-Redis delay p50/p99 at 1,000 events/s with the worker on the wall clock.

It starts its own embedded broker (tansu) and Redis. Results go to stdout and bench/results/latest.json.
A benchmark, not a test: nothing here passes or fails.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import orjson
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callwatch.config import MonitorConfig  # noqa: E402
from callwatch.engine import Engine  # noqa: E402
from callwatch.events import decode, encode  # noqa: E402
from console.embedded import free_port, start_redis, start_tansu  # noqa: E402
from producers.simulator import demo_events  # noqa: E402
from streams.state_store import RedisStateStore  # noqa: E402


def offline_engine(events: list, raw: list[bytes]) -> dict[str, float]:
    cfg = MonitorConfig()
    best = best_raw = 0.0
    gc.collect()
    for _ in range(3):
        eng = Engine(cfg)
        t = time.perf_counter()
        for e in events:
            eng.step(e)
        best = max(best, len(events) / (time.perf_counter() - t))
        eng = Engine(cfg)
        t = time.perf_counter()
        for r in raw:
            eng.step(decode(r))
        best_raw = max(best_raw, len(raw) / (time.perf_counter() - t))
    return {"engine_events_per_s": round(best), "decode_and_engine_events_per_s": round(best_raw)}


def simulator_and_replay(bootstrap: str, logs: Path) -> dict[str, float]:
    """The simulator writing a log (contacts/s), and the replay publishing it (events/s, all acked)."""
    from callwatch.eventlog import read_raw, write_events
    from producers.replay import make_producer, prepare, replay
    from producers.scenario import Scenario
    from producers.simulator import Simulation

    sim = Simulation(Scenario.builtin("floor").scaled(5), seed=1)
    t = time.perf_counter()
    events = sorted(sim.events(), key=lambda e: e.ts)
    write_events(logs / "floor.jsonl.gz", events)
    sim_s = time.perf_counter() - t
    create_topic(bootstrap, "replay-bench")
    producer = make_producer(bootstrap)
    result = replay(prepare(read_raw(logs / "floor.jsonl.gz")), producer, "replay-bench", None)
    producer.close()  # type: ignore[attr-defined]
    assert result.ok, result
    return {"simulated_contacts": sim.truth.contacts, "simulator_contacts_per_s": round(sim.truth.contacts / sim_s),
            "replay_events": result.sent, "replay_events_per_s": round(result.sent / result.seconds)}


def create_topic(bootstrap: str, name: str, partitions: int = 1) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        admin.close()


def publish(bootstrap: str, topic: str, raw: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, batch_size=512 * 1024)
    for r in raw:
        producer.send(topic, key=b"pbx", value=r)
    producer.flush()
    producer.close()


def wait_file(path: Path, proc: subprocess.Popen[bytes], timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.stat().st_size:
            return json.loads(path.read_text())
        if proc.poll() is not None:
            raise RuntimeError("the no-op worker exited")
        time.sleep(0.05)
    raise TimeoutError("no-op worker did not finish")


def worker_env(bootstrap: str, redis_url: str, name: str, clock: str, port: int) -> dict[str, str]:
    return {**os.environ, "CALLWATCH_KAFKA_BOOTSTRAP": bootstrap, "CALLWATCH_REDIS_URL": redis_url,
            "CALLWATCH_EVENTS_TOPIC": f"events-{name}", "CALLWATCH_ALERTS_TOPIC": f"alerts-{name}",
            "CALLWATCH_DEAD_LETTER_TOPIC": f"dead-{name}", "CALLWATCH_APP_ID": f"bench-{name}",
            "CALLWATCH_REDIS_PREFIX": f"bench-{name}", "CALLWATCH_CLOCK": clock,
            "CALLWATCH_WEB_PORT": str(port), "CALLWATCH_WEB_HOST": "127.0.0.1",
            "CALLWATCH_SESSION_TIMEOUT_S": "4", "CALLWATCH_TOPIC_PARTITIONS": "1"}


def callwatch_throughput(bootstrap: str, redis_url: str, raw: list[bytes], logs: Path) -> float:
    import asyncio

    name = f"tp{int(time.time())}"
    create_topic(bootstrap, f"events-{name}")
    publish(bootstrap, f"events-{name}", raw)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "console", "worker"], cwd=ROOT,
                            env=worker_env(bootstrap, redis_url, name, "event", port),
                            stdout=open(logs / "worker-throughput.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115 - the child owns it

    async def poll() -> float:
        store = RedisStateStore(redis_url, f"bench-{name}")
        first_t = first_n = None
        try:
            while True:
                part = await store.load_meta_offset(f"events-{name}", 0)
                now = time.time()
                if part >= 0 and first_t is None:
                    first_t, first_n = now, part + 1
                if part + 1 >= len(raw):
                    assert first_t is not None and first_n is not None
                    return (len(raw) - first_n) / (now - first_t)
                await asyncio.sleep(0.01)
        finally:
            await store.close()

    try:
        return asyncio.run(poll())
    finally:
        proc.terminate()
        proc.wait()


def noop_throughput(bootstrap: str, raw: list[bytes], logs: Path) -> float:
    name = f"noop{int(time.time())}"
    create_topic(bootstrap, name)
    publish(bootstrap, name, raw)
    out = logs / "noop.json"
    env = {**os.environ, "BENCH_COUNT": str(len(raw)), "BENCH_OUT": str(out), "BENCH_APP_ID": name,
           "BENCH_BOOTSTRAP": bootstrap, "BENCH_WEB_PORT": str(free_port()), "BENCH_TOPIC": name}
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "noop_app.py"), "worker", "-l", "warn"],
                            env=env, stdout=open(logs / "noop.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115 - the child owns it
    try:
        got = wait_file(out, proc, 300)
    finally:
        proc.terminate()
        proc.wait()
    return float(got["n"] / (got["last"] - got["first"]))


def delay_at_rate(bootstrap: str, redis_url: str, logs: Path, rate: int = 1000, seconds: int = 20) -> dict:
    name = f"delay{int(time.time())}"
    create_topic(bootstrap, f"events-{name}")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "console", "worker"], cwd=ROOT,
                            env=worker_env(bootstrap, redis_url, name, "wall", port),
                            stdout=open(logs / "worker-delay.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115 - the child owns it
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                    if orjson.loads(r.read())["partitions"]:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("worker not ready")
            time.sleep(0.2)
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1)
        start = time.monotonic()
        sent = 0
        while sent < rate * seconds:
            due = start + sent / rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            ts = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            call = f"c{sent // 3}"
            kind = ("call.queued", "call.answered", "call.ended")[sent % 3]
            extra = {"call.answered": {"agent": "a1"}, "call.ended": {"agent": "a1", "ended_by": "customer"}}
            body = {"v": 1, "id": f"{name}-{sent}", "type": kind, "ts": ts, "call_id": call, "queue": "q",
                    "source": "pbx", **extra.get(kind, {})}
            producer.send(f"events-{name}", key=b"pbx", value=orjson.dumps(body))
            sent += 1
        producer.flush()
        producer.close()
        time.sleep(2)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            text = r.read().decode()
    finally:
        proc.terminate()
        proc.wait()
    buckets = []
    for fam in text_string_to_metric_families(text):
        if fam.name == "callwatch_event_delay_seconds":
            buckets = [(float(s.labels["le"]), s.value) for s in fam.samples if s.name.endswith("_bucket")]
    total = buckets[-1][1]

    def quantile(q: float) -> float:
        # linear interpolation inside the bucket, as PromQL's histogram_quantile does
        target = q * total
        lo_b, lo_c = 0.0, 0.0
        for b, c in buckets:
            if c >= target:
                if b == float("inf"):
                    return lo_b
                return lo_b + (b - lo_b) * ((target - lo_c) / (c - lo_c) if c > lo_c else 0)
            lo_b, lo_c = b, c
        return float("nan")

    return {"events": int(total), "rate_per_s": rate, "p50_s": round(quantile(0.5), 4),
            "p99_s": round(quantile(0.99), 4)}


def main() -> None:
    logs = Path(tempfile.mkdtemp(prefix="callwatch-bench-"))
    events = demo_events(datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc), seed=5, hours=8, scale=5)
    raw = [encode(e) for e in events]
    results: dict = {"machine": {"cpus": os.cpu_count()}, "events": len(events)}
    print(f"workload: {len(events)} events of the example scenario (8 h, 5x traffic)")
    results["offline"] = offline_engine(events, raw)
    print(f"offline engine, one core: {results['offline']['engine_events_per_s']:,} events/s "
          f"({results['offline']['decode_and_engine_events_per_s']:,} with JSON decoding)")
    broker = start_tansu(log_dir=logs)
    redis = start_redis(data_dir=logs)
    try:
        noop = noop_throughput(broker.url, raw, logs)
        full = callwatch_throughput(broker.url, redis.url, raw, logs)
        results["pipeline"] = {"noop_faust_events_per_s": round(noop), "callwatch_events_per_s": round(full),
                               "ratio": round(full / noop, 3)}
        print(f"Kafka → Faust → Redis: {full:,.0f} events/s; no-op Faust agent: {noop:,.0f} events/s; "
              f"ratio {full / noop:.2f}")
        results["producers"] = p = simulator_and_replay(broker.url, logs)
        print(f"simulator writing a log: {p['simulator_contacts_per_s']:,} contacts/s "
              f"({p['simulated_contacts']:,} contacts); replay publishing it: {p['replay_events_per_s']:,} "
              f"events/s, every one acknowledged")
        results["delay"] = delay_at_rate(broker.url, redis.url, logs)
        d = results["delay"]
        print(f"event-to-Redis delay at {d['rate_per_s']} events/s over {d['events']} events: "
              f"p50 {d['p50_s'] * 1000:.0f} ms, p99 {d['p99_s'] * 1000:.0f} ms")
    finally:
        broker.stop()
        redis.stop()
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=1))
    print(f"results in {out / 'latest.json'}; logs in {logs}")


if __name__ == "__main__":
    main()
