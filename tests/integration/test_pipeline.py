"""The whole pipeline on real parts: Kafka protocol broker, Faust worker processes, Redis."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest

from callwatch.eventlog import read_raw, write_events
from callwatch.offline import comparable
from console.replay import offline_report
from producers.simulator import demo_events
from streams.readout import stored_report
from tests.integration.harness import Stack, Worker, publish, read_topic, wait_until_applied

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEMO_LOG = ROOT / "producers" / "data" / "demo-day.jsonl.gz"


@pytest.fixture
def stack(kafka_bootstrap: str, redis_url: str, unique: str) -> Stack:
    return Stack(kafka_bootstrap, redis_url, unique)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for w in started:
        w.stop()


def _offline(stack: Stack, path: Path) -> dict:
    return offline_report(path, stack.settings())


def test_live_run_equals_offline_replay(stack: Stack, workers: list[Worker], tmp_path: Path) -> None:
    """The example day through Kafka, Faust and Redis gives exactly the offline figures and alarms."""
    workers.append(Worker(stack, tmp_path).start())
    publish(stack, read_raw(DEMO_LOG))
    wait_until_applied(stack)
    offline = _offline(stack, DEMO_LOG)
    assert comparable(stored_report(stack.settings())) == comparable(offline)
    alarms = read_topic(stack, stack.alerts_topic, expect=len(offline["alarms"]))
    assert sorted(a["id"] for _, a, _ in alarms) == sorted(a["id"] for a in offline["alarms"])
    assert any(a["status"] == "started" and a["queue"] == "billing" for _, a, _ in alarms)
    assert {a["alarm"] for _, a, _ in alarms} >= {"wait_window_exceeded", "abandonment_high", "service_level_low"}
    # the alarm (v2) names the incident (key), the values with their units and the context
    first = next(a for _, a, _ in alarms if a["status"] == "started" and a["alarm"] == "wait_window_exceeded")
    assert first["key"] == "wait_window_exceeded:billing@pbx-demo" and first["v"] == 2 and first["site"] == "pbx-demo"
    assert (first["threshold"], first["threshold_unit"], first["unit"]) == (180.0, "seconds", "seconds")
    assert set(first) >= {"waiting", "over_window", "agents_available", "service_level"} and "link" not in first
    assert first in offline["alarms"]  # the worker publishes exactly what the offline report holds


def test_sigkill_mid_replay_loses_nothing_and_counts_nothing_twice(
        stack: Stack, workers: list[Worker], tmp_path: Path, artifacts: Path) -> None:
    """A worker killed with SIGKILL in the middle of a 20,000-event replay ends with the exact figures."""
    log = tmp_path / "big.jsonl.gz"
    n = write_events(log, demo_events(datetime(2026, 11, 23, 7, 0, tzinfo=timezone.utc), seed=11, hours=4,
                                      scale=5))
    assert n >= 20_000
    first = Worker(stack, tmp_path).start()
    workers.append(first)
    publish(stack, read_raw(log))
    from tests.integration.harness import applied_offsets

    deadline = time.monotonic() + 120
    while sum(o + 1 for o in applied_offsets(stack).values()) < n * 0.3:
        assert time.monotonic() < deadline, "the worker made no progress"
        time.sleep(0.05)
    first.kill()
    done_before = sum(o + 1 for o in applied_offsets(stack).values())
    assert done_before < n, "the kill came too late to interrupt anything"
    workers.append(Worker(stack, tmp_path).start())
    wait_until_applied(stack, timeout=300)
    offline = _offline(stack, log)
    live = comparable(stored_report(stack.settings()))
    assert live["log"]["events"] == n
    assert live == comparable(offline)
    (artifacts / "sigkill.json").write_text(orjson.dumps(
        {"events": n, "applied_before_kill": done_before, "events_after_restart": live["log"]["events"]}).decode())


def _malformed(rng: random.Random, i: int) -> bytes:
    good = {"v": 1, "id": f"bad-{i}", "type": "call.queued", "ts": "2026-11-23T09:00:00Z", "call_id": "x",
            "queue": "billing", "source": "pbx-demo"}
    kind = i % 8
    if kind == 0:
        return b"{truncated json"
    if kind == 1:
        return bytes(rng.randrange(256) for _ in range(20)).replace(b"\n", b" ")
    if kind == 2:
        return orjson.dumps({**good, "v": 2})
    if kind == 3:
        return orjson.dumps({**good, "type": "call.exploded"})
    if kind == 4:
        return orjson.dumps({k: v for k, v in good.items() if k != "call_id"})
    if kind == 5:
        return orjson.dumps({**good, "ts": "not a time"})
    if kind == 6:
        return orjson.dumps([good])
    return orjson.dumps({**good, "priority": 99})


def test_malformed_events_go_to_the_dead_letter_topic(stack: Stack, workers: list[Worker], tmp_path: Path) -> None:
    """1,000 malformed events mixed in all land in the dead-letter topic with reasons; figures unchanged."""
    rng = random.Random(5)
    lines = list(read_raw(DEMO_LOG))
    mixed = list(lines)
    for i in range(1000):
        mixed.insert(rng.randrange(len(mixed) + 1), _malformed(rng, i))
    workers.append(Worker(stack, tmp_path).start())
    publish(stack, mixed)
    wait_until_applied(stack)
    dead = read_topic(stack, stack.dead_letter_topic, expect=1000)
    assert len({k for k, _, _ in dead}) == 1000
    assert all(d["reason"] and d["code"] and d["original"] is not None for _, d, _ in dead)
    codes = {d["code"] for _, d, _ in dead}
    assert codes >= {"not_json", "bad_version", "unknown_type", "missing_field", "bad_timestamp", "not_object",
                     "invalid_field"}
    live = comparable(stored_report(stack.settings()))
    invalid = live["pipeline"].pop("invalid")
    assert sum(invalid.values()) == 1000
    clean = comparable(_offline(stack, DEMO_LOG))
    clean["pipeline"].pop("invalid")
    assert live == clean
