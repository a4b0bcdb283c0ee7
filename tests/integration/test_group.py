"""Several workers in one consumer group on real parts (the embedded broker, or Kafka with ``KAFKA_BOOTSTRAP``;
redis-server; a real Prometheus scraping every worker; the alert dispatcher and a webhook).

One scenario here, the one ``make test`` can afford: four sites (one per partition), two workers, one killed
with SIGKILL while events flow. The longer ones (three workers, one stopped cleanly, one added) are in
``make bench-scale`` (bench/scale_bench.py).
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from console.embedded import free_port, stop_process
from console.replay import offline_report
from streams.readout import live_figures, stored_report
from tests.integration.harness import (
    ROOT,
    HookServer,
    Stack,
    Worker,
    applied_offsets,
    interleave,
    prom_query,
    publish,
    site_events,
    sites_on_partitions,
    start_prometheus,
    wait_for_scrapes,
    wait_until_applied,
)
from tests.integration.harness import workers as workers

pytestmark = pytest.mark.integration

PARTITIONS = 4


def _write(path: Path, lines: list[bytes]) -> Path:
    with gzip.open(path, "wb") as out:
        for raw in lines:
            out.write(raw + b"\n")
    return path


def _values(port: int, expr: str, label: str) -> dict[str, float]:
    return {r["metric"].get(label, ""): float(r["value"][1]) for r in prom_query(port, expr)}


def test_two_workers_one_killed_mid_stream_lose_nothing_and_add_up(
        kafka_bootstrap: str, redis_url: str, unique: str, workers: list[Worker], tmp_path: Path) -> None:
    """Two workers share four sites; one is SIGKILLed while events flow. The survivor takes its partitions: the
    report equals the offline replay, every alarm reaches the receiver exactly once, and Prometheus, scraping
    both, sees each partition's and each queue's series once, adding up to what Redis holds."""
    sites = sites_on_partitions(PARTITIONS)
    per_site = site_events(sites, hours=2.0)
    log = _write(tmp_path / "sites.jsonl.gz", interleave(per_site))
    n = sum(len(v) for v in per_site.values())
    stack = Stack(kafka_bootstrap, redis_url, unique, extra_env={"CALLWATCH_TOPIC_PARTITIONS": str(PARTITIONS)})
    settings = stack.settings()
    # the alarms a worker of one site raises are those of the site's log alone (a clock per partition)
    expected_alarms = sorted(a["id"] for site, lines in per_site.items()
                             for a in offline_report(_write(tmp_path / f"{site}.jsonl.gz", lines), settings)["alarms"])
    assert expected_alarms

    hook = HookServer().start()
    config = tmp_path / "delivery.yaml"
    config.write_text(json.dumps({"receivers": [{"kind": "webhook", "name": "hook",
                                                 "url": f"http://127.0.0.1:{hook.port}/"}],
                                  "routes": [{"receivers": ["hook"]}]}))
    with open(tmp_path / "dispatcher.log", "wb") as out:
        dispatcher = subprocess.Popen([sys.executable, "-m", "console", "alerts", "run", "--config", str(config)],
                                      cwd=ROOT, env=stack.env(free_port()), stdout=out, stderr=subprocess.STDOUT)
    prom = None
    try:
        # launched together, they join the group's first generation together and split the partitions
        pair = [Worker(stack, tmp_path).launch(), Worker(stack, tmp_path).launch()]
        workers.extend(pair)
        for w in pair:
            w.ready()
        deadline = time.monotonic() + 60
        while sorted(pair[0].partitions() + pair[1].partitions()) != list(range(PARTITIONS)) \
                or not all(w.partitions() for w in pair):
            assert time.monotonic() < deadline, [w.partitions() for w in pair]
            time.sleep(0.2)
        prom, prom_port = start_prometheus(tmp_path, {"callwatch": [w.port for w in pair]})

        # paced (two hours of the log in about six seconds), so that the kill below lands mid-stream
        # however fast the workers are: unpaced, a fast worker could apply its partitions' last 70 % in
        # the moment between the poll and the kill
        sender = threading.Thread(target=lambda: publish(stack, _lines(log), speed=1200.0))
        sender.start()
        victim, survivor = pair
        owned = victim.partitions()
        deadline = time.monotonic() + 120
        while sum(applied_offsets(stack).get(p, -1) + 1 for p in owned) < 0.3 * sum(
                len(per_site[sites[p]]) for p in owned):
            assert time.monotonic() < deadline, "the workers made no progress"
            time.sleep(0.05)
        victim.kill()
        at_kill = applied_offsets(stack)
        sender.join(timeout=120)
        assert any(at_kill.get(p, -1) + 1 < len(per_site[sites[p]]) for p in owned), "killed too late"
        wait_until_applied(stack, timeout=180)
        assert sorted(survivor.partitions()) == list(range(PARTITIONS))

        # the figures and the kept alarms: one report over every partition, equal to the offline replay of
        # the whole log (each site has its own clock, so the partitioning changes nothing)
        live = stored_report(settings)
        assert live["log"]["events"] == n
        live["alarms"] = [a.model_dump(mode="json") for a in live["alarms"]]  # as `callwatch report` prints
        assert live == offline_report(log, settings)

        # the alarms: each raised once or, replayed after the kill, again with the same id; delivered once
        deadline = time.monotonic() + 60
        while sorted({m["id"] for _, m in hook.got}) != expected_alarms:
            assert time.monotonic() < deadline, (len(hook.got), len(expected_alarms))
            time.sleep(0.2)
        time.sleep(1.0)  # a second copy the dispatcher let through would arrive by now
        delivered = [m["id"] for _, m in hook.got]
        assert sorted(delivered) == expected_alarms, "an alarm delivered twice"

        # /metrics over all workers, as Prometheus sees it: the dead worker's series are gone, the survivor
        # exports each partition and each queue once, and the panels' aggregations give what Redis holds
        wait_for_scrapes(prom_port, f'up{{instance="127.0.0.1:{victim.port}"}} == 0', timeout=30)
        wait_for_scrapes(prom_port, f'count(callwatch_events_total) == {PARTITIONS}', timeout=30)
        per_partition = _values(prom_port, "count by (partition) (callwatch_events_total)", "partition")
        assert per_partition == {str(p): 1.0 for p in range(PARTITIONS)}
        applied_total = _values(prom_port, "sum(callwatch_events_total)", "")[""]
        assert applied_total == n - live["pipeline"]["duplicates"]
        time.sleep(2.5)  # the survivor's snapshots (every second) and a scrape of the final state
        stats = live_figures(settings)["queues"]
        assert set(_values(prom_port, "count by (queue) (callwatch_queue_waiting_contacts)", "queue").values()) \
            == {1.0}
        assert _values(prom_port, "sum by (queue) (callwatch_queue_waiting_contacts)", "queue") == \
            {q: float(v["waiting"]) for q, v in stats.items()}
        assert _values(prom_port, "max by (queue) (callwatch_queue_oldest_wait_seconds)", "queue") == \
            {q: float(v["oldest_wait"]) for q, v in stats.items()}
        offered = _values(prom_port, 'sum(callwatch_window_offered_contacts{channel="all", window="today"})', "")
        assert offered[""] == sum(v["windows"]["today"]["offered"] for v in stats.values())
        assert _values(prom_port, "sum(callwatch_partitions_assigned)", "")[""] == PARTITIONS
    finally:
        if prom is not None:
            stop_process(prom)
        stop_process(dispatcher, timeout=20)
        hook.stop()


def _lines(log: Path) -> list[bytes]:
    with gzip.open(log, "rb") as f:
        return f.read().splitlines()
