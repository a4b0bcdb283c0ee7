"""The live driver under faults, with real fakes (a store that hangs or refuses, a broker that refuses): dead
letters always fit and count once written, alarms never wait for Redis, offsets that go backwards start the
partition over, and the health conditions say why, each with its alarm."""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import orjson
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from callwatch.alarm import Alarm
from callwatch.engine import Sites
from callwatch.engine.report import report
from callwatch.settings import Settings
from streams.monitor import MonitorService, RecordingPublisher
from streams.partition import DeadLetter
from streams.state_store import Changes, MemoryStateStore, StoredPartition
from tests.unit.helpers import BASE_TS, at, metric_samples

TOPIC = "callwatch-events"


def _ev(kind: str, t: float, eid: str, **fields: Any) -> bytes:
    return orjson.dumps({"v": 1, "id": eid, "type": kind, "ts": at(t), "source": "pbx", **fields})


class Wall:
    """A wall clock the test moves."""

    def __init__(self, t: float = BASE_TS) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class GatedStore(MemoryStateStore):
    """A memory store that can hang (every call waits until released) or refuse (every call raises)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.refuse = False

    async def _pass(self) -> None:
        if self.refuse:
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
        await self.gate.wait()

    async def commit(self, topic: str, partition: int, changes: Changes, meta: dict[str, Any], offset: int) -> None:
        await self._pass()
        await super().commit(topic, partition, changes, meta, offset)

    async def replace(self, topic: str, partition: int, state: StoredPartition) -> None:
        await self._pass()
        await super().replace(topic, partition, state)

    async def mark_alive(self, worker: str, boot: str, create: bool) -> bool:
        await self._pass()
        return await super().mark_alive(worker, boot, create)

    async def load_meta_offset(self, topic: str, partition: int) -> int:
        await self._pass()
        return await super().load_meta_offset(topic, partition)


class RefusingPublisher(RecordingPublisher):
    """A broker that refuses the first ``failures`` sends of dead letters (a message too large, a leader gone)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.attempts = 0

    async def dead_letters(self, items: list[DeadLetter]) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise RuntimeError("MessageSizeTooLargeError: the message is 1200212 bytes")
        await super().dead_letters(items)


def _settings(**health: float) -> Settings:
    return Settings(clock="wall", worker_name="w1", monitor={"defaults": {"wait_window_s": 2.0}},
                    health={"redis_hung_after_s": 0.2, "consumer_stuck_after_s": 30.0, **health})


def _alarms(publisher: RecordingPublisher) -> list[tuple[str, str, str]]:
    return [(a.alarm, a.status, a.queue) for a in publisher.alarm_events]


# ------------------------------------------------------------- dead letters


def test_a_dead_letter_always_fits() -> None:
    """A 1.2 MB input's dead letter holds the first 4 KiB, its whole length and SHA-256: a few KB however big
    the input; an excerpt cut through a character is trimmed to text, and bytes that are no text are base64."""
    raw = b'{"queue": "' + "é".encode() * 600_000 + b'"}'
    letter = orjson.loads(DeadLetter(raw, "1200013 bytes, over the limit of 65536", "too_large", TOPIC, 0, 7).encode())
    assert letter["original_bytes"] == len(raw) and letter["original_truncated"] is True
    assert letter["original_sha256"] == hashlib.sha256(raw).hexdigest()
    assert letter["original_encoding"] == "utf-8" and letter["original"].startswith('{"queue": "éé')
    assert 4090 <= len(letter["original"].encode()) <= 4096
    assert len(DeadLetter(raw, "x", "too_large", TOPIC, 0, 7).encode()) < 6000
    binary = DeadLetter(b"\xff\xfe" * 10, "not JSON", "not_json", TOPIC, 0, 8).encode(original_bytes=6)
    assert orjson.loads(binary)["original"] == "//7//v/+" and orjson.loads(binary)["original_encoding"] == "base64"


def test_a_dead_letter_counts_only_once_the_broker_has_it() -> None:
    """A broker that refuses the dead letter twice gets it a third time; until then nothing of the batch is
    written to the store, so the dead-letter counter never says written what was not."""
    too_big = b'{"v":1,"pad":"' + b"x" * 1_200_000 + b'"}'
    records = [(0, too_big), (1, _ev("source.heartbeat", 0, "h1"))]

    async def go() -> tuple[RefusingPublisher, MemoryStateStore, int]:
        store = MemoryStateStore()
        publisher = RefusingPublisher(failures=2)
        svc = MonitorService(_settings(), store, publisher, wall=Wall(BASE_TS + 1))
        task = asyncio.create_task(svc.handle({0: records}))
        await asyncio.sleep(0.05)  # the first refusal: retried after 0.1 s
        commits_while_refused = store.commits
        await asyncio.wait_for(task, 5)
        return publisher, store, commits_while_refused

    publisher, store, commits_while_refused = asyncio.run(go())
    assert commits_while_refused == 0
    assert publisher.attempts == 3 and [(d.code, d.offset) for d in publisher.dead] == [("too_large", 0)]
    stored = store.parts[(TOPIC, 0)]
    assert stored.offset == 1 and stored.meta is not None
    assert stored.meta["counters"]["invalid:too_large"] == 1


# ----------------------------------------------------- alarms and a hung Redis


def test_the_timer_pages_on_time_while_redis_hangs() -> None:
    """With Redis hung, a batch's write waits (and the stream with it), but the timer raises the wait alarm at
    the crossing from what was applied, though a message waits behind the write; the write lands afterwards."""
    wall = Wall(BASE_TS)

    async def go() -> tuple[RecordingPublisher, GatedStore, list[tuple[str, str, str]], bool]:
        store = GatedStore()
        svc = MonitorService(_settings(), store, publisher := RecordingPublisher(), wall=wall)
        svc.behind = lambda partition, offset: 0
        await svc.handle({0: [(0, _ev("call.queued", 0, "q1", call_id="c1", queue="sales"))]})
        store.gate.clear()  # Redis stops answering
        wall.t = BASE_TS + 1
        stalled = asyncio.create_task(svc.handle({0: [(1, _ev("source.heartbeat", 1, "h1"))]}))
        await asyncio.sleep(0.05)
        svc.behind = lambda partition, offset: 1  # the stream waits: a message is in flight behind the write
        wall.t = BASE_TS + 2.3
        await asyncio.wait_for(svc.tick(), 1.0)  # the timer does not wait for Redis
        during = _alarms(publisher)
        still_waiting = not stalled.done()
        store.gate.set()
        await asyncio.wait_for(stalled, 5)
        await asyncio.sleep(0.3)  # the timer's own write, in the background
        return publisher, store, during, still_waiting

    _, store, during, still_waiting = asyncio.run(go())
    assert during == [("wait_window_exceeded", "started", "sales")] and still_waiting
    assert store.parts[(TOPIC, 0)].offset == 1
    # the alarm's state reached Redis after all (keyed by its site, then its queue)
    assert '["pbx","sales"]' in store.parts[(TOPIC, 0)].containers["alarms"]


def test_redis_hung_and_unreachable_are_reported_and_clear() -> None:
    """A probe write not answered within redis_hung_after_s makes /healthz say redis_hung; a refused connection
    redis_unreachable; each with its alarm, resolved once Redis answers, and its gauge on /metrics."""
    wall = Wall(BASE_TS)

    async def go() -> tuple[list[dict[str, Any]], RecordingPublisher, list[float]]:
        store = GatedStore()
        svc = MonitorService(_settings(), store, publisher := RecordingPublisher(), wall=wall)
        reports = []
        gauge = []
        for state in ("ok", "hung", "ok", "refused", "ok"):
            store.gate.clear() if state == "hung" else store.gate.set()
            store.refuse = state == "refused"
            wall.t += 1
            started = time.monotonic()
            await svc.probe.check()
            await svc.publish_health()
            assert time.monotonic() - started < 1.0  # bounded by the hung time, not by Redis
            reports.append(svc.health.report())
            gauge.append(metric_samples(svc)[("callwatch_worker_condition", (("reason", "redis_hung"),))])
        return reports, publisher, gauge

    reports, publisher, gauge = asyncio.run(go())
    assert [r["reasons"] for r in reports] == [[], ["redis_hung"], [], ["redis_unreachable"], []]
    assert gauge == [0.0, 1.0, 0.0, 0.0, 0.0]
    assert "not been answered for 1.0 s" in reports[1]["conditions"][0]["detail"]
    assert _alarms(publisher) == [("redis_hung", "started", "w1"), ("redis_hung", "resolved", "w1"),
                                  ("redis_unreachable", "started", "w1"), ("redis_unreachable", "resolved", "w1")]
    first = publisher.alarm_events[0]
    assert (first.subject_kind, first.severity, first.unit, first.threshold) == ("pipeline", "critical", "seconds", 0.2)


def test_a_redis_that_lost_its_data_is_noticed_and_written_again_from_memory() -> None:
    """A Redis restarted empty (no persistence): the worker's marker is gone, /healthz says redis_state_lost
    with its alarm, the worker writes its partitions' whole state again, and the stored state then restores
    to the same figures."""
    lines = [_ev("call.queued", i, f"q{i}", call_id=f"c{i}", queue="sales", customer=f"cust-{i % 3}")
             for i in range(20)]
    lines += [_ev("call.answered", 30 + i, f"a{i}", call_id=f"c{i}", queue="sales", agent="ag") for i in range(10)]

    async def go() -> tuple[list[list[str]], RecordingPublisher, MemoryStateStore, Sites]:
        store = MemoryStateStore()
        svc = MonitorService(_settings(), store, publisher := RecordingPublisher(), wall=Wall(BASE_TS + 60))
        await svc.handle({0: list(enumerate(lines[:20]))})
        await svc.probe.check()
        store.lose_everything()
        await svc.handle({0: list(enumerate(lines))})  # the next batch lands in the empty Redis
        seen = []
        for _ in range(3):
            await svc.probe.check()
            await svc.publish_health()
            seen.append(svc.health.report()["reasons"])
            await asyncio.sleep(0.05)  # the rewrite, in the background
        return seen, publisher, store, svc.runners[0].engine

    seen, publisher, store, engine = asyncio.run(go())
    assert seen[0] == ["redis_state_lost"] and seen[-1] == []
    assert [a for a in _alarms(publisher) if a[0] == "redis_state_lost"] == [
        ("redis_state_lost", "started", "w1"), ("redis_state_lost", "resolved", "w1")]
    stored = store.parts[(TOPIC, 0)]
    restored = Sites.restore(engine.config, stored.meta, stored.containers)
    assert stored.offset == len(lines) - 1 and report(restored) == report(engine)


# ------------------------------------------------------------ offset regression


def test_offsets_that_go_backwards_start_the_partition_over() -> None:
    """A record below the applied offset while the partition's log ends below it is no redelivery: the topic
    was created again. Its events are applied (not dropped as seen), on-call is told (offset_regression on
    topic:partition) and /healthz says so for the hold time, then the alarm resolves."""
    wall = Wall(BASE_TS + 100)
    old = [(i, _ev("call.queued", i, f"old{i}", call_id=f"o{i}", queue="sales")) for i in range(10)]
    new = [(i, _ev("call.queued", 50 + i, f"new{i}", call_id=f"n{i}", queue="sales")) for i in range(3)]

    async def go() -> tuple[MonitorService, RecordingPublisher, list[str], MemoryStateStore]:
        store = MemoryStateStore()
        svc = MonitorService(_settings(offset_regression_hold_s=60), store, publisher := RecordingPublisher(),
                             wall=wall)
        svc.log_end = lambda partition: 10
        await svc.handle({0: old})
        svc.log_end = lambda partition: 3  # the recreated topic holds three messages
        await svc.handle({0: new})
        during = svc.health.report()["reasons"]
        wall.t += 61
        await svc.probe.check()
        await svc.publish_health()
        return svc, publisher, during, store

    svc, publisher, during, store = asyncio.run(go())
    assert during == ["offset_regression"] and svc.health.report()["ok"]
    assert _alarms(publisher)[-2:] == [("offset_regression", "started", f"{TOPIC}:0"),
                                       ("offset_regression", "resolved", f"{TOPIC}:0")]
    started: Alarm = next(a for a in publisher.alarm_events if a.alarm == "offset_regression")
    assert (started.value, started.threshold, started.metric) == (0.0, 9.0, "offset")
    assert "created again" in started.summary
    assert report(svc.runners[0].engine)["queues"]["sales"]["total"]["offered"] == 13
    assert store.parts[(TOPIC, 0)].offset == 2


def test_a_redelivery_is_still_skipped() -> None:
    """Records at or below the applied offset while the log still holds it (a restart, a rebalance) are
    skipped as before, with no alarm."""
    records = [(i, _ev("call.queued", i, f"e{i}", call_id=f"c{i}", queue="sales")) for i in range(10)]

    async def go() -> tuple[MonitorService, RecordingPublisher]:
        svc = MonitorService(_settings(), MemoryStateStore(), publisher := RecordingPublisher(),
                             wall=Wall(BASE_TS + 100))
        svc.log_end = lambda partition: 10
        await svc.handle({0: records})
        await svc.handle({0: records[5:]})
        return svc, publisher

    svc, publisher = asyncio.run(go())
    assert svc.health.report()["ok"] and not [a for a in _alarms(publisher) if a[0] == "offset_regression"]
    assert report(svc.runners[0].engine)["queues"]["sales"]["total"]["offered"] == 10
    assert svc.runners[0].engine.all_counters().get("duplicate", 0) == 0  # skipped by offset, not met as duplicates


def test_a_consumer_that_applies_nothing_is_stuck() -> None:
    """Messages waiting in a partition and none applied for consumer_stuck_after_s: consumer_stuck, cleared
    once the partition moves again."""
    async def go() -> list[list[str]]:
        svc = MonitorService(_settings(), MemoryStateStore(), RecordingPublisher(), wall=Wall(BASE_TS + 10))
        await svc.handle({0: [(0, _ev("source.heartbeat", 0, "h0"))]})
        svc.behind = lambda partition, offset: 5
        svc.runners[0].advanced_at -= 31
        await svc.probe.check()
        stuck = svc.health.report()["reasons"]
        await svc.handle({0: [(1, _ev("source.heartbeat", 1, "h1"))]})
        await svc.probe.check()
        return [stuck, svc.health.report()["reasons"]]

    assert asyncio.run(go()) == [["consumer_stuck"], []]


def test_the_worker_serves_loopback_unless_told() -> None:
    """/metrics and /healthz listen on 127.0.0.1 by default; CALLWATCH_WEB_HOST opts into another address."""
    assert Settings().web_host == "127.0.0.1"
    assert Settings(web_host="0.0.0.0").web_host == "0.0.0.0"


def test_a_log_that_ends_below_the_applied_offset_with_no_record_coming_is_started_over(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """When the consumer waits past a recreated log's end (no record comes, nothing to compare), the probe sees
    the log ending below the applied offset, confirms it over time, starts the partition over and sends the
    consumer to the new log's start; a log end seen once below it (a new leader's lag) is not enough."""
    restarts: list[tuple[int, int | None]] = []

    async def restart(partition: int, seek_to: int | None) -> None:
        restarts.append((partition, seek_to))

    async def go() -> tuple[MonitorService, list[list[str]]]:
        svc = MonitorService(_settings(), MemoryStateStore(), RecordingPublisher(), wall=Wall(BASE_TS + 100))
        svc.restart_consumer = restart
        svc.log_end = lambda partition: 10
        await svc.handle({0: [(i, _ev("source.heartbeat", i, f"h{i}")) for i in range(10)]})
        svc.log_end = lambda partition: 4
        await svc.check_offsets()
        seen = [svc.health.report()["reasons"]]
        monkeypatch.setattr("streams.monitor.SHORT_LOG_CONFIRM_S", 0.0)
        await svc.check_offsets()
        seen.append(svc.health.report()["reasons"])
        return svc, seen

    svc, seen = asyncio.run(go())
    assert seen == [[], ["offset_regression"]]
    assert restarts == [(0, 0)] and svc.runners[0].offset == -1
