"""One engine per site: the coordinator the drivers run, routing each event by its ``source``.

A site is an event's ``source`` (events without one belong to the site ``""``). Each site has an
:class:`~callwatch.engine.core.Engine` of its own: its watermark, its alarm timers, its feed silence, its
retention, its calendar (``site_timezones``). So one engine over many sites behaves exactly as one
engine per site, and the figures of a site never depend on which other sites share its partition, or
on how far their clocks are: a live worker owning a few partitions and an offline replay of the whole
log agree, whatever the partitioning.

Persistence: every key of every container is the site's key with the site in front (a JSON array
``[site, …]``), and the meta holds each site's meta; a driver writes and reads them as it did one
engine's. Reading: :meth:`Sites.merged` folds the sites into one engine for the figures that are one
floor's (scorecards, goals); the report (:func:`callwatch.engine.report.report`) merges them itself,
and keeps each site's figures apart too.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from callwatch.alarm import Alarm
from callwatch.config import MonitorConfig
from callwatch.engine.codec import TUPLE_KEYED
from callwatch.engine.core import Engine
from callwatch.engine.eventclock import Refusal
from callwatch.events import Event

NEG_INF = float("-inf")


def site_key(site: str, key: str, tupled: bool) -> str:
    """A site's container key as the coordinator stores it: a JSON array with the site first."""
    if tupled:  # already a JSON array: the site goes in front of its items
        return "[" + orjson.dumps(site).decode() + ("," + key[1:] if key != "[]" else "]")
    return orjson.dumps([site, key]).decode()


def split_key(raw: bytes | str, tupled: bool) -> tuple[str, str]:
    """The site and the site's own key of a stored key (the inverse of :func:`site_key`)."""
    items = orjson.loads(raw)
    if not isinstance(items, list) or not items or not isinstance(items[0], str):
        raise ValueError(f"not a site's key: {raw!r}")
    if tupled:
        return items[0], orjson.dumps(items[1:]).decode()
    return items[0], str(items[1])


class HeldEvents:
    """The events the sites' event clocks hold as candidates, all sites together (what a driver asks)."""

    def __init__(self, sites: Sites) -> None:
        self._sites = sites

    @property
    def held_count(self) -> int:
        return sum(unit.clock.held_count for unit in self._sites.units.values())

    def held_ids(self) -> set[str]:
        return {i for unit in self._sites.units.values() if unit.clock.held_count for i in unit.clock.held_ids()}


class Sites:
    """The engines of the sites whose events one driver applies (a partition's, or a whole log's)."""

    def __init__(self, config: MonitorConfig) -> None:
        self.config = config
        #: site -> its engine
        self.units: dict[str, Engine] = {}
        #: inputs that belong to no site (lines that are not valid events), by ``invalid:<code>``
        self.counters: Counter[str] = Counter()
        #: the alarms raised since a driver last cleared it
        self.outbox: list[Alarm] = []
        self.clock = HeldEvents(self)
        self._refusals: list[Refusal] = []
        #: where every site's forecast appends a row per call that entered a queue (offline only)
        self.predictions: list[list[Any]] | None = None

    def unit(self, site: str) -> Engine:
        """The site's engine (new for a site not seen before)."""
        found = self.units.get(site)
        if found is None:
            found = self.units[site] = Engine(self.config.for_site(site), site or None)
            found.forecast.record = self.predictions
        return found

    # ----------------------------------------------------------------- input

    def step(self, event: Event, now: float | None = None,
             on_error: Callable[[Event, Exception], None] | None = None,
             wall: float | None = None) -> list[Alarm]:
        """:meth:`Engine.step` on the engine of the event's site (its clock alone moves in event time)."""
        site = event.source or ""
        unit = self.units.get(site)
        if unit is None:
            unit = self.unit(site)
        alarms = unit.step(event, now, on_error, wall)
        if alarms or unit.refused:  # the common case, an event applied and nothing raised: nothing to do
            self._collect(unit, alarms)
        return alarms

    def _collect(self, unit: Engine, alarms: list[Alarm]) -> list[Alarm]:
        if unit.outbox:
            unit.outbox.clear()  # kept here, in the order raised across sites
        if alarms:
            self.outbox.extend(alarms)
        if unit.refused:
            self._refusals.extend(unit.take_refusals())
        return alarms

    def advance(self, now: float | None = None) -> list[Alarm]:
        """Every site's timer to ``now`` (the wall clock live; None: each site to its own watermark)."""
        out: list[Alarm] = []
        for _, unit in sorted(self.units.items()):
            out.extend(self._collect(unit, unit.advance(now)))
        return out

    def finish(self) -> list[Alarm]:
        """The end of a replay, for every site (candidates never confirmed are refused)."""
        out: list[Alarm] = []
        for _, unit in sorted(self.units.items()):
            out.extend(self._collect(unit, unit.finish()))
        return out

    def take_refusals(self) -> list[Refusal]:
        out, self._refusals = self._refusals, []
        return out

    def next_deadline(self) -> float | None:
        deadlines = [d for unit in self.units.values() if (d := unit.next_deadline()) is not None]
        return min(deadlines, default=None)

    # ------------------------------------------------------------------ time

    @property
    def max_ts(self) -> float:
        """The newest event time of any site."""
        return max((unit.max_ts for unit in self.units.values()), default=NEG_INF)

    @property
    def watermark(self) -> float:
        """The newest of the sites' watermarks."""
        return self.max_ts - self.config.allowed_lateness_s

    # ------------------------------------------------------------- reading

    def all_counters(self) -> Counter[str]:
        """The pipeline counters of every site, with the inputs that belong to none."""
        total: Counter[str] = Counter(self.counters)
        for unit in self.units.values():
            total.update(unit.counters)
        return total

    def alarms(self) -> list[Alarm]:
        """The alarms every site raised and keeps (``daily_history_days``): each site's in the order it
        raised them, the sites interleaved by time (ties: the site's name), whatever the partitioning."""
        logs = [unit.alarm_log.alarms() for _, unit in sorted(self.units.items())]
        if len(logs) == 1:
            return logs[0]
        return list(heapq.merge(*logs, key=lambda a: a.at))

    def merged(self) -> Engine:
        """One engine holding every site's state (the figures of the whole floor: scorecards, goals)."""
        if len(self.units) == 1:
            return next(iter(self.units.values()))
        out = Engine(self.config)
        for _, unit in sorted(self.units.items()):
            out.absorb(unit)
        out.counters.update(self.counters)
        return out

    def absorb(self, other: Sites) -> None:
        """Fold another coordinator's sites into this one (the read side's union of partitions)."""
        for site, unit in sorted(other.units.items()):
            have = self.units.get(site)
            if have is None:
                self.units[site] = unit
            else:  # a site whose events went to two partitions (its key changed): one floor still
                have.absorb(unit)
                have.alarm_log.entries.update(
                    {f"{k}:{len(have.alarm_log.entries)}": a for k, a in unit.alarm_log.entries.items()})
        self.counters.update(other.counters)

    # ---------------------------------------------------------- persistence

    @property
    def dirty(self) -> dict[str, set[Any]]:
        """The keys changed since the last :meth:`take_dirty`, per container (all sites)."""
        out: dict[str, set[Any]] = {}
        for site, unit in self.units.items():
            for name, keys in unit.dirty.items():
                if keys:
                    out.setdefault(name, set()).update((site, k) for k in keys)
        return out

    def take_dirty(self) -> dict[str, dict[str, bytes | None]]:
        return self._prefixed((site, unit.take_dirty()) for site, unit in self.units.items())

    def export(self) -> dict[str, dict[str, bytes]]:
        whole = self._prefixed((site, dict(unit.export())) for site, unit in self.units.items())
        return {name: {k: v for k, v in items.items() if v is not None} for name, items in whole.items()}

    @staticmethod
    def _prefixed(changes: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, bytes | None]]:
        out: dict[str, dict[str, bytes | None]] = {}
        for site, containers in changes:
            for name, items in containers.items():
                tupled = name in TUPLE_KEYED
                target = out.setdefault(name, {})
                for key, value in items.items():
                    target[site_key(site, key, tupled)] = value
        return out

    def clear_dirty(self) -> None:
        for unit in self.units.values():
            unit.clear_dirty()

    def meta(self) -> dict[str, Any]:
        return {"sites": {site: unit.meta() for site, unit in sorted(self.units.items())},
                "counters": dict(self.counters)}

    @classmethod
    def restore(cls, config: MonitorConfig, meta: dict[str, Any] | None,
                containers: dict[str, dict[Any, bytes]]) -> Sites:
        """The coordinator :meth:`take_dirty` and :meth:`meta` wrote, as a store holds it."""
        out = cls(config)
        per_site: dict[str, dict[str, dict[str, bytes]]] = {}
        for name, items in containers.items():
            tupled = name in TUPLE_KEYED
            for raw_key, value in items.items():
                site, key = split_key(raw_key, tupled)
                per_site.setdefault(site, {}).setdefault(name, {})[key] = value
        metas: dict[str, Any] = (meta or {}).get("sites") or {}
        for site in sorted(set(per_site) | set(metas)):
            out.units[site] = Engine.restore(config.for_site(site), metas.get(site), per_site.get(site, {}),
                                             site=site or None)
        out.counters.update((meta or {}).get("counters") or {})
        return out


def replay_sites(sites: Sites, events: Iterable[Event]) -> Sites:
    """Drive the sites over events in event-time mode (the offline replay)."""
    step = sites.step
    for ev in events:
        step(ev)
    sites.finish()
    return sites
