"""The live driver: the engines of the partitions this worker owns, their batches, timer and snapshots.

It is independent of Faust (the app in :mod:`streams.app` only feeds it), so that the tests can drive
it directly with a memory store and a recording publisher.

The alarm path does not wait for Redis. The lock that the timer shares with the stream is held only
while an engine changes and its alarms and dead letters are published (to Kafka); writing the state to
Redis happens after, retried until Redis answers. The stream waits for its write (nothing is
acknowledged to Kafka before Redis has it), the timer does not: a caller who crosses the wait window
while Redis hangs is paged on time, from what was applied before. Should the events that wait behind
the write show the caller answered after all, the alarm resolves as soon as they are applied. An alarm
is published before the state that knows of it is written; a worker that dies in between publishes it
again after its restart, with the same id, which the dispatcher delivers once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Protocol, TypeVar

import orjson
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from callwatch.alarm import Alarm
from callwatch.engine.badges import alarm_entry
from callwatch.engine.snapshot import snapshot
from callwatch.settings import ClockMode, Settings
from streams.health import OFFSET_REGRESSION, Health, Probe
from streams.partition import DeadLetter, PartitionRunner
from streams.state_store import StateStore
from streams.state_upgrade import StateFormatError

T = TypeVar("T")

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


async def _nothing_to_restart(partition: int, seek_to: int | None) -> None:
    return None


#: a log seen ending below the applied offset with no record coming is believed after this long: a new
#: leader's high-water mark can lag for a moment after a failover, a recreated topic's does not recover
SHORT_LOG_CONFIRM_S = 2.0
#: batches applied and published while their write to Redis is under way (a hung Redis); beyond, the
#: stream waits: what Kafka will redeliver after a crash stays bounded
MAX_UNWRITTEN_BATCHES = 200


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
        #: the offset the broker will give a partition's next message: its log's end (None: unknown); set by
        #: the app from what its consumer last fetched
        self.log_end: Callable[[int], int | None] = lambda partition: None
        #: make the consumer forget what it read and committed of a partition's old log, and seek to an
        #: offset if one is given; set by the app (nothing to do without a consumer)
        self.restart_consumer: Callable[[int, int | None], Awaitable[None]] = _nothing_to_restart
        #: partitions whose log was seen ending at or below the applied offset, and since when (monotonic)
        self._short_logs: dict[int, float] = {}
        self.lock = asyncio.Lock()
        self._wake = asyncio.Event()
        #: batches applied whose write to Redis (and so their Kafka acknowledgement) is still under way
        self._unwritten: deque[asyncio.Future[None]] = deque()
        self.health = Health(settings, wall)
        self.probe = Probe(settings, self.health, store, lambda: self.runners, self.lag, self.rewrite, wall)
        #: per partition: messages behind when its last batch was applied (see :meth:`lag`)
        self._lag_at_apply: dict[int, int | None] = {}
        self._health_lock = asyncio.Lock()
        self._writes: set[asyncio.Task[None]] = set()

    @property
    def live(self) -> bool:
        return self.settings.clock is ClockMode.wall

    def now(self) -> float | None:
        """The engine's "now": the wall clock live; None (the watermark) in event-time mode."""
        return self.wall() if self.live else None

    def lag(self, partition: int, offset: int) -> int | None:
        """Messages of the partition after ``offset`` — except while the stream waits for the partition's
        write to Redis: what arrived meanwhile is in flight, not history, and the partition counts as far
        behind as it was when its last batch was applied (the timer must not wait for Redis)."""
        runner = self.runners.get(partition)
        if runner is not None and runner.pending and partition in self._lag_at_apply:
            return self._lag_at_apply[partition]
        return self.behind(partition, offset)

    def now_for(self, partition: int, offset: int) -> float | None:
        """The wall clock only once the partition is caught up. A backlog (a restart after downtime, a
        slow consumer) is history: swept on the wall clock, a caller answered in the backlog's later
        events would be declared over the window first — a false page. It goes by event time instead."""
        now = self.now()
        if now is None:
            return None
        behind = self.lag(partition, offset)
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
        for p in partitions:
            if p in self.runners:
                continue
            try:
                # read outside the lock: a slow Redis must not hold the timer of the partitions already here
                runner = await PartitionRunner.open(self.store, self.topic, p, self.settings.monitor)
            except StateFormatError as exc:
                self._fail(exc)
                return
            async with self.lock:
                if p not in self.runners:
                    self.runners[p] = runner
                    log.info("partition %d: state loaded, resuming after offset %d", p, runner.offset)
        self._wake.set()

    async def revoke(self, partitions: Iterable[int]) -> None:
        """Forget partitions another worker now owns: their state is in the store, and their series
        leave this worker's /metrics at once (no stale series)."""
        # What was applied ahead of Redis reaches it before the partition is handed over: the next owner
        # must not load a state that a late write of ours then overwrites. Bounded: a hung Redis must not
        # hold the rebalance past the session (those events stay unacknowledged and are delivered again).
        # A failed write is not raised here; the stream's path takes its result as it always does.
        pending = [task for task in self._unwritten if not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=self.settings.session_timeout_s / 2)
        async with self.lock:
            for p in partitions:
                self._lag_at_apply.pop(p, None)
                self._short_logs.pop(p, None)
                if self.runners.pop(p, None) is not None:
                    log.info("partition %d revoked", p)

    async def handle(self, batch: dict[int, list[tuple[int, bytes]]],
                     acknowledge: Callable[[], Awaitable[None]] | None = None) -> None:
        """Apply one batch: per partition, in offset order; publish; write state and offset together.

        Without ``acknowledge``, returns once Redis holds the batch. With it (the Faust agent), returns
        once the batch is applied and its alarms published, and calls ``acknowledge`` (which lets Kafka
        commit the batch's offsets) once Redis holds it: a Redis that hangs then holds back only the
        commit, while the next events are read and applied and the timer knows their callers. At most
        ``MAX_UNWRITTEN_BATCHES`` wait so; beyond, the stream waits for the oldest.
        """
        started = time.perf_counter()
        applied = 0
        times: list[float] = []
        written: list[PartitionRunner] = []
        async with self.lock:
            for partition, records in batch.items():
                try:
                    runner = await self._runner(partition)
                except StateFormatError as exc:
                    self._fail(exc)
                    # the worker is stopping: wait for it, so that nothing of this batch is acknowledged
                    # to Kafka (its offsets stay for whichever version reads the state, or a rebuild)
                    await asyncio.Event().wait()
                if records and records[0][0] <= runner.offset:
                    await self._check_regression(partition, runner, records[0][0])
                # per record, not per batch: a batch that ends caught up may begin an hour behind, and its
                # early events swept on the wall clock would raise false feed-silent and wait alarms
                if self.live:
                    result = runner.process(records, self._clock_of(partition), wall=self.wall())
                else:
                    result = runner.process(records, None)
                self._lag_at_apply[partition] = self.behind(partition, runner.offset)
                if result.dead_letters:
                    await self._deliver("dead letters", self.publisher.dead_letters, result.dead_letters)
                if result.alarms:
                    await self._publish_alarms(result.alarms)
                runner.capture()
                written.append(runner)
                applied += result.applied
                # in a replay, or a backlog not yet caught up, event times are history: no delay to speak of
                if result.event_times and self.now_for(partition, records[-1][0]) is not None:
                    times.extend(result.event_times)
        self._wake.set()  # new contacts may have an earlier deadline than the timer's sleep
        if acknowledge is None:
            await self._written(written, started, applied, times)
            return
        task = asyncio.ensure_future(self._written(written, started, applied, times, acknowledge))
        self._unwritten.append(task)
        while self._unwritten and self._unwritten[0].done():
            self._unwritten.popleft().result()
        while len(self._unwritten) > MAX_UNWRITTEN_BATCHES:
            await self._unwritten.popleft()

    async def _written(self, written: list[PartitionRunner], started: float, applied: int, times: list[float],
                       acknowledge: Callable[[], Awaitable[None]] | None = None) -> None:
        """Wait until Redis holds what the batch changed (retried until it answers), then acknowledge it."""
        for runner in written:
            await runner.flush(self.store)
        if acknowledge is not None:
            await acknowledge()
        done = self.wall()  # an event's effect counts once it is in Redis
        self.observer.batch(time.perf_counter() - started, applied, [done - t for t in times])

    async def _check_regression(self, partition: int, runner: PartitionRunner, first: int) -> None:
        """A record at or below the applied offset is a redelivery (a restart, a rebalance) while the
        partition's log still holds the applied offset. When the log ends at or before it, the offsets went
        backwards — the topic was deleted and created again, or its log truncated: what it holds now is new,
        and skipping it as applied would drop every event until the offsets pass the old ones."""
        end = self.log_end(partition)
        if end is not None and end <= runner.offset:
            await self._start_over(partition, runner, end, first)

    async def check_offsets(self) -> None:
        """The same with no record coming: the consumer waits at its position in the old log, past the new
        log's end (a broker that does not answer "out of range"), or drops the new log's records as read
        before. Believed once seen for ``SHORT_LOG_CONFIRM_S``; the consumer is then sent to the new log's start."""
        now = time.monotonic()
        for partition, runner in list(self.runners.items()):
            end = self.log_end(partition)
            if end is None or end > runner.offset:
                self._short_logs.pop(partition, None)
                continue
            first_seen = self._short_logs.setdefault(partition, now)
            if now - first_seen < SHORT_LOG_CONFIRM_S:
                continue
            async with self.lock:
                end = self.log_end(partition)
                if self.runners.get(partition) is runner and end is not None and end <= runner.offset:
                    await self._start_over(partition, runner, end, None)
            self._short_logs.pop(partition, None)

    async def _start_over(self, partition: int, runner: PartitionRunner, end: int, first: int | None) -> None:
        """Start the partition over from its new log (its figures kept), tell on-call, and make the consumer
        forget the old log (it would drop the new one's records below what it read, and never commit below
        what it committed); with no record coming (``first`` None), send it to the new log's start."""
        applied = runner.offset
        runner.start_over()
        seen = f"offsets start again at {first}" if first is not None else "no record comes"
        self.health.on(
            OFFSET_REGRESSION,
            f"partition {partition} of {self.topic}: {seen}, its log ends at {end - 1}, below the {applied} "
            f"applied (the topic was deleted and created again, or its log truncated); the partition was "
            f"started over from its new log, its figures kept",
            float(first if first is not None else end), float(applied), unit="events",
            subject=f"{self.topic}:{partition}", metric="offset",
            until=self.wall() + self.settings.health.offset_regression_hold_s)
        await self.restart_consumer(partition, None if first is not None else 0)
        await self.publish_health()

    async def publish_health(self) -> None:
        """Publish the health conditions' alarms, in the order they were raised."""
        async with self._health_lock:
            alarms = self.health.take_alarms()
            if alarms:
                await self._publish_alarms(alarms)

    async def rewrite(self, partitions: Iterable[int]) -> None:
        """Write the whole state of these partitions again, from memory (Redis lost it)."""
        runners = []
        async with self.lock:
            for p in partitions:
                runner = self.runners.get(p)
                if runner is not None and runner.engine.max_ts > float("-inf"):  # else nothing was ever stored
                    runner.capture_whole()
                    runners.append(runner)
        for runner in runners:
            await runner.flush(self.store)
            log.warning("partition %d: whole state written again (offset %d)", runner.partition, runner.offset)

    async def _deliver(self, what: str, send: Callable[[list[T]], Awaitable[None]], items: list[T]) -> None:
        """Publish until the broker acknowledges: a dead letter or an alarm is counted as written (the
        counters are committed with the state, after this) only once it is."""
        async for attempt in AsyncRetrying(
            wait=wait_exponential(multiplier=0.1, max=5.0),
            retry=retry_if_exception_type(Exception),
            before_sleep=lambda state: log.error(
                "publishing %d %s failed (%s); retrying", len(items), what,
                state.outcome.exception() if state.outcome else "?"),
        ):
            with attempt:
                await send(items)

    async def _publish_alarms(self, alarms: list[Alarm]) -> None:
        for a in alarms:
            log.warning("alarm %s %s %s value=%g threshold=%g (%s)", a.alarm, a.status, a.queue,
                        a.value if a.value is not None else float("nan"), a.threshold, a.unit)
        await self._deliver("alarms", self.publisher.alarms, alarms)
        self.observer.alarms(alarms)

    async def tick(self) -> None:
        """Run every partition's alarm timer up to now; publish what it decided, and write it in the
        background (the timer never waits for Redis)."""
        async with self.lock:
            for partition, runner in self.runners.items():
                alarms = runner.tick(self.now_for(partition, runner.offset))
                if alarms:
                    await self._publish_alarms(alarms)
                if any(runner.engine.dirty.values()):
                    runner.capture()
                    self._write_later(runner)

    def _write_later(self, runner: PartitionRunner) -> None:
        task = asyncio.create_task(runner.flush(self.store))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    def seconds_to_next_deadline(self, ceiling: float = 1.0) -> float:
        if not self.live:
            return ceiling
        # a partition with a backlog is swept by its events (event time), not by this timer
        deadlines = [d for p, r in self.runners.items()
                     if not self.lag(p, r.offset) and (d := r.engine.next_deadline()) is not None]
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
        """Each partition's wallboard figures, as of the instant its alarms were decided to, with this
        worker's health. Written every ``snapshot_interval_s``, events or not: ``written_at`` is the
        worker's heartbeat, from which the page and ``callwatch stats`` tell a dead worker from a quiet
        floor (``streams.readout.staleness_s``)."""
        if self.live:
            # the timer up to the wall clock first: the badges then stand at the instant the figures do
            await self.tick()
        health = self.health.report()
        # the worker's own conditions are on the wall clock, whatever clock the figures are on
        pipeline = [{**alarm_entry(c["reason"], c["since"], None, c["detail"], subject=c["subject"]), "clock": "wall"}
                    for c in health["conditions"]]
        async with self.lock:
            items = []
            for p, runner in self.runners.items():
                # each site as of the instant its wait alarm's timer has decided to: the wall clock live
                # (a backlog: its event time), its watermark in a replay
                snap = snapshot(runner.engine, None)
                if not snap["sites"]:
                    continue
                snap["alarms"] = snap["alarms"] + pipeline
                snap.update({"partition": p, "clock": self.settings.clock.value, "written_at": self.wall(),
                             "offset": runner.offset, "worker": health["worker"]})
                items.append((p, orjson.dumps(snap)))
        for p, data in items:
            await self.store.write_snapshot(self.topic, p, data)

    async def run_snapshots(self) -> None:
        while True:
            await asyncio.sleep(self.settings.snapshot_interval_s)
            try:
                await self.write_snapshots()
            except Exception as exc:  # a failing Redis must not stop the timer or the stream
                # one line: Redis down is /healthz's and the alarm's news, not a traceback a second
                log.warning("writing the wallboard snapshot failed (%s: %s); retrying in %.1fs",
                            type(exc).__name__, exc, self.settings.snapshot_interval_s)

    async def run_health(self) -> None:
        """The health probe, and its alarms, until cancelled."""
        while True:
            started = time.monotonic()
            try:
                await self.probe.check()
                await self.check_offsets()
                await self.publish_health()
            except Exception:  # a probe that fails must not stop probing
                log.exception("health check failed")
            await asyncio.sleep(max(0.0, self.settings.health.interval_s - (time.monotonic() - started)))
