"""callwatch on a real three-master Redis Cluster (Debian's ``redis-server``, started here): each partition's keys
on one slot so that its batch write stays one transaction, the partitions spread over the masters, and the worker
and every reader (report, stats, the page server, state info, health, the dispatcher's ids, goals, silences)
working through ``redis+cluster://``."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

from alerts.dispatcher_app import RedisDeliveredIds, silences_loader
from alerts.silences import RedisSilences, new_silence
from callwatch.config import MonitorConfig
from callwatch.engine import Sites
from callwatch.engine.report import report
from callwatch.eventlog import read_raw
from callwatch.goals import new_goal
from callwatch.offline import comparable
from console.embedded import free_port, stop_process, wait_for_port
from console.replay import offline_report
from streams.goal_store import RedisGoals
from streams.partition import PartitionRunner
from streams.readout import live_figures, stored_report
from streams.redis_client import RedisUrlError, async_client, cluster_url, sync_client
from streams.state_rebuild import partition_rows
from streams.state_store import RedisStateStore, partition_base
from tests.integration.harness import (
    RedisClusterNodes,
    Stack,
    Worker,
    applied_offsets,
    publish,
    start_redis_cluster,
    wait_until_applied,
)
from tests.integration.harness import workers as workers

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEMO_LOG = ROOT / "producers" / "data" / "demo-day.jsonl.gz"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterNodes]:
    nodes = start_redis_cluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        yield nodes
    finally:
        nodes.stop()


def test_cluster_urls_are_told_apart() -> None:
    """``redis+cluster://`` names a cluster (redis-py's client gets ``redis://``); a database number is refused."""
    assert cluster_url("redis+cluster://:pw@10.0.0.1:7000") == "redis://:pw@10.0.0.1:7000"
    assert cluster_url("rediss+cluster://h:7000/0") == "rediss://h:7000/0"
    assert cluster_url("redis://h:6379/0") is None
    with pytest.raises(RedisUrlError, match="only database 0"):
        cluster_url("redis+cluster://h:7000/3")


def test_partitions_stay_on_one_slot_spread_over_masters_and_resume_exactly(cluster: RedisClusterNodes,
                                                                           unique: str) -> None:
    """Four partitions written batch by batch: each one's keys share a slot (its MULTI/EXEC works), they land on
    every master, a reopened partition resumes exactly, and info, formats, snapshots and delete work."""
    events = list(read_raw(DEMO_LOG))[:1200]
    prefix = f"cl-{unique}"

    async def go() -> tuple[dict[int, Any], list[dict[str, Any]], list[int], dict[int, bytes], int, list[int]]:
        store = RedisStateStore(cluster.url, prefix)
        try:
            reports = {}
            for p in range(4):
                runner = await PartitionRunner.open(store, "t", p, MonitorConfig())
                records = list(enumerate(events))
                for i in range(0, len(records) // 2, 300):
                    runner.process(records[i:i + 300], None)
                    await runner.commit(store)
                again = await PartitionRunner.open(store, "t", p, MonitorConfig())
                again.process(records[len(records) // 2 - 100:], None)  # a redelivered overlap is skipped
                await again.commit(store)
                reports[p] = report((await PartitionRunner.open(store, "t", p, MonitorConfig())).engine)
                await store.write_snapshot("t", p, orjson.dumps({"p": p}))
            infos = [await store.inspect("t", p) for p in range(4)]
            formats = await store.stored_formats("t")
            snaps = await store.snapshots("t")
            deleted = await store.delete("t", 3)
            return reports, infos, sorted(formats), snaps, deleted, await store.partitions("t")
        finally:
            await store.close()

    reports, infos, formats, snaps, deleted, left = asyncio.run(go())
    whole = Sites(MonitorConfig())
    runner = PartitionRunner("t", 0, whole)
    runner.process(list(enumerate(events)), None)
    assert all(r == report(whole) for r in reports.values())
    assert formats == list(range(4)) and snaps == {p: orjson.dumps({"p": p}) for p in range(4)}
    assert all(info["offset"] == len(events) - 1 and info["entries"]["legs"] > 0 for info in infos)
    assert deleted >= 3 and left == list(range(3))
    client = redis.RedisCluster.from_url(cluster_url(cluster.url) or "")
    try:
        masters = set()
        for p in range(3):
            keys = [k for k in client.scan_iter(match=f"{partition_base(prefix, 't', p)}:*")]
            assert len(keys) > 3
            slots = {client.keyslot(k) for k in keys}  # type: ignore[no-untyped-call]
            assert len(slots) == 1, (p, keys)
            masters.add(client.get_node_from_key(keys[0]).port)  # type: ignore[no-untyped-call]
        assert len(masters) == 3, "partitions 0-2 hash to the three masters' slot ranges"
    finally:
        client.close()


def test_worker_and_every_reader_work_on_a_cluster(cluster: RedisClusterNodes, kafka_bootstrap: str, unique: str,
                                                   workers: list[Worker], tmp_path: Path) -> None:
    """A worker writes the example day to the cluster: `report` equals the offline replay, `stats`, the page
    server, `state info` and /healthz read it, and the dispatcher's ids, goals and silences live there too."""
    stack = Stack(kafka_bootstrap, cluster.url, unique)
    worker = Worker(stack, tmp_path).start()
    workers.append(worker)
    publish(stack, read_raw(DEMO_LOG))
    wait_until_applied(stack)
    settings = stack.settings()
    assert comparable(stored_report(settings)) == comparable(offline_report(DEMO_LOG, settings))
    # the health probe's marker key and offsets, on the cluster (polled: a busy machine may show a slow write)
    deadline = time.monotonic() + 30
    while not _healthy(worker):
        assert time.monotonic() < deadline, (tmp_path / f"worker-{worker.port}.log").read_text()[-3000:]
        time.sleep(0.5)
    env = stack.env(worker.port)
    assert set(live_figures(settings)["queues"]) == {"billing", "support"}
    rows = asyncio.run(partition_rows(settings))  # `callwatch state info` (and a rebuild's plan)
    assert sorted(row["partition"] for row in rows) == sorted(p for p, off in applied_offsets(stack).items()
                                                              if off >= 0)
    assert all(row["readable"] and row["entries"] > 0 for row in rows)
    port = free_port()
    page = subprocess.Popen([sys.executable, "-m", "console", "wallboard", "--port", str(port)], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc=page)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/figures", timeout=30) as r:
            assert set(json.loads(r.read())["queues"]) == {"billing", "support"}
    finally:
        stop_process(page)

    async def dispatcher_state() -> tuple[bool, bool, int]:
        client = async_client(cluster.url, 5.0)
        try:
            ids = RedisDeliveredIds(client, settings.redis_prefix)
            await ids.mark("hook", "a:1:started")
            await ids.mark("hook", "b:2:started")
            fresh = RedisDeliveredIds(client, settings.redis_prefix)  # a restarted dispatcher
            return (await fresh.seen("hook", "a:1:started"), await fresh.seen("hook", "c:3:started"),
                    len(await silences_loader(client, settings.redis_prefix)()))
        finally:
            await client.aclose()

    silences = RedisSilences(sync_client(cluster.url), settings.redis_prefix)
    silences.add(new_silence(queue="billing", alarm=None, duration_s=600, reason="maintenance", created_by="t",
                             now=1795424400.0))
    assert asyncio.run(dispatcher_state()) == (True, False, 1)
    goals = RedisGoals.from_url(cluster.url, settings.redis_prefix)
    goals.put(new_goal("agent-1", "csat_mean", 4.0, "2026-12-31", "", "t", "2026-12-01"))
    assert [g.agent for g in goals.all()] == ["agent-1"]


def _healthy(worker: Worker) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/healthz", timeout=5) as r:
            return bool(json.loads(r.read())["ok"])
    except OSError:  # 503 (an HTTPError) while a condition is on
        return False
