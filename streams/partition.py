"""One partition's driver of the engine: skip what was applied, dead-letter what is invalid, commit.

Nothing here knows Faust or Kafka: it takes ``(offset, bytes)`` records, so the same code runs under
the Faust agent, in the tests with a memory store, and wherever a restart must be proved exact.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
from redis.exceptions import RedisError
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from callwatch.alarm import Alarm
from callwatch.config import MonitorConfig
from callwatch.engine import Engine
from callwatch.engine.eventclock import Refusal
from callwatch.events import Event, InvalidEvent, decode, encode
from streams.state_store import StateStore

log = logging.getLogger("callwatch.worker")

#: a dead letter's code for an event the engine raised an exception on
ENGINE_ERROR = "engine_error"
#: the engine's "now" for a record: the wall clock, None for event time, or a choice per offset
Now = float | None | Callable[[int], float | None]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An input refused (not a valid event, a time not believable, an engine error), with where it came
    from and why."""

    raw: bytes
    reason: str
    code: str
    topic: str
    partition: int
    offset: int

    def encode(self) -> bytes:
        try:
            original, encoding = self.raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            original, encoding = base64.b64encode(self.raw).decode(), "base64"
        return orjson.dumps({
            "reason": self.reason, "code": self.code, "topic": self.topic, "partition": self.partition,
            "offset": self.offset, "original": original, "original_encoding": encoding,
        })

    @property
    def key(self) -> bytes:
        # the source position identifies a dead letter: a redelivery after a crash has the same key
        return f"{self.topic}:{self.partition}:{self.offset}".encode()


@dataclass
class BatchResult:
    applied: int = 0
    skipped: int = 0
    alarms: list[Alarm] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    #: event time of each applied (not refused) event, live only (for the end-to-end delay)
    event_times: list[float] = field(default_factory=list)


class PartitionRunner:
    """The engine of one partition and the offset it has applied up to."""

    def __init__(self, topic: str, partition: int, engine: Engine, offset: int = -1) -> None:
        self.topic = topic
        self.partition = partition
        self.engine = engine
        self.offset = offset
        #: where the events the event clock holds came from (id -> offset, bytes), for their dead letter
        #: should they be refused later; lost on a restart (the letter then has the event re-encoded)
        self._held_from: dict[str, tuple[int, bytes]] = {}

    @classmethod
    async def open(cls, store: StateStore, topic: str, partition: int, config: MonitorConfig) -> PartitionRunner:
        """The partition's engine from its stored state, as a worker takes the partition over.

        The store brings an older state format to the current one (``streams/state_upgrade.py``); it is
        written back whole before anything is applied, so that the changes of the next batch land on a
        state of their own format. A format this version cannot read raises ``StateFormatError``.
        """
        stored = await store.load(topic, partition)
        if stored.upgraded_from is not None:
            await store.replace(topic, partition, stored)
            log.warning("partition %d: state upgraded from format %d to %d", partition, stored.upgraded_from,
                        stored.format)
        engine = Engine.restore(config, stored.meta, stored.containers)
        return cls(topic, partition, engine, stored.offset)

    def process(self, records: list[tuple[int, bytes]], now: Now, wall: float | None = None) -> BatchResult:
        """Apply records in offset order. ``now`` is the wall clock live, None in event-time mode, or a
        function of the offset choosing one of them per record (a backlog goes by event time); ``wall``,
        live, is the wall clock all the same (no event ahead of it is believed, backlog or not).

        Nothing one record does stops the next: an invalid record, an event whose time is not
        believable and an event the engine raises on each become a dead letter, and the batch goes on.
        """
        result = BatchResult()
        engine = self.engine
        counters = engine.counters
        for offset, raw in records:
            if offset <= self.offset:
                result.skipped += 1  # applied before a restart: already in the stored state
                continue
            self.offset = offset
            try:
                event = decode(raw)
            except InvalidEvent as exc:
                counters[f"invalid:{exc.code}"] += 1
                result.dead_letters.append(
                    DeadLetter(raw, exc.reason, exc.code, self.topic, self.partition, offset))
                continue
            at = now(offset) if callable(now) else now
            failed: list[tuple[Event, Exception]] = []
            try:
                result.alarms.extend(engine.step(event, at, lambda e, exc: failed.append((e, exc)), wall))  # noqa: B023
            except Exception as exc:  # outside applying an event (in the event clock, say): this event's
                failed.append((event, exc))
            refusals = engine.take_refusals()
            if (refusals or failed or self._held_from or engine.clock.held_count) and self._letters(
                    event, offset, raw, refusals, failed, result):
                continue  # refused or failed itself: not applied
            if now is not None:  # the end-to-end delay means something on the wall clock only
                result.event_times.append(event.ts.timestamp())
            result.applied += 1
        engine.outbox.clear()  # published by the caller; a live engine keeps no alarm history
        return result

    def _letters(self, event: Event, offset: int, raw: bytes, refusals: list[Refusal],
                 failed: list[tuple[Event, Exception]], result: BatchResult) -> bool:
        """Dead letters for what the engine refused or failed on, and where the held events came from.

        True when the record's own event was refused or failed."""
        own = False
        for ev, exc in failed:
            self.engine.counters[f"invalid:{ENGINE_ERROR}"] += 1
            text = f"{type(exc).__name__}: {exc}".splitlines()[0][:500]
            log.error("partition %d offset %d: the engine failed on event %s; dead-lettered", self.partition,
                      offset, ev.id, exc_info=exc)
            result.dead_letters.append(self._letter(ev, event, offset, raw, text, ENGINE_ERROR))
            own = own or ev is event
        for r in refusals:
            result.dead_letters.append(self._letter(r.event, event, offset, raw, r.reason, r.code))
            own = own or r.event is event
        clock = self.engine.clock
        if clock.held_count or self._held_from:
            held = clock.held_ids()
            if event.id in held:
                self._held_from[event.id] = (offset, raw)
            if len(self._held_from) > len(held):  # some were released since: forget them
                self._held_from = {k: v for k, v in self._held_from.items() if k in held}
        return own

    def _letter(self, ev: Event, current: Event, offset: int, raw: bytes, reason: str, code: str) -> DeadLetter:
        if ev is current:
            return DeadLetter(raw, reason, code, self.topic, self.partition, offset)
        known = self._held_from.pop(ev.id, None)
        if known is not None:
            return DeadLetter(known[1], reason, code, self.topic, self.partition, known[0])
        # held before a restart: its bytes are re-encoded, and it is keyed by the record that decided on it
        return DeadLetter(encode(ev), reason, code, self.topic, self.partition, offset)

    def tick(self, now: float | None) -> list[Alarm]:
        """The timer: alarms that fall due with no event arriving."""
        alarms = self.engine.advance(now)
        self.engine.outbox.clear()
        return alarms

    async def commit(self, store: StateStore) -> None:
        """Write the batch's changes and offset; a failing store is retried until it answers.

        The stream waits meanwhile (its lag shows on the dashboard): nothing is dropped, and the
        changes are taken once, so a retry writes exactly what the failed attempt tried to.
        """
        changes, meta, offset = self.engine.take_dirty(), self.engine.meta(), self.offset
        async for attempt in AsyncRetrying(
            wait=wait_exponential(multiplier=0.1, max=5.0),
            retry=retry_if_exception_type((OSError, RedisError)),
            before_sleep=lambda state: log.warning(
                "partition %d: state store write failed (%s); retrying", self.partition,
                state.outcome.exception() if state.outcome else "?"),
        ):
            with attempt:
                await store.commit(self.topic, self.partition, changes, meta, offset)
