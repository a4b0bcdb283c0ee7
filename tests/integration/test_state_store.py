"""The state store contract, run against every implementation (memory and real Redis), and the
partition driver on top of it: offsets skipped after a restart, dead letters, a failing store retried."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import orjson
import pytest

from callwatch.config import MonitorConfig
from callwatch.engine import Sites
from callwatch.engine.report import report
from callwatch.events import encode
from callwatch.settings import Settings
from producers.simulator import demo_events
from streams.monitor import MonitorService, RecordingPublisher
from streams.partition import PartitionRunner
from streams.state_store import MemoryStateStore, RedisStateStore, StateStore

CFG = MonitorConfig()
EVENTS = demo_events(datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc), hours=1.0)
RAW = [encode(e) for e in EVENTS]


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, unique: str) -> Iterator[StateStore]:
    if request.param == "memory":
        yield MemoryStateStore()
        return
    url = request.getfixturevalue("redis_url")
    redis_store = RedisStateStore(url, f"test-{unique}")
    yield redis_store
    asyncio.run(redis_store.close())


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.mark.integration
class TestStateStore:
    def test_empty_partition_loads_as_new(self, store: StateStore) -> None:
        """A partition with no state starts before offset 0 with an empty engine."""
        async def go() -> None:
            part = await store.load("t", 3)
            assert part.offset == -1 and part.meta is None and not any(part.containers.values())
            if isinstance(store, RedisStateStore):
                await store.redis.aclose()
        run(go())

    def test_restart_resumes_exactly(self, store: StateStore) -> None:
        """Half the records, commit, reopen from the store, all records again: exactly one run's figures."""
        records = list(enumerate(RAW))

        async def go() -> tuple[dict[str, Any], int]:
            first = await PartitionRunner.open(store, "t", 0, CFG)
            half = len(records) // 2
            for i in range(0, half, 100):
                first.process(records[i:min(i + 100, half)], None)
                await first.commit(store)
            again = await PartitionRunner.open(store, "t", 0, CFG)
            assert again.offset == half - 1
            # Kafka redelivers from its older committed offset: the overlap must be skipped
            result = again.process(records[half - 250:], None)
            await again.commit(store)
            reread = await PartitionRunner.open(store, "t", 0, CFG)
            if isinstance(store, RedisStateStore):
                await store.redis.aclose()
            return report(reread.engine), result.skipped

        restarted, skipped = run(go())
        whole = PartitionRunner("t", 0, Sites(CFG))
        whole.process(records, None)
        assert skipped == 250
        assert restarted == report(whole.engine)

    def test_snapshots_are_listed_per_partition(self, store: StateStore) -> None:
        """Wallboard snapshots are stored per partition and read back together."""
        async def go() -> dict[int, bytes]:
            await store.write_snapshot("t", 0, b'{"a":1}')
            await store.write_snapshot("t", 1, b'{"b":2}')
            await store.write_snapshot("other", 0, b"{}")
            got = await store.snapshots("t")
            if isinstance(store, RedisStateStore):
                await store.redis.aclose()
            return got
        assert run(go()) == {0: b'{"a":1}', 1: b'{"b":2}'}


class FlakyStore(MemoryStateStore):
    """A store whose first writes fail with a connection error, as Redis does when it restarts."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def commit(self, *args: Any, **kwargs: Any) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("redis went away")
        await super().commit(*args, **kwargs)


def test_failing_store_is_retried_and_loses_nothing() -> None:
    """Commits that fail are retried with the same changes; the stored state ends complete."""
    store = FlakyStore(failures=3)
    settings = Settings(clock="event")
    service = MonitorService(settings, store, RecordingPublisher())
    records = list(enumerate(RAW))

    async def go() -> None:
        for i in range(0, len(records), 500):
            await service.handle({0: records[i:i + 500]})
    run(go())
    reopened = run(PartitionRunner.open(store, settings.events_topic, 0, CFG))
    whole = PartitionRunner("t", 0, Sites(CFG))
    whole.process(records, None)
    assert store.failures == 0
    assert report(reopened.engine) == report(whole.engine)


def test_invalid_records_become_dead_letters_with_their_position() -> None:
    """An invalid record is published as a dead letter with reason and offset; the rest still applies."""
    publisher = RecordingPublisher()
    service = MonitorService(Settings(clock="event"), MemoryStateStore(), publisher)
    run(service.handle({2: [(0, RAW[0]), (1, b"\xff\xfe not json"), (2, RAW[1])]}))
    (dead,) = publisher.dead
    body = orjson.loads(dead.encode())
    assert (body["partition"], body["offset"], body["code"]) == (2, 1, "not_json")
    assert body["original_encoding"] == "base64"
    assert service.runners[2].engine.all_counters()["events"] == 2
