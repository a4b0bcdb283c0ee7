"""``make bench-scale``: several workers on real parts (embedded broker, redis-server), on one multi-site log.

1. one, two and three workers draining the same log (six sites, one per partition): events/s of each worker
   and of the group;
2. failover: two workers, one killed with SIGKILL while events flow — the time from the kill to the
   survivor's first event applied on a partition it took over; one of three stopped cleanly (SIGTERM); a
   third worker added while events flow — the time from its start to its first event applied. After each,
   the report from Redis is compared with the offline replay of the whole log, and with one offline engine
   per site merged (what a clock per partition gives until the engine keeps a clock per source);
3. what the state costs in Redis (``MEMORY USAGE`` of every key of one partition, per queue, agent, contact
   and day), and the log's bytes per event (the Kafka retention a rebuild needs).

Results go to stdout and bench/results/scale.json (docs/scaling.md is written from them). A benchmark, not a
test: only a report that differs from one offline engine per site fails it.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from callwatch.offline import comparable  # noqa: E402
from console.embedded import start_redis, start_tansu  # noqa: E402
from console.replay import offline_report  # noqa: E402
from streams.readout import stored_report  # noqa: E402
from streams.redis_client import sync_client  # noqa: E402
from streams.state_store import RedisStateStore, partition_base  # noqa: E402
from tests.integration.harness import (  # noqa: E402
    Stack,
    Worker,
    interleave,
    publish,
    site_events,
    sites_on_partitions,
    wait_until_applied,
)

PARTITIONS = 6


class Progress:
    """The applied offset of every partition, polled from Redis on a thread, with the time each moved."""

    def __init__(self, stack: Stack, period_s: float = 0.02) -> None:
        self.stack = stack
        self.period_s = period_s
        #: per partition: (monotonic time, applied offset) each time it changed
        self.moves: dict[int, list[tuple[float, int]]] = {p: [] for p in range(PARTITIONS)}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    async def _run(self) -> None:
        store = RedisStateStore(self.stack.redis_url, f"cw-{self.stack.name}")
        try:
            while not self._stop.is_set():
                for p in range(PARTITIONS):
                    offset = await store.load_meta_offset(self.stack.topic, p)
                    if not self.moves[p] or self.moves[p][-1][1] != offset:
                        self.moves[p].append((time.monotonic(), offset))
                await asyncio.sleep(self.period_s)
        finally:
            await store.close()

    def start(self) -> Progress:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def applied(self, partition: int) -> int:
        moves = self.moves[partition]
        return moves[-1][1] + 1 if moves else 0

    def first_move_after(self, partition: int, t: float, offset: int) -> float | None:
        """When the partition's applied offset first went past ``offset`` after ``t``."""
        return next((at for at, off in self.moves[partition] if at >= t and off > offset), None)


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.02)


def stack_for(broker: str, redis_url: str, name: str) -> Stack:
    return Stack(broker, redis_url, f"{name}{int(time.time())}",
                 extra_env={"CALLWATCH_TOPIC_PARTITIONS": str(PARTITIONS), "CALLWATCH_SESSION_TIMEOUT_S": "6"})


def create_topic(stack: Stack) -> None:
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=stack.bootstrap)
    try:
        admin.create_topics([NewTopic(stack.topic, PARTITIONS, 1)])
    finally:
        admin.close()


def start_group(stack: Stack, n: int, logs: Path) -> list[Worker]:
    """``n`` workers launched together (they join the group's first generation together), each owning a
    partition, the partitions all owned."""
    group = [Worker(stack, logs).launch() for _ in range(n)]
    for w in group:
        w.ready(180)
    wait_for(lambda: sorted(p for w in group for p in w.partitions()) == list(range(PARTITIONS)), 120,
             "the partitions were not split")
    return group


def drain(broker: str, redis_url: str, lines: list[bytes], sizes: dict[int, int], n: int, logs: Path) -> dict[str, Any]:
    """``n`` workers drain the log, published before they start."""
    stack = stack_for(broker, redis_url, f"drain{n}-")
    create_topic(stack)
    publish(stack, lines)
    progress = Progress(stack).start()
    group = start_group(stack, n, logs)
    # measured from the moment the partitions are split, so that a worker that joined first and drained
    # alone for a while (or a rebalance's pause) does not count as the group's pace
    split = time.monotonic()
    at_split = {p: progress.applied(p) for p in range(PARTITIONS)}
    owned = {w.port: sorted(w.partitions()) for w in group}
    wait_until_applied(stack, timeout=900)
    progress.stop()
    for w in group:
        w.stop()

    def rate(parts: list[int]) -> tuple[int, float]:
        left = sum(sizes[p] - at_split[p] for p in parts)
        end = max(progress.moves[p][-1][0] for p in parts)
        return left, end - split

    left, seconds = rate(list(range(PARTITIONS)))
    per_worker = []
    for parts in owned.values():
        events, took = rate(parts)
        per_worker.append({"partitions": parts, "events": events, "seconds": round(took, 2),
                           "events_per_s": round(events / took)})
    return {"workers": n, "events": left, "seconds": round(seconds, 2), "events_per_s": round(left / seconds),
            "per_worker": per_worker}


def failover(broker: str, redis_url: str, lines: list[bytes], sizes: dict[int, int], log: Path, logs: Path,
             kind: str, per_site_reference: dict[str, Any]) -> dict[str, Any]:
    """Events flowing to a group; then ``kind``: ``kill`` (SIGKILL one of two), ``stop`` (SIGTERM one of
    three) or ``add`` (a third worker joins two). Returns the delay measured and whether the report is exact."""
    stack = stack_for(broker, redis_url, f"{kind}-")
    create_topic(stack)
    progress = Progress(stack).start()
    group = start_group(stack, 3 if kind == "stop" else 2, logs)
    sender = threading.Thread(target=publish, args=(stack, lines))
    sender.start()
    total = len(lines)
    wait_for(lambda: sum(progress.applied(p) for p in range(PARTITIONS)) > 0.3 * total, 600, "no progress")
    result: dict[str, Any] = {"scenario": kind, "workers_before": len(group)}
    if kind in ("kill", "stop"):
        victim = group[0]
        moved = sorted(victim.partitions())
        t = time.monotonic()
        assert victim.proc is not None
        if kind == "kill":
            victim.kill()
        else:
            victim.proc.send_signal(signal.SIGTERM)
            victim.proc.wait(timeout=120)
        # the victim's last writes (a transaction sent before the kill; a clean stop's final flush) are not
        # the survivors' work: offsets count from after the victim is gone and the poller has seen them
        time.sleep(0.1 + 2 * progress.period_s)
        at = {p: progress.applied(p) - 1 for p in moved}
        wait_for(lambda: any(progress.first_move_after(p, t, at[p]) for p in moved) or
                 all(progress.applied(p) >= sizes[p] for p in moved), 300, "the moved partitions were never taken over")
        firsts = [f for p in moved if (f := progress.first_move_after(p, t, at[p]))]
        # None: the moved partitions were drained before the victim was gone (nothing left to time)
        result.update({"moved_partitions": moved,
                       "to_first_event_applied_s": round(min(firsts) - t, 2) if firsts else None})
    else:
        t = time.monotonic()
        added = Worker(stack, logs).launch()
        group.append(added)
        # the old owners apply until the rebalance takes the partitions away: the added worker's work starts
        # once it owns them (its /healthz, polled every 20 ms)
        wait_for(lambda: bool(added.partitions()), 300, "the added worker never got a partition")
        owned_at = time.monotonic()
        taken = sorted(added.partitions())
        before = {p: progress.applied(p) - 1 for p in taken}
        wait_for(lambda: any(progress.first_move_after(p, owned_at, before[p]) for p in taken) or
                 all(progress.applied(p) >= sizes[p] for p in taken), 300, "the added worker applied nothing")
        firsts = [f for p in taken if (f := progress.first_move_after(p, owned_at, before[p]))]
        result.update({"added_worker_partitions": taken, "to_partitions_owned_s": round(owned_at - t, 2),
                       "to_first_event_applied_s": round(min(firsts) - t, 2) if firsts else None})
    sender.join()
    wait_until_applied(stack, timeout=900)
    progress.stop()
    for w in group:
        w.stop()
    live = stored_report(stack.settings())
    offline = comparable(offline_report(log, stack.settings()))
    result["report_equals_offline"] = live == offline
    # until the engine keeps a clock per source, the offline replay of the whole log runs one clock for
    # every site, live each partition its own: what live must equal is then one offline engine per site
    result["report_equals_offline_per_site"] = live == per_site_reference
    if live != offline:
        (logs / f"{kind}-live.json").write_text(json.dumps(live, indent=1, sort_keys=True))
        (logs / f"{kind}-offline.json").write_text(json.dumps(offline, indent=1, sort_keys=True))
        result["differs_from_whole_log_in"] = sorted(k for k in offline if live.get(k) != offline[k])
    return result


def per_site_offline(per_site: dict[str, list[bytes]], logs: Path) -> dict[str, Any]:
    """The report of one offline engine per site, merged as the read side merges partitions."""
    from callwatch.config import MonitorConfig
    from callwatch.engine import Engine
    from callwatch.engine.report import report
    from callwatch.offline import replay_log

    merged = Engine(MonitorConfig())
    for site, lines in per_site.items():
        path = logs / f"{site}.jsonl.gz"
        with gzip.open(path, "wb") as written:
            for raw in lines:
                written.write(raw + b"\n")
        merged.absorb(replay_log(path, MonitorConfig())[0])
    return report(merged)


def memory(redis_url: str, prefix: str, topic: str, partition: int) -> dict[str, Any]:
    """``MEMORY USAGE`` of each key of one partition, and the entries they hold."""
    client = sync_client(redis_url)
    base = partition_base(prefix, topic, partition)
    out: dict[str, Any] = {}
    for key in client.scan_iter(match=f"{base}:*"):
        name = key.decode().rsplit(":", 1)[1]
        usage = client.memory_usage(key, samples=0)
        entries = client.hlen(key)
        out[name] = {"bytes": usage, "entries": entries}
    client.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hours", type=float, default=2.0, help="length of each site's floor")
    parser.add_argument("--scale", type=float, default=4.0, help="traffic and staff of each site, x the demo")
    parser.add_argument("--only", choices=["drain", "kill", "stop", "add", "memory"], action="append",
                        help="run only these parts (repeatable)")
    args = parser.parse_args()
    logs = Path(tempfile.mkdtemp(prefix="callwatch-scale-"))
    sites = sites_on_partitions(PARTITIONS)
    per_site = site_events(sites, hours=args.hours, scale=args.scale)
    lines = interleave(per_site)
    sizes = {p: len(per_site[site]) for p, site in enumerate(sites)}
    log = logs / "sites.jsonl.gz"
    with gzip.open(log, "wb") as written:
        for raw in lines:
            written.write(raw + b"\n")
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count()}, "sites": len(sites), "events": len(lines),
        "bytes_per_event": round(sum(len(r) for r in lines) / len(lines), 1),
        "gzip_bytes_per_event": round(log.stat().st_size / len(lines), 1),
        "workload": f"{len(sites)} sites of the demo scenario, {args.hours:g} h, {args.scale:g}x traffic and staff",
    }
    print(f"workload: {results['workload']}: {len(lines):,} events, {results['bytes_per_event']} bytes each")
    broker = start_tansu(log_dir=logs)
    redis = start_redis(data_dir=logs)
    try:
        results["drain"] = []
        for n in (1, 2, 3) if not args.only or "drain" in args.only else ():
            run = drain(broker.url, redis.url, lines, sizes, n, logs)
            results["drain"].append(run)
            each = ", ".join(f"{w['events_per_s']:,} (partitions {w['partitions']})" for w in run["per_worker"])
            print(f"{n} worker(s): {run['events_per_s']:,} events/s together in {run['seconds']} s; each: {each}")
        results["failover"] = []
        reference = per_site_offline(per_site, logs)
        for kind in [k for k in ("kill", "stop", "add") if not args.only or k in args.only]:
            got = failover(broker.url, redis.url, lines, sizes, log, logs, kind, reference)
            results["failover"].append(got)
            print(f"{kind}: first event applied {got['to_first_event_applied_s']} s after; report = offline: "
                  f"{got['report_equals_offline']} {got.get('differs_from_whole_log_in', '')}; = one offline "
                  f"engine per site: {got['report_equals_offline_per_site']}")
        if not args.only or "memory" in args.only:
            last = stack_for(broker.url, redis.url, "memory-")
            first = Worker(last, logs).start(180)
            publish(last, lines)
            wait_until_applied(last, timeout=900)
            first.stop()
            mem = memory(redis.url, f"cw-{last.name}", last.topic, 0)
            site = per_site[sites[0]]
            results["memory_partition_0"] = {"site_events": len(site), "keys": mem,
                                             "total_bytes": sum(v["bytes"] for v in mem.values())}
            print(f"Redis, one site ({len(site):,} events): {results['memory_partition_0']['total_bytes']:,} bytes; "
                  + ", ".join(f"{k} {v['bytes']:,} B / {v['entries']:,}" for k, v in sorted(mem.items())))
    finally:
        broker.stop()
        redis.stop()
    bad = [r["scenario"] for r in results.get("failover", []) if not r["report_equals_offline_per_site"]]
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    target = out / "scale.json"
    if args.only and target.exists():  # a partial run updates the parts it ran
        results = {**json.loads(target.read_text()), **{k: v for k, v in results.items() if v}}
    target.write_text(json.dumps(results, indent=1))
    print(f"results in {target}; logs in {logs}")
    if bad:
        raise SystemExit(f"the report differs from the offline replay after: {', '.join(bad)}")


if __name__ == "__main__":
    main()
