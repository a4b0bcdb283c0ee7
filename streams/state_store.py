"""Where each partition's engine state lives between batches: Redis, or memory in tests.

Key schema (``P`` is the configured prefix, ``T`` the events topic, ``N`` a partition):

=====================================  ==========================================================
``P:p:T:N:meta``  (hash)               ``offset``: last applied Kafka offset; ``engine``: clock,
                                       counters and watermark (JSON); ``updated_at``
``P:p:T:N:c:legs``  (hash)             contact legs, field ``["queue","call_id"]`` → JSON
``P:p:T:N:c:intervals`` (hash)         15-minute aggregates, field ``["queue","channel",start]``
``P:p:T:N:c:minutes`` (hash)           minute aggregates for the rolling windows (75 min)
``P:p:T:N:c:agents`` (hash)            agent state, field agent id
``P:p:T:N:c:agent_days`` (hash)        per-agent daily figures, field ``["agent","YYYY-MM-DD"]``
``P:p:T:N:c:seen`` (hash)              event ids of the dedup horizon (24 h), one field per hour and
                                       batch (``"hour:batch"`` → ``[[id, ts], …]``)
``P:p:T:N:c:held`` (hash)              events waiting for their contact's earlier events
``P:p:T:N:c:alarms`` (hash)            active wait alarms, field queue
``P:p:T:N:c:sources`` (hash)           latest event time per source
``P:partitions:T`` (set)               the partitions that have state
``P:snapshot:T:N`` (string)            the wallboard's figures (JSON), refreshed every second
=====================================  ==========================================================

Bounded memory: the engine deletes what has ended (contacts 24 h after their last event, intervals
after the history period, minute buckets after 75 min, ids after the dedup horizon, agent days after
130 days) and each deletion is an ``HDEL`` in the same transaction. Every key also carries an expiry
(the longest retention plus a day; the snapshot a day) so that a partition nobody owns any more
disappears by itself.

Atomicity: a batch's changes and its last offset are written in one ``MULTI``/``EXEC``; a worker that
restarts reloads the state and skips offsets it has already applied, so nothing is lost or counted twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis

from callwatch.engine.core import CONTAINERS

#: the engine's containers plus its batched dedup ids
STORED = (*CONTAINERS, "seen")


@dataclass
class StoredPartition:
    partition: int
    #: the last Kafka offset whose event is in this state; -1 when none is
    offset: int = -1
    meta: dict[str, Any] | None = None
    containers: dict[str, dict[str, bytes]] = field(default_factory=dict)


Changes = dict[str, dict[str, bytes | None]]


class StateStore(Protocol):
    async def load(self, topic: str, partition: int) -> StoredPartition: ...

    async def load_all(self, topic: str) -> list[StoredPartition]: ...

    async def commit(self, topic: str, partition: int, changes: Changes, meta: dict[str, Any],
                     offset: int) -> None: ...

    async def write_snapshot(self, topic: str, partition: int, snapshot: bytes) -> None: ...

    async def snapshots(self, topic: str) -> dict[int, bytes]: ...

    async def close(self) -> None: ...


class MemoryStateStore:
    """The same contract in a dict: for the tests of the drivers and for offline tools."""

    def __init__(self) -> None:
        self.parts: dict[tuple[str, int], StoredPartition] = {}
        self.snaps: dict[tuple[str, int], bytes] = {}
        self.commits = 0

    async def load(self, topic: str, partition: int) -> StoredPartition:
        found = self.parts.get((topic, partition))
        if found is None:
            return StoredPartition(partition)
        return StoredPartition(partition, found.offset, dict(found.meta or {}),
                               {k: dict(v) for k, v in found.containers.items()})

    async def load_all(self, topic: str) -> list[StoredPartition]:
        return [await self.load(t, p) for (t, p) in sorted(self.parts) if t == topic]

    async def commit(self, topic: str, partition: int, changes: Changes, meta: dict[str, Any],
                     offset: int) -> None:
        part = self.parts.setdefault((topic, partition), StoredPartition(partition))
        for name, items in changes.items():
            target = part.containers.setdefault(name, {})
            for k, v in items.items():
                if v is None:
                    target.pop(k, None)
                else:
                    target[k] = v
        part.meta = meta
        part.offset = offset
        self.commits += 1

    async def write_snapshot(self, topic: str, partition: int, snapshot: bytes) -> None:
        self.snaps[(topic, partition)] = snapshot

    async def snapshots(self, topic: str) -> dict[int, bytes]:
        return {p: v for (t, p), v in self.snaps.items() if t == topic}

    async def close(self) -> None:
        return None


class RedisStateStore:
    """The real store: one transaction per batch, the key schema in this module's docstring."""

    def __init__(self, url: str, prefix: str = "callwatch", retention_days: int = 131) -> None:
        self.redis = aioredis.Redis.from_url(url)
        self.prefix = prefix
        self.ttl_s = retention_days * 86400

    def _base(self, topic: str, partition: int) -> str:
        return f"{self.prefix}:p:{topic}:{partition}"

    async def load(self, topic: str, partition: int) -> StoredPartition:
        base = self._base(topic, partition)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hgetall(f"{base}:meta")
        for name in STORED:
            pipe.hgetall(f"{base}:c:{name}")
        meta_raw, *contents = await pipe.execute()
        if not meta_raw:
            return StoredPartition(partition)
        return StoredPartition(
            partition,
            int(meta_raw[b"offset"]),
            orjson.loads(meta_raw[b"engine"]),
            {name: {k.decode(): v for k, v in c.items()} for name, c in zip(STORED, contents, strict=True)},
        )

    async def load_meta_offset(self, topic: str, partition: int) -> int:
        """The last applied offset alone (cheap: for progress and benchmarks)."""
        raw = await self.redis.hget(f"{self._base(topic, partition)}:meta", "offset")
        return -1 if raw is None else int(raw)

    async def load_all(self, topic: str) -> list[StoredPartition]:
        members = await self.redis.smembers(f"{self.prefix}:partitions:{topic}")
        return [await self.load(topic, p) for p in sorted(int(m) for m in members)]

    async def commit(self, topic: str, partition: int, changes: Changes, meta: dict[str, Any],
                     offset: int) -> None:
        base = self._base(topic, partition)
        pipe = self.redis.pipeline(transaction=True)
        for name, items in changes.items():
            key = f"{base}:c:{name}"
            upsert = {k: v for k, v in items.items() if v is not None}
            gone = [k for k, v in items.items() if v is None]
            if upsert:
                pipe.hset(key, mapping=upsert)  # type: ignore[arg-type]
            if gone:
                pipe.hdel(key, *gone)
            pipe.expire(key, self.ttl_s)
        pipe.hset(f"{base}:meta", mapping={"offset": offset, "engine": orjson.dumps(meta),
                                           "updated_at": time.time()})
        pipe.expire(f"{base}:meta", self.ttl_s)
        pipe.sadd(f"{self.prefix}:partitions:{topic}", partition)
        pipe.expire(f"{self.prefix}:partitions:{topic}", self.ttl_s)
        await pipe.execute()

    async def write_snapshot(self, topic: str, partition: int, snapshot: bytes) -> None:
        await self.redis.set(f"{self.prefix}:snapshot:{topic}:{partition}", snapshot, ex=86400)

    async def snapshots(self, topic: str) -> dict[int, bytes]:
        keys = [k async for k in self.redis.scan_iter(match=f"{self.prefix}:snapshot:{topic}:*")]
        if not keys:
            return {}
        values = await self.redis.mget(keys)
        return {int(k.rsplit(b":", 1)[1]): v for k, v in zip(keys, values, strict=True)
                if isinstance(v, bytes)}

    async def close(self) -> None:
        await self.redis.aclose()
