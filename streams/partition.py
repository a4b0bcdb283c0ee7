"""One partition's driver of the engine: skip what was applied, dead-letter what is invalid, commit.

Nothing here knows Faust or Kafka: it takes ``(offset, bytes)`` records, so the same code runs under
the Faust agent, in the tests with a memory store, and wherever a restart must be proved exact.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field

import orjson
from redis.exceptions import RedisError
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from callwatch.alarm import Alarm
from callwatch.config import MonitorConfig
from callwatch.engine import Engine
from callwatch.events import InvalidEvent, decode
from streams.state_store import StateStore

log = logging.getLogger("callwatch.worker")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An input that is not a valid event, with where it came from and why it was refused."""

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
    #: event time of each applied event, live only (for the end-to-end delay)
    event_times: list[float] = field(default_factory=list)


class PartitionRunner:
    """The engine of one partition and the offset it has applied up to."""

    def __init__(self, topic: str, partition: int, engine: Engine, offset: int = -1) -> None:
        self.topic = topic
        self.partition = partition
        self.engine = engine
        self.offset = offset

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

    def process(self, records: list[tuple[int, bytes]], now: float | None) -> BatchResult:
        """Apply records in offset order. ``now`` is the wall clock live, None in event-time mode."""
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
            result.alarms.extend(engine.step(event, now))
            if now is not None:  # the end-to-end delay means something on the wall clock only
                result.event_times.append(event.ts.timestamp())
            result.applied += 1
        engine.outbox.clear()  # published by the caller; a live engine keeps no alarm history
        return result

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
