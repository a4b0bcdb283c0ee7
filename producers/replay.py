"""Publish a recorded event log to Kafka, paced by the log's own timestamps.

Events are keyed by their ``source`` (one PBX's events stay in one partition, in order); lines that
are not valid JSON objects are published unchanged, so that the worker dead-letters them with a reason
exactly as it would live input.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import orjson

from alerts.messages import iso
from callwatch.urls import redact_url

log = logging.getLogger("callwatch.replay")

DEFAULT_KEY = b"default"


@dataclass(frozen=True, slots=True)
class Outgoing:
    key: bytes
    value: bytes
    #: event time in POSIX seconds, None for a line that is not a valid event object
    ts: float | None


def _parse_ts(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def prepare(lines: Iterable[bytes], shift_s: float = 0.0) -> Iterator[Outgoing]:
    """Key each line by its source; with ``shift_s``, move its times (``ts``, ``waiting_since``)."""
    for raw in lines:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError:
            yield Outgoing(DEFAULT_KEY, raw, None)
            continue
        if not isinstance(obj, dict):
            yield Outgoing(DEFAULT_KEY, raw, None)
            continue
        ts = _parse_ts(obj.get("ts"))
        source = obj.get("source")
        key = source.encode() if isinstance(source, str) and source else DEFAULT_KEY
        if shift_s and ts is not None:
            obj["ts"] = iso(ts + shift_s)
            since = _parse_ts(obj.get("waiting_since"))
            if since is not None:
                obj["waiting_since"] = iso(since + shift_s)
            raw = orjson.dumps(obj)
            ts += shift_s
        yield Outgoing(key, raw, ts)


@dataclass
class ReplayResult:
    sent: int = 0
    acknowledged: int = 0
    failed: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.acknowledged == self.sent


class BrokerUnavailable(RuntimeError):
    pass


def make_producer(bootstrap: str, wait_s: float = 60.0) -> object:
    """An idempotent producer with acks from all in-sync replicas; waits for the broker up to ``wait_s``."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError
    from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

    UNREACHABLE = (KafkaTimeoutError, KafkaConnectionError)  # kafka-python 3 says "Unable to bootstrap"
    shown = redact_url(bootstrap)

    try:
        for attempt in Retrying(stop=stop_after_delay(wait_s), wait=wait_exponential(multiplier=0.5, max=5),
                                retry=retry_if_exception_type(UNREACHABLE), reraise=True,
                                before_sleep=lambda s: log.warning("broker %s unreachable; retrying", shown)):
            with attempt:
                # a retried send is not written twice (idempotence), and nothing is acknowledged before
                # every in-sync replica has it; sends are retried until delivery_timeout_ms
                return KafkaProducer(
                    bootstrap_servers=bootstrap.split(","), acks="all", enable_idempotence=True, linger_ms=5,
                    retries=2147483647, max_in_flight_requests_per_connection=5, batch_size=256 * 1024,
                    delivery_timeout_ms=120_000, request_timeout_ms=30_000,
                    bootstrap_timeout_ms=int(min(max(wait_s, 1.0), 30.0) * 1000),
                )
    except UNREACHABLE:
        raise BrokerUnavailable(f"no Kafka broker answered at {shown} within {wait_s:.0f}s") from None
    raise AssertionError("unreachable")


def within(items: Iterable[Outgoing], start: float | None, end: float | None) -> Iterator[Outgoing]:
    """The items whose event time is in [start, end); lines without a valid time are left out."""
    for item in items:
        if item.ts is None:
            if start is None and end is None:
                yield item
            continue
        if (start is None or item.ts >= start) and (end is None or item.ts < end):
            yield item


def shift_to(items: Iterable[Outgoing], now: float) -> float:
    """The shift that moves the first item with a time to ``now`` (a replay's --rebase-now); 0 if none has one."""
    first = next((item.ts for item in items if item.ts is not None), None)
    return 0.0 if first is None else now - first


def parse_speed(text: str) -> float | None:
    """A replay's pace as typed: log seconds per wall second ("1" is real time, "60"), or "max" (None: as
    fast as the broker takes them)."""
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError("a number (log seconds per second) or 'max'") from None
    if value <= 0:
        raise ValueError("must be above 0")
    return value


def replay(items: Iterable[Outgoing], producer: object, topic: str, speed: float | None,
           on_sent: Callable[[int], None] | None = None, sleep: Callable[[float], None] = time.sleep,
           clock: Callable[[], float] = time.monotonic) -> ReplayResult:
    """Send every item; ``speed`` None is as fast as possible, else log seconds per wall second."""
    result = ReplayResult()
    started = clock()
    first_ts: float | None = None
    futures = []

    def on_error(exc: BaseException) -> None:
        result.failed += 1
        if result.failed <= 5:
            log.error("an event was not delivered: %s", exc)
        elif result.failed == 6:
            log.error("more events were not delivered; the count follows at the end")

    def on_ok(_: object) -> None:
        result.acknowledged += 1

    for item in items:
        if speed is not None and item.ts is not None:
            if first_ts is None:
                first_ts = item.ts
            due = started + (item.ts - first_ts) / speed
            delay = due - clock()
            if delay > 0:
                sleep(delay)
        fut = producer.send(topic, key=item.key, value=item.value)  # type: ignore[attr-defined]
        fut.add_callback(on_ok)
        fut.add_errback(on_error)
        futures.append(fut)
        result.sent += 1
        if on_sent is not None:
            on_sent(1)
        if len(futures) >= 10_000:
            futures.clear()  # callbacks still count them; keep memory flat on long logs
    producer.flush()  # type: ignore[attr-defined]
    result.seconds = clock() - started
    return result
