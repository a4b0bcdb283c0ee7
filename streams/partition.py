"""One partition's driver of the engine: skip what was applied, dead-letter what is invalid, write.

Nothing here knows Faust or Kafka: it takes ``(offset, bytes)`` records, so the same code runs under
the Faust agent, in the tests with a memory store, and wherever a restart must be proved exact.

Writing is in two steps, so that nothing but the write itself waits for the store: :meth:`capture`
takes the changes (and the offset) at a point of the engine's history, synchronously, and
:meth:`flush` writes what was captured, in order, retrying until the store answers. Captures made while
a write is under way are merged into one pending write (later values win), so a store that hangs for
minutes leaves one write to make, not thousands.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.exceptions import RedisError
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from callwatch.alarm import Alarm
from callwatch.config import MonitorConfig
from callwatch.engine import Sites
from callwatch.engine.eventclock import Refusal
from callwatch.events import Event, InvalidEvent, encode, one_line
from callwatch.intake import admit
from streams.state_store import Changes, StateStore, StoredPartition

log = logging.getLogger("callwatch.worker")

#: a dead letter's code for an event the engine raised an exception on
ENGINE_ERROR = "engine_error"
#: the engine's "now" for a record: the wall clock, None for event time, or a choice per offset
Now = float | None | Callable[[int], float | None]


#: how much of the original a dead letter carries by default (the setting ``dead_letter_original_bytes``)
ORIGINAL_BYTES = 4096


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

    def encode(self, original_bytes: int = ORIGINAL_BYTES) -> bytes:
        """The dead letter's JSON. It always fits a Kafka message, whatever the input's size: the first
        ``original_bytes`` of the original (text, or base64 when that excerpt is not UTF-8), its whole
        length and the SHA-256 of the whole, to find it in the events topic and to tell two apart."""
        excerpt = self.raw[:original_bytes]
        truncated = len(self.raw) > len(excerpt)
        original, encoding = _excerpt_text(excerpt, truncated)
        return orjson.dumps({
            "reason": one_line(self.reason), "code": self.code, "topic": self.topic, "partition": self.partition,
            "offset": self.offset, "original": original, "original_encoding": encoding,
            "original_bytes": len(self.raw), "original_sha256": hashlib.sha256(self.raw).hexdigest(),
            "original_truncated": truncated,
        })

    @property
    def key(self) -> bytes:
        # the source position identifies a dead letter: a redelivery after a crash has the same key
        return f"{self.topic}:{self.partition}:{self.offset}".encode()


def _excerpt_text(excerpt: bytes, truncated: bool) -> tuple[str, str]:
    """The excerpt as text when it is UTF-8 (a cut through the last character is trimmed), else base64."""
    try:
        return excerpt.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        if truncated and exc.end == len(excerpt) and exc.start >= len(excerpt) - 3:
            try:
                return excerpt[:exc.start].decode("utf-8"), "utf-8"
            except UnicodeDecodeError:
                pass
        return base64.b64encode(excerpt).decode(), "base64"


@dataclass
class _Write:
    """Changes (or a whole state) and the offset they bring the store to."""

    changes: Changes
    meta: dict[str, Any]
    offset: int
    #: the whole state, in place of what the store holds (it lost it)
    whole: bool = False

    def then(self, later: _Write) -> _Write:
        """This write followed by ``later``, as one."""
        if later.whole:
            return later
        changes = {name: dict(items) for name, items in self.changes.items()}
        for name, items in later.changes.items():
            target = changes.setdefault(name, {})
            for key, value in items.items():
                if value is None and self.whole:
                    target.pop(key, None)  # a whole state has no deletions to carry
                else:
                    target[key] = value
        return _Write(changes, later.meta, later.offset, self.whole)


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

    def __init__(self, topic: str, partition: int, engine: Sites, offset: int = -1) -> None:
        self.topic = topic
        self.partition = partition
        self.engine = engine
        self.offset = offset
        #: the offset the store is known to hold (written and acknowledged, or loaded); a store whose
        #: offset is found below it has lost state (``streams/health.py``)
        self.written_offset = offset
        #: since when (monotonic) a write has waited for the store; None while none does
        self.writing_since: float | None = None
        #: when (monotonic) the applied offset last moved (or the partition was taken over)
        self.advanced_at = time.monotonic()
        self._pending: _Write | None = None
        self._write_lock = asyncio.Lock()
        #: where the events the event clock holds came from (id -> offset, bytes), for their dead letter
        #: should they be refused later; lost on a restart (the letter then has the event re-encoded)
        self._held_from: dict[str, tuple[int, bytes]] = {}

    @classmethod
    async def open(cls, store: StateStore, topic: str, partition: int, config: MonitorConfig) -> PartitionRunner:
        """The partition's engine from its stored state, as a worker takes the partition over.

        Keys stored under the key schema before the hash tags are renamed to the current ones
        (``StateStore.adopt``) once the state is known to be readable.

        The store brings an older state format to the current one (``streams/state_upgrade.py``); it is
        written back whole before anything is applied, so that the changes of the next batch land on a
        state of their own format. A format this version cannot read raises ``StateFormatError``.
        """
        async for attempt in AsyncRetrying(
            wait=wait_exponential(multiplier=0.1, max=5.0),
            retry=retry_if_exception_type((OSError, RedisError)),
            before_sleep=lambda state: log.warning(
                "partition %d: reading the state failed (%s); retrying", partition,
                state.outcome.exception() if state.outcome else "?"),
        ):
            with attempt:
                stored = await store.load(topic, partition)
                # keys of the old schema (before the hash tags) become the current ones, once the state
                # they hold is known to be readable: this worker's writes must not land beside them
                await store.adopt(topic, partition)
        if stored.upgraded_from is not None:
            await store.replace(topic, partition, stored)
            log.warning("partition %d: state upgraded from format %d to %d", partition, stored.upgraded_from,
                        stored.format)
        engine = Sites.restore(config, stored.meta, stored.containers)
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
                event = admit(raw, engine.config)
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
        if result.skipped < len(records):
            self.advanced_at = time.monotonic()
        return result

    def start_over(self) -> None:
        """Forget the applied offset (the partition's log was deleted and created again: its offsets
        start over, and what it holds now is new). The engine's state stays: its figures go on, and the
        events' ids still drop a duplicate."""
        self.offset = -1
        self.written_offset = -1
        self.advanced_at = time.monotonic()

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

    def capture(self) -> None:
        """Take the engine's changes since the last capture, and the applied offset, as the next write."""
        self._queue(_Write(self.engine.take_dirty(), self.engine.meta(), self.offset))

    def capture_whole(self) -> None:
        """Take the whole state as the next write, in place of whatever the store holds (it lost it)."""
        changes: Changes = {name: dict(items) for name, items in self.engine.export().items()}
        self._queue(_Write(changes, self.engine.meta(), self.offset, whole=True))

    def _queue(self, write: _Write) -> None:
        self._pending = write if self._pending is None else self._pending.then(write)

    @property
    def pending(self) -> bool:
        """Whether something captured is not yet acknowledged by the store."""
        return self._pending is not None or self.writing_since is not None

    async def flush(self, store: StateStore) -> None:
        """Write what was captured, in order; a failing store is retried until it answers.

        Returns once everything captured before the call is in the store. The caller that waits decides
        what waits with it: the stream does (nothing is acknowledged to Kafka before the store has it),
        the alarm timer does not.
        """
        async with self._write_lock:
            while self._pending is not None:
                write, self._pending = self._pending, None
                self.writing_since = time.monotonic()
                try:
                    await self._write(store, write)
                except BaseException:
                    # cancelled (the worker stops): keep it, in front of what was captured meanwhile
                    self._pending = write if self._pending is None else write.then(self._pending)
                    raise
                finally:
                    self.writing_since = None
                self.written_offset = write.offset

    async def _write(self, store: StateStore, write: _Write) -> None:
        async for attempt in AsyncRetrying(
            wait=wait_exponential(multiplier=0.1, max=5.0),
            retry=retry_if_exception_type((OSError, RedisError)),
            before_sleep=lambda state: log.warning(
                "partition %d: state store write failed (%s); retrying", self.partition,
                state.outcome.exception() if state.outcome else "?"),
        ):
            with attempt:
                if write.whole:
                    await store.replace(self.topic, self.partition, StoredPartition(
                        self.partition, write.offset, write.meta,
                        {name: {k: v for k, v in items.items() if v is not None}
                         for name, items in write.changes.items()}))
                else:
                    await store.commit(self.topic, self.partition, write.changes, write.meta, write.offset)

    async def commit(self, store: StateStore) -> None:
        """Capture and write the changes and offset: what a batch does; a failing store is retried until it
        answers. The stream waits meanwhile (its lag shows on the dashboard): nothing is dropped, and the
        changes are taken once, so a retry writes exactly what the failed attempt tried to."""
        self.capture()
        await self.flush(store)
