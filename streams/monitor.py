"""The live driver: the engines of the partitions this worker owns, their batches, timer and snapshots.

It is independent of Faust (the app in :mod:`streams.app` only feeds it), so that the tests can drive
it directly with a memory store and a recording publisher.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Protocol

import orjson

from callwatch.alarm import Alarm
from callwatch.engine.figures import snapshot
from callwatch.settings import ClockMode, Settings
from streams.partition import DeadLetter, PartitionRunner
from streams.state_store import StateStore
from streams.state_upgrade import StateFormatError

log = logging.getLogger("callwatch.worker")


class Publisher(Protocol):
    """Where dead letters and alarms go (Kafka topics in the worker)."""

    async def dead_letters(self, items: list[DeadLetter]) -> None: ...

    async def alarms(self, items: list[Alarm]) -> None: ...


class RecordingPublisher:
    """Keeps what was published, in order: the tests' publisher, and a real class, not a mock."""

    def __init__(self) -> None:
        self.dead: list[DeadLetter] = []
        self.alarm_events: list[Alarm] = []

    async def dead_letters(self, items: list[DeadLetter]) -> None:
        self.dead.extend(items)

    async def alarms(self, items: list[Alarm]) -> None:
        self.alarm_events.extend(items)


class Observer(Protocol):
    """What the metrics want to know about each batch (no-op by default)."""

    def batch(self, seconds: float, applied: int, delays: list[float]) -> None: ...

    def alarms(self, items: list[Alarm]) -> None: ...


class _NoObserver:
    def batch(self, seconds: float, applied: int, delays: list[float]) -> None:
        return None

    def alarms(self, items: list[Alarm]) -> None:
        return None


class MonitorService:
    def __init__(self, settings: Settings, store: StateStore, publisher: Publisher,
                 observer: Observer | None = None, wall: Callable[[], float] = time.time,
                 stop: Callable[[StateFormatError], None] | None = None) -> None:
        self.settings = settings
        #: how to stop the worker when a partition's stored state is in a format it cannot read (the
        #: app sends itself SIGTERM); None: the error is raised to the caller
        self.stop = stop
        #: the error that stopped this worker
        self.fatal: StateFormatError | None = None
        self.store = store
        self.publisher = publisher
        self.observer: Observer = observer or _NoObserver()
        self.wall = wall
        self.topic = settings.events_topic
        self.runners: dict[int, PartitionRunner] = {}
        #: how many messages of a partition lie after an offset (None: unknown); set by the app
        self.behind: Callable[[int, int], int | None] = lambda partition, offset: None
        self.lock = asyncio.Lock()
        self._wake = asyncio.Event()

    @property
    def live(self) -> bool:
        return self.settings.clock is ClockMode.wall

    def now(self) -> float | None:
        """The engine's "now": the wall clock live; None (the watermark) in event-time mode."""
        return self.wall() if self.live else None

    def now_for(self, partition: int, offset: int) -> float | None:
        """The wall clock only once the partition is caught up. A backlog (a restart after downtime, a
        slow consumer) is history: swept on the wall clock, a caller answered in the backlog's later
        events would be declared over the window first — a false page. It goes by event time instead."""
        now = self.now()
        if now is None:
            return None
        behind = self.behind(partition, offset)
        return now if not behind else None

    def _clock_of(self, partition: int) -> Callable[[int], float | None]:
        """The engine's "now" for each record of a partition (see :meth:`now_for`)."""
        return lambda offset: self.now_for(partition, offset)

    async def _runner(self, partition: int) -> PartitionRunner:
        runner = self.runners.get(partition)
        if runner is None:
            runner = await PartitionRunner.open(self.store, self.topic, partition, self.settings.monitor)
            self.runners[partition] = runner
            log.info("partition %d: state loaded, resuming after offset %d", partition, runner.offset)
        return runner

    def _fail(self, exc: StateFormatError) -> None:
        """A partition this worker cannot read: one line in the log, and the worker stops. Starting the
        partition over from an empty state instead would lose its figures without a word."""
        if self.stop is None:
            raise exc
        if self.fatal is None:
            self.fatal = exc
            log.critical("%s", exc)
            self.stop(exc)

    async def assign(self, partitions: Iterable[int]) -> None:
        async with self.lock:
            for p in partitions:
                try:
                    await self._runner(p)
                except StateFormatError as exc:
                    self._fail(exc)
                    return
        self._wake.set()

    async def revoke(self, partitions: Iterable[int]) -> None:
        """Forget partitions another worker now owns: their state is in the store, and their series
        leave this worker's /metrics at once (no stale series)."""
        async with self.lock:
            for p in partitions:
                if self.runners.pop(p, None) is not None:
                    log.info("partition %d revoked", p)

    async def handle(self, batch: dict[int, list[tuple[int, bytes]]]) -> None:
        """Apply one batch: per partition, in offset order; publish; commit state and offset together."""
        started = time.perf_counter()
        applied = 0
        delays: list[float] = []
        async with self.lock:
            for partition, records in batch.items():
                try:
                    runner = await self._runner(partition)
                except StateFormatError as exc:
                    self._fail(exc)
                    # the worker is stopping: wait for it, so that nothing of this batch is acknowledged
                    # to Kafka (its offsets stay for whichever version reads the state, or a rebuild)
                    await asyncio.Event().wait()
                # per record, not per batch: a batch that ends caught up may begin an hour behind, and its
                # early events swept on the wall clock would raise false feed-silent and wait alarms
                if self.live:
                    result = runner.process(records, self._clock_of(partition), wall=self.wall())
                else:
                    result = runner.process(records, None)
                if result.dead_letters:
                    await self.publisher.dead_letters(result.dead_letters)
                if result.alarms:
                    await self._publish_alarms(result.alarms)
                await runner.commit(self.store)
                applied += result.applied
                done = self.wall()
                # in a replay, or a backlog not yet caught up, event times are history: no delay to speak of
                if result.event_times and self.now_for(partition, records[-1][0]) is not None:
                    delays.extend(done - t for t in result.event_times)
        self.observer.batch(time.perf_counter() - started, applied, delays)
        self._wake.set()  # new contacts may have an earlier deadline than the timer's sleep

    async def _publish_alarms(self, alarms: list[Alarm]) -> None:
        for a in alarms:
            log.warning("alarm %s %s %s value=%g threshold=%g (%s)", a.alarm, a.status, a.queue, a.value,
                        a.threshold, a.unit)
        await self.publisher.alarms(alarms)
        self.observer.alarms(alarms)

    async def tick(self) -> None:
        """Run every partition's alarm timer up to now; publish and commit what it decided."""
        async with self.lock:
            for partition, runner in self.runners.items():
                alarms = runner.tick(self.now_for(partition, runner.offset))
                if alarms:
                    await self._publish_alarms(alarms)
                if any(runner.engine.dirty.values()):
                    await runner.commit(self.store)

    def seconds_to_next_deadline(self, ceiling: float = 1.0) -> float:
        if not self.live:
            return ceiling
        # a partition with a backlog is swept by its events (event time), not by this timer
        deadlines = [d for p, r in self.runners.items()
                     if not self.behind(p, r.offset) and (d := r.engine.next_deadline()) is not None]
        if not deadlines:
            return ceiling
        return max(0.0, min(ceiling, min(deadlines) - self.wall()))

    async def run_timer(self) -> None:
        """A timer, not the next event, notices the moment a caller passes the wait window."""
        while True:
            self._wake.clear()
            delay = self.seconds_to_next_deadline()
            if delay > 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)
                    continue  # something changed: recompute the next deadline
                except asyncio.TimeoutError:
                    pass
            await self.tick()
            await asyncio.sleep(0)  # a deadline that is already due must never starve the stream

    async def write_snapshots(self) -> None:
        async with self.lock:
            items = []
            for p, runner in self.runners.items():
                engine = runner.engine
                now = self.wall() if self.live else engine.watermark
                if now == float("-inf"):
                    continue
                snap = snapshot(engine, now)
                snap.update({"partition": p, "clock": self.settings.clock.value, "written_at": self.wall(),
                             "offset": runner.offset})
                items.append((p, orjson.dumps(snap)))
        for p, data in items:
            await self.store.write_snapshot(self.topic, p, data)

    async def run_snapshots(self) -> None:
        while True:
            await asyncio.sleep(self.settings.snapshot_interval_s)
            try:
                await self.write_snapshots()
            except Exception:  # a failing Redis must not stop the timer or the stream
                log.exception("writing the wallboard snapshot failed; retrying in %.1fs",
                              self.settings.snapshot_interval_s)
