"""Faults and hostile input on the real parts (embedded broker, redis-server, worker processes): an oversized
message, a topic created again, a hung Redis, a Redis restarted empty, and what the worker's port serves."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from alerts.messages import iso
from callwatch.eventlog import read_raw
from callwatch.offline import comparable
from console.embedded import Service, start_redis
from console.replay import offline_report
from streams.readout import stored_report
from tests.integration.harness import (
    Stack,
    Worker,
    applied_offsets,
    end_offsets,
    publish,
    read_topic,
    wait_until_applied,
)
from tests.integration.harness import workers as workers

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEMO_LOG = ROOT / "producers" / "data" / "demo-day.jsonl.gz"


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[list[Service]]:
    """A redis-server of this test's own (it is stopped, killed and restarted: not the suite's)."""
    data = tmp_path / "redis"
    data.mkdir()
    servers = [start_redis(data_dir=data)]
    yield servers
    for s in servers:
        with contextlib.suppress(ProcessLookupError):
            os.kill(s.proc.pid, signal.SIGCONT)  # a test that failed during the hang leaves it stopped
        s.stop()


def _event(kind: str, ts: float, eid: str, **fields: object) -> bytes:
    return orjson.dumps({"v": 1, "id": eid, "type": kind, "ts": iso(ts), "source": "pbx-h", **fields})


def _healthz(worker: Worker) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/healthz", timeout=2) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _status(worker: Worker, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}{path}", timeout=2) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _wait_health(worker: Worker, want: Any, timeout: float, every: float = 0.05) -> list[tuple[float, int, list[str]]]:
    """Poll /healthz until ``want(status, reasons)``; every answer seen, with its time."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        status, body = _healthz(worker)
        seen.append((time.time(), status, body["reasons"]))
        if want(status, body["reasons"]):
            return seen
        assert time.monotonic() < deadline, f"/healthz never matched; last {seen[-5:]}"
        time.sleep(every)


def _alarms(stack: Stack, expect: int | None = None, timeout: float = 30.0) -> list[tuple[dict[str, Any], int]]:
    return [(m, ts) for _, m, ts in read_topic(stack, stack.alerts_topic, expect=expect, timeout=timeout)]


def test_an_oversized_message_is_dead_lettered_and_the_stream_goes_on(
        kafka_bootstrap: str, redis_url: str, unique: str, workers: list[Worker], tmp_path: Path) -> None:
    """A 1.2 MB message and a 300-character queue name go to the dead-letter topic (too_large with an excerpt,
    its length and SHA-256; name_too_long), counted once each; the events around them are applied."""
    stack = Stack(kafka_bootstrap, redis_url, unique)
    worker = Worker(stack, tmp_path).start()
    workers.append(worker)
    lines = list(read_raw(DEMO_LOG))
    half = len(lines) // 2
    publish(stack, lines[:half])
    huge = b'{"v":1,"id":"huge","type":"call.queued","ts":"2026-11-23T09:00:00Z","call_id":"x","queue":"' + \
        b"q" * 1_200_000 + b'","source":"pbx-demo"}'
    long_name = _event("call.queued", 1795424400, "long", call_id="y", queue="q" * 300)
    big = KafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=4_000_000, acks="all")
    for raw in (huge, long_name):
        big.send(stack.topic, raw, key=b"pbx-demo").get(timeout=30)
    big.close()
    publish(stack, lines[half:])
    wait_until_applied(stack)
    dead = {d["code"]: d for _, d, _ in read_topic(stack, stack.dead_letter_topic, expect=2)}
    assert set(dead) == {"too_large", "name_too_long"}
    letter = dead["too_large"]
    assert letter["original_bytes"] == len(huge) and letter["original_sha256"] == hashlib.sha256(huge).hexdigest()
    assert letter["original_truncated"] and letter["original"] == huge[:4096].decode()
    assert letter["reason"] == f"{len(huge)} bytes, over the limit of 65536"
    assert dead["name_too_long"]["reason"].endswith("queue: 300 characters, over the limit of 200")
    text = worker.metrics()
    assert 'callwatch_dead_letters_total{partition="' in text
    counts = {line.split("reason=")[1].split('"')[1]: float(line.rsplit(" ", 1)[1])
              for line in text.splitlines() if line.startswith("callwatch_dead_letters_total{")}
    assert counts == {"too_large": 1.0, "name_too_long": 1.0}
    live = comparable(stored_report(stack.settings()))
    live["pipeline"].pop("invalid")
    clean = comparable(offline_report(DEMO_LOG, stack.settings()))
    clean["pipeline"].pop("invalid")
    assert live == clean
    assert not any("q" * 300 in json.dumps(a) for a, _ in _alarms(stack, timeout=5))


def _recreate(bootstrap: str, topic: str, partitions: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_topics([topic])
        deadline = time.monotonic() + 30
        while topic in admin.list_topics():
            assert time.monotonic() < deadline, "the topic was never deleted"
            time.sleep(0.1)
        # a consumer's metadata request may have created it first
        with contextlib.suppress(TopicAlreadyExistsError, UnknownTopicOrPartitionError):
            admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()


@pytest.mark.parametrize("while_running", [True, False], ids=["while-running", "between-runs"])
def test_a_topic_created_again_starts_the_partition_over(
        kafka_bootstrap: str, redis_url: str, unique: str, workers: list[Worker], tmp_path: Path,
        while_running: bool) -> None:
    """The events topic deleted and created again (while a worker runs, or between two runs): its new events
    are applied, not dropped as already seen; offset_regression is published and /healthz says so."""
    stack = Stack(kafka_bootstrap, redis_url, unique, extra_env={
        "CALLWATCH_TOPIC_PARTITIONS": "1", "CALLWATCH_HEALTH__OFFSET_REGRESSION_HOLD_S": "600"})
    first = Worker(stack, tmp_path).start()
    workers.append(first)
    old = [_event("call.queued", 1795424400 + i, f"old-{i}", call_id=f"o{i}", queue="sales") for i in range(40)]
    publish(stack, old)
    wait_until_applied(stack)
    assert applied_offsets(stack) == {0: 39}
    if not while_running:
        first.stop()
    _recreate(kafka_bootstrap, stack.topic, 1)
    if not while_running:
        workers.append(Worker(stack, tmp_path).start())
    new = [_event("call.queued", 1795425000 + i, f"new-{i}", call_id=f"n{i}", queue="sales") for i in range(5)]
    publish(stack, new)
    deadline = time.monotonic() + 90
    while applied_offsets(stack).get(0) != 4:
        assert time.monotonic() < deadline, f"the new events were never applied: {applied_offsets(stack)}"
        time.sleep(0.2)
    assert stored_report(stack.settings())["queues"]["sales"]["total"]["offered"] == 45
    status, body = _healthz(workers[-1])
    assert status == 503 and body["reasons"] == ["offset_regression"]
    assert f"{stack.topic}:0" in body["conditions"][0]["subject"]
    regression = [a for a, _ in _alarms(stack) if a["alarm"] == "offset_regression"]
    assert [(a["status"], a["queue"], a["subject_kind"]) for a in regression] == \
        [("started", f"{stack.topic}:0", "pipeline")]
    assert regression[0]["threshold"] == 39.0 and "created again" in regression[0]["summary"]


def test_a_hung_redis_delays_no_alarm_and_healthz_says_so(
        kafka_bootstrap: str, unique: str, workers: list[Worker], tmp_path: Path, own_redis: list[Service]) -> None:
    """Redis stopped by SIGSTOP: a caller crossing the wait window during the hang is paged within a second of
    the crossing (wall clock), though an event waits behind the stalled write; /healthz is 503 redis_hung
    during the hang and 200 after, with redis_hung started and resolved; nothing is lost."""
    redis = own_redis[0]
    window = 6.0  # room for the hang to be seen before the crossing on a busy machine
    stack = Stack(kafka_bootstrap, redis.url, unique, clock="wall", extra_env={
        "CALLWATCH_MONITOR__DEFAULTS__WAIT_WINDOW_S": str(window), "CALLWATCH_HEALTH__REDIS_HUNG_AFTER_S": "0.5",
        "CALLWATCH_REDIS_TIMEOUT_S": "2", "CALLWATCH_WORKER_NAME": f"w-{unique}"})
    worker = Worker(stack, tmp_path).start()
    workers.append(worker)
    queued_at = time.time()
    publish(stack, [_event("call.queued", queued_at, f"q-{unique}", call_id="c1", queue="sales")])
    wait_until_applied(stack)
    os.kill(redis.proc.pid, signal.SIGSTOP)
    try:
        publish(stack, [_event("source.heartbeat", time.time(), f"h-{unique}")])  # stalls behind the write
        hung = _wait_health(worker, lambda status, reasons: status == 503 and "redis_hung" in reasons, 5)
        time.sleep(max(0.0, queued_at + window + 2.0 - time.time()))  # the crossing falls in the hang
        during = _healthz(worker)
    finally:
        os.kill(redis.proc.pid, signal.SIGCONT)
    resumed_at = time.time()
    after = _wait_health(worker, lambda status, reasons: status == 200, 15)
    publish(stack, [_event("call.answered", time.time(), f"a-{unique}", call_id="c1", queue="sales", agent="ann")])
    wait_until_applied(stack)
    assert during[0] == 503 and "redis_hung" in during[1]["reasons"]
    assert hung[-1][0] < queued_at + window  # degraded before the crossing, while the write hangs
    assert after[-1][0] - resumed_at < 10
    alarms = _alarms(stack, expect=4)
    wait = [(a, ts) for a, ts in alarms if a["alarm"] == "wait_window_exceeded"]
    assert [a["status"] for a, _ in wait] == ["started", "resolved"]
    delay = wait[0][1] / 1000 - (queued_at + window)
    assert 0 <= delay < 1.0, f"the wait alarm came {delay:.2f} s after the crossing"
    assert wait[0][1] / 1000 < resumed_at  # published while Redis was still stopped
    health = [(a["alarm"], a["status"], a["queue"]) for a, _ in alarms if a["subject_kind"] == "pipeline"]
    assert health == [("redis_hung", "started", f"w-{unique}"), ("redis_hung", "resolved", f"w-{unique}")]
    assert applied_offsets(stack) == {p: e - 1 for p, e in end_offsets(stack, stack.topic).items() if e}


def test_a_redis_restarted_empty_is_noticed_and_refilled(
        kafka_bootstrap: str, unique: str, workers: list[Worker], tmp_path: Path, own_redis: list[Service]) -> None:
    """Redis killed and started again without persistence: /healthz says redis_state_lost (503) with its alarm,
    the worker writes its state again from memory, and the stored figures are then exactly the offline ones."""
    redis = own_redis[0]
    stack = Stack(kafka_bootstrap, redis.url, unique, extra_env={"CALLWATCH_WORKER_NAME": f"w-{unique}"})
    worker = Worker(stack, tmp_path).start()
    workers.append(worker)
    publish(stack, read_raw(DEMO_LOG))
    wait_until_applied(stack)
    redis.proc.kill()
    redis.proc.wait()
    own_redis[0] = start_redis(port=redis.port, data_dir=tmp_path / "redis")
    seen = _wait_health(worker, lambda status, reasons: "redis_state_lost" in reasons, 15)
    assert seen[-1][1] == 503
    _wait_health(worker, lambda status, reasons: status == 200, 15)
    assert comparable(stored_report(stack.settings())) == comparable(offline_report(DEMO_LOG, stack.settings()))
    lost = [(a["status"], a["queue"]) for a, _ in _alarms(stack) if a["alarm"] == "redis_state_lost"]
    assert lost == [("started", f"w-{unique}"), ("resolved", f"w-{unique}")]


def test_the_worker_port_serves_metrics_and_health_only_and_one_partition_is_one(
        kafka_bootstrap: str, redis_url: str, unique: str, workers: list[Worker], tmp_path: Path) -> None:
    """CALLWATCH_TOPIC_PARTITIONS=1 creates the events topic with one partition; Faust's /router, /table,
    /graph and statistics pages are not served beside /metrics and /healthz."""
    stack = Stack(kafka_bootstrap, redis_url, unique, extra_env={"CALLWATCH_TOPIC_PARTITIONS": "1"})
    worker = Worker(stack, tmp_path).start()
    workers.append(worker)
    assert set(end_offsets(stack, stack.topic)) == {0}
    assert {p: _status(worker, p) for p in ("/router/", "/table/", "/graph/", "/assignment/", "/stats/")} == \
        dict.fromkeys(("/router/", "/table/", "/graph/", "/assignment/", "/stats/"), 404)
    assert _status(worker, "/metrics") == 200
    assert _healthz(worker) == (200, {"ok": True, "worker": _healthz(worker)[1]["worker"], "reasons": [],
                                      "conditions": [], "partitions": [0]})
