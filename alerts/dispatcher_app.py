"""``callwatch alerts run``: read the alerts topic, deliver each message, commit what is delivered.

Each partition's offset is committed only up to the last message that every receiver has finished
(delivered, found delivered, or dead-lettered); delivered ids are kept in Redis for a week. A
dispatcher restarted mid-incident, or one whose receiver was down for an hour, therefore neither pages
again nor loses the resolve. No page waits for Redis (see :class:`RedisState`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import CollectorRegistry, start_http_server
from redis.exceptions import RedisError

from alerts.delivery import DeliveryConfig, Dispatcher, DispatcherMetrics
from alerts.links import Links
from alerts.receivers import Receiver, build_receiver
from alerts.silences import Silence
from callwatch.alarm import Alarm
from callwatch.settings import Settings
from streams.redis_client import AsyncRedis, async_client

log = logging.getLogger("callwatch.alerts")
DELIVERED_TTL_S = 7 * 86400
#: messages read but not yet finished by every receiver; reading pauses above this
MAX_IN_FLIGHT = 10_000
#: on SIGTERM, how long to let lanes finish before exiting (the rest is read again after a restart)
DRAIN_S = 10.0


class RedisState:
    """The dispatcher's reads and writes of Redis, none of which a page waits for.

    Redis holds the delivered ids (so that a restart does not page twice) and the silences; neither is
    worth holding an alarm for. A call not answered within ``answer_within_s`` counts as failed, and
    after a failure Redis is left alone for ``rest_s`` (a hung Redis would otherwise cost every alarm
    the wait): delivered ids are then remembered here and written when Redis answers again, and the
    silences last read stay in force.
    """

    def __init__(self, client: AsyncRedis, answer_within_s: float = 0.25, rest_s: float = 5.0) -> None:
        self.redis = client
        self.answer_within_s = answer_within_s
        self.rest_s = rest_s
        self._down_until = 0.0

    async def call(self, what: str, command: Any) -> Any:
        """``command()``'s answer, or None when Redis failed to answer in time (or is resting)."""
        if time.monotonic() < self._down_until:
            return None
        task = asyncio.ensure_future(command())
        # not wait_for: cancelling a command stuck on a hung server waits for the client's own clean-up,
        # which is what must not be waited for; the command is left to finish or fail on its own
        done, _ = await asyncio.wait({task}, timeout=self.answer_within_s)
        if not done:
            task.add_done_callback(_forget)
            self._failed(what, "no answer")
            return None
        exc = task.exception()
        if exc is not None:
            if not isinstance(exc, RedisError | OSError):
                raise exc
            self._failed(what, type(exc).__name__)
            return None
        return task.result()

    def _failed(self, what: str, why: str) -> None:
        if self._down_until == 0.0 or time.monotonic() >= self._down_until + self.rest_s:
            log.warning("Redis did not answer (%s: %s); delivering without it for %.0f s", what, why, self.rest_s)
        self._down_until = time.monotonic() + self.rest_s


def _forget(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved: a late failure of a command nobody waits for is not an error


class RedisDeliveredIds:
    """Delivered ids in Redis for a week, and here for as long as this dispatcher runs (bounded)."""

    #: ids remembered in memory; the oldest go first
    LOCAL = 100_000

    def __init__(self, client: AsyncRedis, prefix: str, state: RedisState | None = None) -> None:
        self.redis = client
        self.prefix = prefix
        self.state = state or RedisState(client)
        self._local: dict[str, None] = {}
        self._unwritten: list[str] = []

    def _key(self, receiver: str, message_id: str) -> str:
        return f"{self.prefix}:delivered:{receiver}:{message_id}"

    async def seen(self, receiver: str, message_id: str) -> bool:
        key = self._key(receiver, message_id)
        if key in self._local:
            return True
        return bool(await self.state.call("delivered ids", lambda: self.redis.exists(key)))

    async def mark(self, receiver: str, message_id: str) -> None:
        key = self._key(receiver, message_id)
        self._local[key] = None
        if len(self._local) > self.LOCAL:
            del self._local[next(iter(self._local))]
        self._unwritten.append(key)
        del self._unwritten[:-self.LOCAL]
        await self._write()

    async def _write(self) -> None:
        """Write the ids not yet in Redis (all at once); kept for the next try when Redis does not answer."""
        keys = list(self._unwritten)

        async def write() -> Any:
            pipe = self.redis.pipeline(transaction=False)
            for k in keys:
                pipe.set(k, b"1", ex=DELIVERED_TTL_S)
            return await pipe.execute()

        if keys and await self.state.call("delivered ids", write) is not None:
            del self._unwritten[:len(keys)]


def serve_metrics(settings: Settings, port: int, registry: CollectorRegistry) -> tuple[Any, threading.Thread]:
    """The dispatcher's ``/metrics`` on ``alerts_metrics_host``: loopback unless the deployment opts in
    (the compose file sets 0.0.0.0 for Prometheus in its network), like every callwatch server.
    Returns the server and its thread (``server.shutdown()`` stops it)."""
    return start_http_server(port, addr=settings.alerts_metrics_host, registry=registry)


def load_delivery_config(path: str | Path) -> DeliveryConfig:
    return DeliveryConfig.model_validate(yaml.safe_load(Path(path).read_text()))


class CommitTracker:
    """Per partition, the offsets read and whether each is finished; commits the finished prefix."""

    def __init__(self) -> None:
        self.pending: dict[TopicPartition, deque[tuple[int, asyncio.Future[Any]]]] = {}

    def add(self, tp: TopicPartition, offset: int, done: asyncio.Future[Any]) -> None:
        self.pending.setdefault(tp, deque()).append((offset, done))

    def in_flight(self) -> int:
        return sum(len(q) for q in self.pending.values())

    def oldest(self) -> asyncio.Future[Any] | None:
        return next((q[0][1] for q in self.pending.values() if q), None)

    def committable(self) -> dict[TopicPartition, int]:
        offsets: dict[TopicPartition, int] = {}
        for tp, queue in self.pending.items():
            while queue and queue[0][1].done():
                offsets[tp] = queue.popleft()[0] + 1
        return offsets


def silences_loader(client: AsyncRedis, prefix: str, state: RedisState | None = None) -> Any:
    """The silences, read each second; while Redis does not answer, the last ones read stay in force."""
    state = state or RedisState(client)
    last: list[Silence] = []

    async def load() -> list[Silence]:
        nonlocal last
        raw = await state.call("silences", lambda: client.hgetall(f"{prefix}:silences"))
        if raw is not None:
            last = [Silence.from_json(v) for v in raw.values()]
        return last
    return load


async def run(settings: Settings, config: DeliveryConfig, group: str = "callwatch-alerts-dispatcher",
              stop: asyncio.Event | None = None, metrics_port: int | None = None) -> None:
    if stop is None:
        # SIGTERM stops reading, lets the lanes finish for a few seconds and commits what they
        # finished: a restart then repeats nothing. After a SIGKILL a receiver may see an id twice; it
        # is in the message (and the webhook's X-Callwatch-Id header) for it to drop.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    metrics = DispatcherMetrics()
    if metrics_port:
        serve_metrics(settings, metrics_port, metrics.registry)
    consumer = AIOKafkaConsumer(settings.alerts_topic, bootstrap_servers=settings.kafka_bootstrap, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=50,
                                session_timeout_ms=int(settings.session_timeout_s * 1000),
                                heartbeat_interval_ms=int(settings.session_timeout_s * 200))
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    # a single Redis or a Redis Cluster (``redis+cluster://``): delivered ids and silences are single keys
    client = async_client(settings.redis_url, settings.redis_timeout_s)
    redis_state = RedisState(client)
    delivered = RedisDeliveredIds(client, settings.redis_prefix, redis_state)
    await consumer.start()
    await producer.start()
    tracker = CommitTracker()
    dispatcher: Dispatcher | None = None
    try:
        async with aiohttp.ClientSession() as session:
            receivers: dict[str, Receiver] = {r.name: build_receiver(r, session) for r in config.receivers}

            async def dead_letter(alarm: Alarm, receiver: str, reason: str) -> None:
                body = orjson.dumps({"message": alarm.model_dump(mode="json"), "receiver": receiver,
                                     "reason": reason, "at": time.time()})
                await producer.send_and_wait(f"{settings.alerts_topic}-dead-letters", body,
                                             key=alarm.key.encode())

            async def invalid(raw: bytes, reason: str) -> None:
                # no alarm: kept as it was read (as text), for a person to look at
                body = orjson.dumps({"raw": raw.decode("utf-8", "replace"), "receiver": None, "reason": reason,
                                     "at": time.time()})
                await producer.send_and_wait(f"{settings.alerts_topic}-dead-letters", body)

            dispatcher = Dispatcher(config, receivers, delivered, dead_letter,
                                    silences=silences_loader(client, settings.redis_prefix, redis_state),
                                    metrics=metrics,
                                    links=Links.configured(config.links, settings.wallboard_url), invalid=invalid)
            log.info("delivering %s to %s", settings.alerts_topic, ", ".join(receivers))
            while not stop.is_set():
                if tracker.in_flight() >= MAX_IN_FLIGHT:
                    oldest = tracker.oldest()
                    if oldest is not None:
                        with contextlib.suppress(asyncio.TimeoutError):
                            await asyncio.wait_for(asyncio.shield(oldest), 1.0)
                    batch = {}
                else:
                    batch = await consumer.getmany(timeout_ms=200)
                for tp, records in batch.items():
                    for record in records:
                        tracker.add(tp, record.offset, await dispatcher.submit_raw(record.value or b""))
                offsets = tracker.committable()
                if offsets:
                    await consumer.commit(offsets)
            # drain: give the lanes a moment, then commit whatever they finished
            deadline = time.monotonic() + DRAIN_S
            while tracker.in_flight() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                offsets = tracker.committable()
                if offsets:
                    await consumer.commit(offsets)
            offsets = tracker.committable()
            if offsets:
                await consumer.commit(offsets)
    finally:
        if dispatcher is not None:
            await dispatcher.close()
        await consumer.stop()
        await producer.stop()
        await client.aclose()

