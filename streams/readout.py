"""The read side: what the workers wrote to Redis, merged across partitions, for people and scripts.

The wallboard snapshots (``{prefix}:snapshot:…``, rewritten every second) give the live figures; the
committed engine state of every partition, merged, gives the same report as an offline replay.

A server answering many people (the wallboard page) reads through :class:`SharedRead`: one read at a
time, its result kept for a while and shared by every request, so that a hundred screens or a burst of
scorecard requests cost one read, not one each.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import orjson

from callwatch.engine import Engine, Sites
from callwatch.engine.agent_list import listed_order
from callwatch.engine.report import report
from callwatch.settings import Settings
from streams.state_store import RedisStateStore


def _store(settings: Settings) -> RedisStateStore:
    return RedisStateStore(settings.redis_url, settings.redis_prefix)


def merge_snapshots(snaps: dict[int, bytes]) -> dict[str, Any]:
    """The snapshots of every partition as one floor (what ``callwatch stats --json`` prints).

    ``sites``: site → ``queues`` → queue → its figures, each site as its partition wrote it. ``queues``:
    every site's queues in one map, each entry with its ``site``, keyed by the queue's name — or by
    ``queue@site`` for a name that two sites use, so that both survive. ``alarms``: the floor's (one per
    alarm, site and subject: a worker's health is in each of its partitions). ``agents``: counts added,
    lists joined (an agent is in the partition of its source).
    """
    sites: dict[str, dict[str, Any]] = {}
    partitions = []
    alarms: dict[tuple[str, str | None, str | None], dict[str, Any]] = {}
    counts: dict[str, int] = {}
    listed: dict[str, dict[str, Any]] = {}
    for p, raw in sorted(snaps.items()):
        snap = orjson.loads(raw)
        partitions.append({"partition": p, "now": snap["now"], "clock": snap["clock"],
                           "written_at": snap["written_at"], "offset": snap["offset"]})
        if "sites" in snap:
            for site, held in snap["sites"].items():
                sites.setdefault(site, {}).update(held["queues"])
        else:  # written by a worker from before sites: one site, unnamed
            sites.setdefault("", {}).update(snap["queues"])
        for alarm in snap.get("alarms", ()):
            alarms.setdefault((alarm["alarm"], alarm.get("site"), alarm.get("subject")), alarm)
        agents = snap.get("agents") or {}
        for state, n in agents.get("counts", {}).items():
            counts[state] = counts.get(state, 0) + n
        for row in agents.get("listed", ()):
            listed.setdefault(row["agent"], row)
    names: dict[str, int] = {}
    for held in sites.values():
        for q in held:
            names[q] = names.get(q, 0) + 1
    queues = {(q if names[q] == 1 else f"{q}@{site}"): {**figures, "site": site}
              for site, held in sites.items() for q, figures in held.items()}
    return {"generated_at": time.time(), "partitions": partitions, "queues": dict(sorted(queues.items())),
            "sites": {site: {"queues": dict(sorted(held.items()))} for site, held in sorted(sites.items())},
            "alarms": sorted(alarms.values(), key=lambda a: (a["since"], a["alarm"], a.get("site") or "",
                                                            a.get("subject") or "")),
            "agents": {"counts": counts, "listed": sorted(listed.values(), key=listed_order)}}


def staleness_s(merged: dict[str, Any], now: float) -> float | None:
    """Wall seconds since the newest snapshot of :func:`merge_snapshots` was written, None when none ever
    was. A worker rewrites its partitions' snapshots every ``snapshot_interval_s``, events or not (its
    heartbeat), so a quiet floor stays fresh and a dead worker's figures age: past ``stale_after_s`` the
    screens say so. ``now`` is the reader's wall clock: worker and reader clocks must agree (NTP)."""
    written = [p["written_at"] for p in merged.get("partitions", ()) if p.get("written_at") is not None]
    return None if not written else max(now - max(written), 0.0)


async def _snapshots(settings: Settings) -> dict[int, bytes]:
    store = _store(settings)
    try:
        return await store.snapshots(settings.events_topic)
    finally:
        await store.close()


def live_figures(settings: Settings) -> dict[str, Any]:
    """The wallboard snapshots of every partition, merged: per queue, live figures and windows."""
    return merge_snapshots(asyncio.run(_snapshots(settings)))


async def stored_sites(settings: Settings) -> Sites:
    """Every site's engine, as the partitions' workers committed them (what the report is built from)."""
    store = _store(settings)
    try:
        parts = await store.load_all(settings.events_topic)
    finally:
        await store.close()
    merged = Sites(settings.monitor)
    for part in parts:
        merged.absorb(Sites.restore(settings.monitor, part.meta, part.containers))
    return merged


async def stored_engine(settings: Settings) -> Engine:
    """One engine holding what every partition's worker committed, all sites together (per-agent days
    included: the scorecards')."""
    return (await stored_sites(settings)).merged()


def read_stored_engine(settings: Settings) -> Engine:
    """:func:`stored_engine` for a thread of its own: the Redis reads, their decoding and the restore of
    every partition are CPU work of seconds on a large floor, which must not hold up an event loop that
    serves other people (the wallboard's push stream)."""
    return asyncio.run(stored_engine(settings))


T = TypeVar("T")


def _retrieved(future: asyncio.Future[Any]) -> None:
    # whoever waited, the outcome is looked at: no "exception was never retrieved" when all gave up
    if not future.cancelled():
        future.exception()


class SharedRead(Generic[T]):
    """``read()``'s result, read at most once per ``max_age_s`` and shared by every caller.

    Callers that arrive while a read is under way wait for that read instead of starting their own; a
    caller that gives up (a browser that closed) does not cancel it for the others. A failed read is not
    kept: every caller waiting for it gets the error, and the next caller reads again. The value is
    forgotten ``keep_s`` after it was read (default: ``max_age_s``), so that a large one (a floor's engine)
    does not stay in memory after the last request for it.
    """

    def __init__(self, read: Callable[[], Awaitable[T]], max_age_s: float, keep_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._read = read
        self.max_age_s = max_age_s
        self.keep_s = max_age_s if keep_s is None else keep_s
        self._clock = clock
        self._value: T | None = None
        #: when the value was read: monotonic (for its age) and wall-clock (for people)
        self._at = float("-inf")
        self.read_at = 0.0
        self._pending: asyncio.Future[T] | None = None
        self._forget: asyncio.TimerHandle | None = None
        #: reads made so far (the tests count them)
        self.reads = 0

    async def get(self) -> tuple[T, float]:
        """The value and the wall-clock time it was read."""
        if self._value is not None and self._clock() - self._at < self.max_age_s:
            return self._value, self.read_at
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._refresh())
            self._pending.add_done_callback(_retrieved)
        value = await asyncio.shield(self._pending)
        return value, self.read_at

    async def _refresh(self) -> T:
        try:
            self.reads += 1
            value = await self._read()
            self._value, self._at, self.read_at = value, self._clock(), time.time()
            if self._forget is not None:
                self._forget.cancel()
            self._forget = asyncio.get_running_loop().call_later(self.keep_s, self.forget)
            return value
        finally:
            self._pending = None

    def forget(self) -> None:
        """Drop the value (the next caller reads again)."""
        self._value, self._at = None, float("-inf")
        if self._forget is not None:
            self._forget.cancel()
            self._forget = None


def stored_report(settings: Settings) -> dict[str, Any]:
    """The offline replay's report, computed from the state the workers committed to Redis: the same days,
    flags and alarms (:func:`callwatch.offline.replay_log`)."""
    return report(asyncio.run(stored_sites(settings)))
