"""Where each partition's engine state lives between batches: Redis, or memory in tests.

Key schema (``P`` is the configured prefix, ``T`` the events topic, ``N`` a partition). A partition's
keys share the hash tag ``{T:N}``: Redis Cluster puts them on one slot, so that the batch write below is one
``MULTI``/``EXEC`` on a cluster as on a single Redis, and the partitions spread over the masters.

=====================================  ==========================================================
``P:p:{T:N}:meta``  (hash)             ``offset``: last applied Kafka offset; ``engine``: clock,
                                       counters and watermark (JSON); ``updated_at``; ``format``:
                                       the state format (absent: 1, see ``streams/state_upgrade.py``)
``P:p:{T:N}:c:legs``  (hash)           contact legs, field ``["queue","call_id"]`` → JSON
``P:p:{T:N}:c:intervals`` (hash)       15-minute aggregates, field ``["queue","channel",start]``
``P:p:{T:N}:c:minutes`` (hash)         minute aggregates for the rolling windows (75 min)
``P:p:{T:N}:c:agents`` (hash)          agent state, field agent id
``P:p:{T:N}:c:agent_days`` (hash)      per-agent daily figures, field ``["agent","YYYY-MM-DD"]``
``P:p:{T:N}:c:seen`` (hash)            event ids of the dedup horizon (24 h), one field per hour and
                                       batch (``"hour:batch"`` → ``[[id, ts], …]``)
``P:p:{T:N}:c:held`` (hash)            events waiting for their contact's earlier events
``P:p:{T:N}:c:alarms`` (hash)          active wait alarms, field queue
``P:p:{T:N}:c:thresholds`` (hash)      threshold alarms pending or active, field ``alarm:subject``
``P:p:{T:N}:c:sources`` (hash)         latest event time per source
``P:p:{T:N}:c:customers`` (hash)       each customer's contacts of the last 72 h, field pseudonym
``P:partitions:T`` (set)               the partitions that have state (a listing, written after the
                                       batch: the meta keys say it too, see :meth:`RedisStateStore.partitions`)
``P:snapshot:T:N`` (string)            the wallboard's figures (JSON), refreshed every second
``P:workers:W`` (string)               worker ``W`` is alive and this Redis holds what it wrote: its
                                       boot id, refreshed every second only if present (a Redis that
                                       restarted empty has lost it: ``streams/health.py``)
=====================================  ==========================================================

Before the hash tags (callwatch up to 0.x, single Redis only) a partition's keys were ``P:p:T:N:meta`` and
``P:p:T:N:c:NAME``. Every reader still reads them when a partition has no tagged meta; a worker taking
such a partition over renames its keys to the tagged ones first (:meth:`RedisStateStore.adopt`, one
``MULTI``), so that its writes never land beside an old half.

Bounded memory: the engine deletes what has ended (contacts 24 h after their last event, intervals
after the history period, minute buckets after 75 min, ids after the dedup horizon, agent days after
130 days) and each deletion is an ``HDEL`` in the same transaction. Every key also carries an expiry
(the longest retention plus a day; the snapshot a day) so that a partition nobody owns any more
disappears by itself.

Atomicity: a batch's changes and its last offset are written in one ``MULTI``/``EXEC``; a worker that
restarts reloads the state and skips offsets it has already applied, so nothing is lost or counted twice.

Versions: the shape of the containers is the engine's, numbered by ``streams/state_upgrade.py``. Every
load goes through its ``upgrade`` (an older format is brought to the current one, an unknown one is a
one-line :class:`~streams.state_upgrade.StateFormatError`); every commit marks the current format.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import orjson

from callwatch.engine.core import CONTAINERS
from streams.redis_client import AsyncRedis, async_client, transaction
from streams.state_upgrade import CONTAINERS_BY_FORMAT, STATE_FORMAT, parse_format, upgrade
from streams.state_upgrade import StoredPartition as StoredPartition

#: the engine's containers plus its batched dedup ids
STORED = (*CONTAINERS, "seen")
#: every container hash a partition may have: today's and those of every format still read
ALL_CONTAINERS = tuple(dict.fromkeys([*STORED, *(n for names in CONTAINERS_BY_FORMAT.values() for n in names)]))


Changes = dict[str, dict[str, bytes | None]]


class StateStore(Protocol):
    async def load(self, topic: str, partition: int) -> StoredPartition: ...

    async def load_all(self, topic: str) -> list[StoredPartition]: ...

    async def commit(self, topic: str, partition: int, changes: Changes, meta: dict[str, Any],
                     offset: int) -> None: ...

    async def replace(self, topic: str, partition: int, state: StoredPartition) -> None:
        """Write a partition's whole state (in the current format) in place of what is stored."""

    async def write_snapshot(self, topic: str, partition: int, snapshot: bytes) -> None: ...

    async def snapshots(self, topic: str) -> dict[int, bytes]: ...

    async def load_meta_offset(self, topic: str, partition: int) -> int:
        """The last applied offset alone (cheap); -1 when nothing is stored."""

    async def adopt(self, topic: str, partition: int) -> bool:
        """Bring a partition's keys to the current key schema (a worker taking it over, before it loads
        it); True when there was something to bring."""

    async def mark_alive(self, worker: str, boot: str, create: bool) -> bool:
        """Refresh the worker's marker (a write: the health probe); False when it was not there. With
        ``create`` it is set whether it was there or not (the worker's first mark)."""

    async def close(self) -> None: ...


class MemoryStateStore:
    """The same contract in a dict: for the tests of the drivers and for offline tools."""

    def __init__(self) -> None:
        self.parts: dict[tuple[str, int], StoredPartition] = {}
        self.snaps: dict[tuple[str, int], bytes] = {}
        self.markers: dict[str, str] = {}
        self.commits = 0

    def lose_everything(self) -> None:
        """What a Redis restarted without persistence holds: nothing (for the tests of the health probe)."""
        self.parts.clear()
        self.snaps.clear()
        self.markers.clear()

    async def load(self, topic: str, partition: int) -> StoredPartition:
        found = self.parts.get((topic, partition))
        if found is None:
            return StoredPartition(partition)
        return upgrade(topic, StoredPartition(partition, found.offset, dict(found.meta or {}),
                                              {k: dict(v) for k, v in found.containers.items()}, found.format))

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
        part.format = STATE_FORMAT
        self.commits += 1

    async def replace(self, topic: str, partition: int, state: StoredPartition) -> None:
        self.parts[(topic, partition)] = StoredPartition(
            partition, state.offset, dict(state.meta or {}),
            {k: dict(c) for k, c in state.containers.items() if c})

    async def write_snapshot(self, topic: str, partition: int, snapshot: bytes) -> None:
        self.snaps[(topic, partition)] = snapshot

    async def snapshots(self, topic: str) -> dict[int, bytes]:
        return {p: v for (t, p), v in self.snaps.items() if t == topic}

    async def load_meta_offset(self, topic: str, partition: int) -> int:
        found = self.parts.get((topic, partition))
        return -1 if found is None else found.offset

    async def adopt(self, topic: str, partition: int) -> bool:
        return False  # one schema in memory

    async def mark_alive(self, worker: str, boot: str, create: bool) -> bool:
        present = worker in self.markers
        if present or create:
            self.markers[worker] = boot
        return present

    async def close(self) -> None:
        return None


class RedisStateStore:
    """The real store: one transaction per batch, the key schema in this module's docstring; on a single
    Redis or a Redis Cluster (``streams/redis_client.py``)."""

    #: how often a worker re-lists a partition it writes (the listing's expiry is pushed on)
    LISTING_REFRESH_S = 3600.0

    def __init__(self, url: str, prefix: str = "callwatch", retention_days: int = 131,
                 timeout_s: float | None = None) -> None:
        # with a timeout, a hung Redis (stopped, swapping, a network that drops packets) fails a command
        # instead of holding it forever: the caller retries, and whatever does not need Redis goes on
        self.redis: AsyncRedis = async_client(url, timeout_s)
        self.prefix = prefix
        self.ttl_s = retention_days * 86400
        #: when (monotonic) each partition was last added to the listing by this store
        self._listed: dict[tuple[str, int], float] = {}

    def _base(self, topic: str, partition: int) -> str:
        return partition_base(self.prefix, topic, partition)

    def _legacy_base(self, topic: str, partition: int) -> str:
        """Where a partition's keys were before the hash tags (see the module's docstring)."""
        return f"{self.prefix}:p:{topic}:{partition}"

    async def _stored_base(self, topic: str, partition: int) -> str | None:
        """The base of the partition's keys as stored: tagged, else the old schema's; None: no state."""
        for base in (self._base(topic, partition), self._legacy_base(topic, partition)):
            if await self.redis.exists(f"{base}:meta"):
                return base
        return None

    async def _read(self, topic: str, partition: int, base: str) -> StoredPartition | None:
        pipe = await transaction(self.redis)
        pipe.hgetall(f"{base}:meta")
        for name in ALL_CONTAINERS:
            pipe.hgetall(f"{base}:c:{name}")
        meta_raw, *contents = await pipe.execute()
        if not meta_raw:
            return None
        return upgrade(topic, StoredPartition(
            partition,
            int(meta_raw[b"offset"]),
            orjson.loads(meta_raw[b"engine"]),
            {name: {k.decode(): v for k, v in c.items()} for name, c in zip(ALL_CONTAINERS, contents, strict=True)
             if c or name in STORED},
            parse_format(topic, partition, meta_raw.get(b"format")),
        ))

    async def load(self, topic: str, partition: int) -> StoredPartition:
        found = await self._read(topic, partition, self._base(topic, partition))
        if found is None and await self.redis.exists(f"{self._legacy_base(topic, partition)}:meta"):
            # written before the hash tags (a single Redis: its keys span slots, read in one transaction)
            found = await self._read(topic, partition, self._legacy_base(topic, partition))
        return found or StoredPartition(partition)

    async def adopt(self, topic: str, partition: int) -> bool:
        """Rename a partition's keys of the old schema to the tagged ones, in one transaction, unless it
        has tagged state already. Only a single Redis can hold the old schema (callwatch never wrote it to
        a cluster), so the transaction over keys of several slots is never asked of a cluster."""
        base, legacy = self._base(topic, partition), self._legacy_base(topic, partition)
        if await self.redis.exists(f"{base}:meta") or not await self.redis.exists(f"{legacy}:meta"):
            return False
        old = [k for k in await self._container_keys(legacy) if await self.redis.exists(k)]
        pipe = await transaction(self.redis)
        pipe.rename(f"{legacy}:meta", f"{base}:meta")
        for key in old:
            pipe.rename(key, base + key[len(legacy):])
        await pipe.execute()
        return True

    async def load_meta_offset(self, topic: str, partition: int) -> int:
        """The last applied offset alone (cheap: for progress and benchmarks)."""
        raw = await self.redis.hget(f"{self._base(topic, partition)}:meta", "offset")
        if raw is None:
            raw = await self.redis.hget(f"{self._legacy_base(topic, partition)}:meta", "offset")
        return -1 if raw is None else int(raw)

    async def load_all(self, topic: str) -> list[StoredPartition]:
        return [await self.load(topic, p) for p in await self.partitions(topic)]

    async def partitions(self, topic: str) -> list[int]:
        """The partitions of ``topic`` with state: those listed, and any whose meta is there unlisted (the
        listing is written after the batch; a worker killed in between leaves it out)."""
        members = {int(m) for m in await self.redis.smembers(f"{self.prefix}:partitions:{topic}")}
        tagged = f"{_glob_escape(f'{self.prefix}:p:{{{topic}:')}*}}:meta"
        async for key in self.redis.scan_iter(match=tagged):
            number = key.decode()[:-len("}:meta")].rsplit(":", 1)[-1]
            if number.isdigit():
                members.add(int(number))
        legacy = f"{_glob_escape(f'{self.prefix}:p:{topic}')}:*:meta"
        async for key in self.redis.scan_iter(match=legacy):
            number = key.decode().rsplit(":", 2)[-2]
            if number.isdigit():
                members.add(int(number))
        return sorted(members)

    async def stored_formats(self, topic: str) -> dict[int, int]:
        """The state format of each partition with state, read from the meta alone (cheap: the worker's
        check before it starts); raises ``StateFormatError`` for one this version cannot read."""
        found: dict[int, int] = {}
        for p in await self.partitions(topic):
            base = await self._stored_base(topic, p)
            if base is None:  # no meta: nothing stored (the listing outlived it)
                continue
            raw, offset = await self.redis.hmget(f"{base}:meta", ["format", "offset"])
            if offset is not None:
                found[p] = parse_format(topic, p, raw)
        return found

    def _meta_fields(self, meta: dict[str, Any], offset: int) -> dict[str, Any]:
        return {"offset": offset, "engine": orjson.dumps(meta), "updated_at": time.time(),
                "format": STATE_FORMAT}

    async def _list(self, topic: str, partition: int, force: bool = False) -> None:
        """Add the partition to the topic's listing, once in a while: the listing is another slot's key,
        so it cannot be in the batch's transaction on a cluster (and needs not be: the meta is the truth)."""
        now = time.monotonic()
        if not force and now - self._listed.get((topic, partition), float("-inf")) < self.LISTING_REFRESH_S:
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.sadd(f"{self.prefix}:partitions:{topic}", partition)
        pipe.expire(f"{self.prefix}:partitions:{topic}", self.ttl_s)
        await pipe.execute()
        self._listed[(topic, partition)] = now

    async def commit(self, topic: str, partition: int, changes: Changes, meta: dict[str, Any],
                     offset: int) -> None:
        base = self._base(topic, partition)
        pipe = await transaction(self.redis)
        for name, items in changes.items():
            key = f"{base}:c:{name}"
            upsert = {k: v for k, v in items.items() if v is not None}
            gone = [k for k, v in items.items() if v is None]
            if upsert:
                pipe.hset(key, mapping=upsert)
            if gone:
                pipe.hdel(key, *gone)
            pipe.expire(key, self.ttl_s)
        pipe.hset(f"{base}:meta", mapping=self._meta_fields(meta, offset))
        pipe.expire(f"{base}:meta", self.ttl_s)
        await pipe.execute()
        await self._list(topic, partition)

    async def _container_keys(self, base: str) -> list[str]:
        """Every container hash of a partition: those of the known formats, and any other there is."""
        keys = dict.fromkeys(f"{base}:c:{name}" for name in ALL_CONTAINERS)
        async for key in self.redis.scan_iter(match=f"{_glob_escape(base)}:c:*"):
            keys[key.decode()] = None
        return list(keys)

    async def replace(self, topic: str, partition: int, state: StoredPartition) -> None:
        """The whole state in one transaction, in the current format, in place of what was stored (an
        upgraded state is written back before anything is applied to it)."""
        base = self._base(topic, partition)
        stale = await self._container_keys(base)
        pipe = await transaction(self.redis)
        pipe.delete(f"{base}:meta", *stale)
        for name, items in state.containers.items():
            if items:
                pipe.hset(f"{base}:c:{name}", mapping=items)
                pipe.expire(f"{base}:c:{name}", self.ttl_s)
        pipe.hset(f"{base}:meta", mapping=self._meta_fields(state.meta or {}, state.offset))
        pipe.expire(f"{base}:meta", self.ttl_s)
        await pipe.execute()
        await self._delete_legacy(topic, partition)
        await self._list(topic, partition, force=True)

    async def _delete_legacy(self, topic: str, partition: int) -> int:
        """Delete what the old schema holds of a partition (each key alone: they span slots)."""
        legacy = self._legacy_base(topic, partition)
        deleted = 0
        for key in [f"{legacy}:meta", *await self._container_keys(legacy)]:
            deleted += int(await self.redis.delete(key))
        return deleted

    async def delete(self, topic: str, partition: int) -> int:
        """Forget a partition's state, its applied offset and its wallboard snapshot (a rebuild);
        returns how many keys were deleted."""
        base = self._base(topic, partition)
        stale = await self._container_keys(base)
        pipe = await transaction(self.redis)
        pipe.delete(f"{base}:meta", *stale)
        (deleted,) = await pipe.execute()
        deleted = int(deleted) + await self._delete_legacy(topic, partition)
        deleted += int(await self.redis.delete(f"{self.prefix}:snapshot:{topic}:{partition}"))
        await self.redis.srem(f"{self.prefix}:partitions:{topic}", partition)
        self._listed.pop((topic, partition), None)
        return deleted

    async def inspect(self, topic: str, partition: int) -> dict[str, Any]:
        """What is stored for a partition, read as it is (no upgrade): for ``callwatch state info``.

        ``format`` is the stored field as text (None: absent, i.e. format 1), ``max_ts`` the engine's
        newest event time when its meta names it, ``entries`` the fields of each container hash.
        """
        base = await self._stored_base(topic, partition) or self._base(topic, partition)
        keys = await self._container_keys(base)
        pipe = await transaction(self.redis)
        pipe.hgetall(f"{base}:meta")
        for key in keys:
            pipe.hlen(key)
        meta_raw, *sizes = await pipe.execute()
        engine: Any = None
        if b"engine" in meta_raw:
            try:
                engine = orjson.loads(meta_raw[b"engine"])
            except orjson.JSONDecodeError:
                engine = None
        max_ts = engine.get("max_ts") if isinstance(engine, dict) else None
        return {
            "partition": partition,
            "format": meta_raw[b"format"].decode(errors="replace") if b"format" in meta_raw else None,
            "offset": int(meta_raw[b"offset"]) if b"offset" in meta_raw else None,
            "max_ts": max_ts if isinstance(max_ts, int | float) else None,
            "updated_at": float(meta_raw[b"updated_at"]) if b"updated_at" in meta_raw else None,
            "entries": {key.rsplit(":", 1)[1]: n for key, n in zip(keys, sizes, strict=True) if n},
        }

    async def write_snapshot(self, topic: str, partition: int, snapshot: bytes) -> None:
        await self.redis.set(f"{self.prefix}:snapshot:{topic}:{partition}", snapshot, ex=86400)

    async def mark_alive(self, worker: str, boot: str, create: bool) -> bool:
        key = f"{self.prefix}:workers:{worker}"
        if create:
            existed = await self.redis.set(key, boot, ex=86400, get=True)
            return existed is not None
        return bool(await self.redis.set(key, boot, ex=86400, xx=True))

    async def snapshots(self, topic: str) -> dict[int, bytes]:
        keys = [k async for k in self.redis.scan_iter(match=f"{_glob_escape(f'{self.prefix}:snapshot:{topic}:')}*")]
        if not keys:
            return {}
        # one GET per key in a pipeline, not MGET: on a cluster the snapshots sit on several slots
        pipe = self.redis.pipeline(transaction=False)
        for k in keys:
            pipe.get(k)
        values = await pipe.execute()
        return {int(k.rsplit(b":", 1)[1]): v for k, v in zip(keys, values, strict=True)
                if isinstance(v, bytes) and k.rsplit(b":", 1)[1].isdigit()}

    async def close(self) -> None:
        await self.redis.aclose()


def partition_base(prefix: str, topic: str, partition: int) -> str:
    """What every key of a partition's state starts with (``P:p:{T:N}``; its meta is ``…:meta``)."""
    return f"{prefix}:p:{{{topic}:{partition}}}"


def _glob_escape(text: str) -> str:
    """``text`` matched literally in a Redis ``SCAN MATCH`` pattern."""
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)
