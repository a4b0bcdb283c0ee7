"""The read side: what the workers wrote to Redis, merged across partitions, for people and scripts.

The wallboard snapshots (``{prefix}:snapshot:…``, rewritten every second) give the live figures; the
committed engine state of every partition, merged, gives the same report as an offline replay.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from callwatch.engine import Engine
from callwatch.engine.figures import report
from callwatch.settings import Settings
from streams.state_store import RedisStateStore


def _store(settings: Settings) -> RedisStateStore:
    return RedisStateStore(settings.redis_url, settings.redis_prefix)


def merge_snapshots(snaps: dict[int, bytes]) -> dict[str, Any]:
    """The snapshots of every partition as one floor (what ``callwatch stats --json`` prints)."""
    queues: dict[str, Any] = {}
    partitions = []
    for p, raw in sorted(snaps.items()):
        snap = orjson.loads(raw)
        partitions.append({"partition": p, "now": snap["now"], "clock": snap["clock"],
                           "written_at": snap["written_at"], "offset": snap["offset"]})
        queues.update(snap["queues"])
    return {"generated_at": time.time(), "partitions": partitions, "queues": dict(sorted(queues.items()))}


async def _snapshots(settings: Settings) -> dict[int, bytes]:
    store = _store(settings)
    try:
        return await store.snapshots(settings.events_topic)
    finally:
        await store.close()


def live_figures(settings: Settings) -> dict[str, Any]:
    """The wallboard snapshots of every partition, merged: per queue, live figures and windows."""
    return merge_snapshots(asyncio.run(_snapshots(settings)))


async def stored_engine(settings: Settings) -> Engine:
    """One engine holding what every partition's worker committed (per-agent days included)."""
    store = _store(settings)
    try:
        parts = await store.load_all(settings.events_topic)
    finally:
        await store.close()
    merged = Engine(settings.monitor)
    for part in parts:
        merged.absorb(Engine.restore(settings.monitor, part.meta, part.containers))
    return merged


def stored_report(settings: Settings) -> dict[str, Any]:
    """The offline replay's report, computed from the state the workers committed to Redis."""
    return report(asyncio.run(stored_engine(settings)))
