"""Delivering alarm messages to people's systems: routing, silences, retries, each id at most once.

Every receiver has its own lane (a queue and a task): a receiver that is down holds back only its own
messages, in order, while the others carry on. A send that fails for a temporary reason (network, 5xx,
429) is retried with exponential backoff for up to ``give_up_after_s`` (an hour by default, so a
receiver down for minutes loses nothing); one that is refused for good (other 4xx, SMTP 5xx) or runs out
of time is handed to the dead-letter callback with the reason and counted, never dropped silently.
A message whose ``id`` was already delivered to a receiver is not sent to it again (a worker or
dispatcher restart repeats nothing), through a store of delivered ids.

Messages are :class:`~callwatch.alarm.Alarm` s (read with :func:`alerts.wire.read_message`: one that is
not a valid alarm is handed to the ``invalid`` callback with its reason, and counted); the dispatcher
adds each alarm's links (``links`` in the config) when it hands it to a receiver.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from pydantic import BaseModel, ConfigDict, Field, model_validator
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_delay, wait_exponential

from alerts.links import Link, Links, LinkSpec
from alerts.receivers import DeliveryError, PermanentDeliveryError, Receiver, ReceiverSpec
from alerts.silences import Silence
from alerts.wire import InvalidMessage, read_message
from callwatch.alarm import Alarm, iso_ms

log = logging.getLogger("callwatch.alerts")


class Route(BaseModel):
    """Messages matching every given field go to ``receivers``; a field left out matches anything."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    receivers: list[str] = Field(min_length=1)
    severities: list[str] | None = None
    queues: list[str] | None = None
    alarms: list[str] | None = None
    #: the sites (an event's ``source``) whose alarms match; ``""`` matches an alarm without a site (events
    #: with no source, the pipeline's own alarms)
    sites: list[str] | None = None
    #: stop at this route when it matches (like Alertmanager's ``continue: false``)
    stop: bool = False

    def matches(self, alarm: Alarm) -> bool:
        # ``queues`` names queues and sources (an agent is not a queue)
        subject = alarm.queue if alarm.subject_kind != "agent" else None
        return ((self.severities is None or alarm.severity in self.severities)
                and (self.queues is None or subject in self.queues)
                and (self.alarms is None or alarm.alarm in self.alarms)
                and (self.sites is None or (alarm.site or "") in self.sites))


class DeliveryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    receivers: list[ReceiverSpec] = Field(min_length=1)
    routes: list[Route] = Field(min_length=1)
    backoff_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=15.0, gt=0)
    #: a message not delivered after this long is dead-lettered
    give_up_after_s: float = Field(default=3600.0, gt=0)
    #: the links added to every alarm (alerts/links.py); none given: the wallboard (``wallboard_url``)
    links: list[LinkSpec] | None = None

    @model_validator(mode="after")
    def _names(self) -> DeliveryConfig:
        names = [r.name for r in self.receivers]
        if len(set(names)) != len(names):
            raise ValueError(f"receiver names must be unique: {names}")
        for i, route in enumerate(self.routes):
            unknown = [n for n in route.receivers if n not in names]
            if unknown:
                raise ValueError(f"routes[{i}] names unknown receivers {unknown}; known: {names}")
        return self


class DeliveredIds(Protocol):
    async def seen(self, receiver: str, message_id: str) -> bool: ...

    async def mark(self, receiver: str, message_id: str) -> None: ...


@dataclass
class MemoryDeliveredIds:
    ids: set[tuple[str, str]] = field(default_factory=set)

    async def seen(self, receiver: str, message_id: str) -> bool:
        return (receiver, message_id) in self.ids

    async def mark(self, receiver: str, message_id: str) -> None:
        self.ids.add((receiver, message_id))


@dataclass(frozen=True)
class DeliveryStats:
    """The dispatcher's counters summed over receivers (read from its metrics, the one account kept)."""

    sent: int = 0
    retried: int = 0
    failed: int = 0
    duplicates: int = 0
    silenced: int = 0


class DispatcherMetrics:
    """The dispatcher's own figures, on its ``/metrics`` (``callwatch alerts run --metrics-port``)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.received = Counter("callwatch_alerts_received", "Alarm messages read from the alerts topic", registry=r)
        self.invalid = Counter("callwatch_alerts_invalid", "Messages on the alerts topic that are no alarm, by "
                               "reason (not_json, invalid, v1_refused); dead-lettered", ["reason"], registry=r)
        self.converted = Counter("callwatch_alerts_v1_converted", "v1 messages (the previous release's) "
                                 "converted to v2", registry=r)
        self.sent = Counter("callwatch_alerts_sent", "Alarm messages delivered, by receiver and status",
                            ["receiver", "status"], registry=r)
        self.retried = Counter("callwatch_alerts_retried", "Sends retried after a temporary failure",
                               ["receiver"], registry=r)
        self.failed = Counter("callwatch_alerts_failed", "Messages dead-lettered (refused, or out of time)",
                              ["receiver"], registry=r)
        self.silenced = Counter("callwatch_alerts_silenced", "Messages held back by a silence", ["receiver"],
                                registry=r)
        self.duplicates = Counter("callwatch_alerts_duplicates", "Messages not sent again: already delivered",
                                  ["receiver"], registry=r)
        self.delay = Histogram("callwatch_alerts_delivery_delay_seconds",
                               "From the alarm's instant (its `at`) to the receiver's acceptance", ["receiver"],
                               buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800),
                               registry=r)
        self.pending = Gauge("callwatch_alerts_pending", "Messages waiting in a receiver's lane", ["receiver"],
                             registry=r)


def parse_iso(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


def incident_id(alarm: Alarm) -> str:
    """One incident of one alarm: its key and when it started (shared by start, repeats and resolve)."""
    return f"incident:{alarm.key}:{iso_ms(alarm.started_at)}"


@dataclass
class _Job:
    alarm: Alarm
    links: tuple[Link, ...]
    done: asyncio.Future[None]
    #: set when a silence holds the message back, so that a resolve goes only to receivers told before
    silenced: bool = False


class Dispatcher:
    def __init__(self, config: DeliveryConfig, receivers: dict[str, Receiver], delivered: DeliveredIds,
                 dead_letter: Callable[[Alarm, str, str], Awaitable[None]],
                 silences: Callable[[], Awaitable[list[Silence]]] | None = None,
                 metrics: DispatcherMetrics | None = None, clock: Callable[[], float] = time.time,
                 links: Links | None = None,
                 invalid: Callable[[bytes, str], Awaitable[None]] | None = None) -> None:
        """``dead_letter(alarm, receiver, reason)`` takes what a receiver refused or never took in time;
        ``invalid(raw, reason)`` a message that is no alarm; ``links`` default to the config's
        (without a wallboard URL: none)."""
        self.config = config
        self.links = links or Links.configured(config.links, "")
        self.invalid = invalid
        self.receivers = receivers
        self.delivered = delivered
        self.dead_letter = dead_letter
        self.load_silences = silences
        self.metrics = metrics or DispatcherMetrics()
        self.clock = clock
        self._lanes: dict[str, asyncio.Queue[_Job]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._silences: list[Silence] = []
        self._silences_at = float("-inf")

    @property
    def stats(self) -> DeliveryStats:
        m = self.metrics

        def total(counter: Counter) -> int:
            return int(sum(s.value for family in counter.collect() for s in family.samples
                           if s.name.endswith("_total")))

        return DeliveryStats(total(m.sent), total(m.retried), total(m.failed), total(m.duplicates),
                             total(m.silenced))

    def targets(self, alarm: Alarm) -> list[str]:
        names: list[str] = []
        for route in self.config.routes:
            if route.matches(alarm):
                names.extend(n for n in route.receivers if n not in names)
                if route.stop:
                    break
        return names

    async def _silence_for(self, alarm: Alarm) -> Silence | None:
        if self.load_silences is None:
            return None
        now = self.clock()
        if now - self._silences_at >= 1.0:  # a silence set from the CLI takes effect within a second
            self._silences = await self.load_silences()
            self._silences_at = now
        return next((s for s in self._silences if s.matches(alarm, now)), None)

    async def submit_raw(self, raw: bytes) -> asyncio.Future[Any]:
        """A message as read from the alerts topic: :meth:`submit` its alarm, or hand it to ``invalid``
        with the reason it is none (the result is then already complete)."""
        try:
            alarm, converted = read_message(raw)
        except InvalidMessage as exc:
            self.metrics.received.inc()
            self.metrics.invalid.labels(exc.kind).inc()
            log.error("alerts topic: a message that is no alarm, not delivered: %s", exc)
            if self.invalid is not None:
                await self.invalid(raw, str(exc))
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            future.set_result(None)
            return future
        if converted:
            self.metrics.converted.inc()
            log.info("alarm %s: a v1 message, converted to v2", alarm.id)
        return await self.submit(alarm)

    async def submit(self, alarm: Alarm) -> asyncio.Future[Any]:
        """Queues ``alarm`` on its receivers' lanes; the result completes once every one of them has
        delivered it, found it delivered before, or dead-lettered it."""
        self.metrics.received.inc()
        silence = await self._silence_for(alarm)
        jobs: list[asyncio.Future[None]] = []
        links: tuple[Link, ...] | None = None
        for name in self.targets(alarm):
            if silence is not None and alarm.status != "resolved":
                self.metrics.silenced.labels(name).inc()
                log.info("alarm %s to %s held back by silence %s (%s)", alarm.id, name, silence.id,
                         silence.reason)
                continue
            if links is None:
                links = self.links(alarm)
            job = _Job(alarm, links, asyncio.get_running_loop().create_future(), silenced=silence is not None)
            self._lane(name).put_nowait(job)
            self.metrics.pending.labels(name).inc()
            jobs.append(job.done)
        return asyncio.gather(*jobs)

    async def deliver(self, alarm: Alarm) -> None:
        await (await self.submit(alarm))

    def _lane(self, name: str) -> asyncio.Queue[_Job]:
        if name not in self._lanes:
            self._lanes[name] = asyncio.Queue()
            self._tasks[name] = asyncio.create_task(self._run_lane(name), name=f"alerts-lane-{name}")
        return self._lanes[name]

    async def _run_lane(self, name: str) -> None:
        lane = self._lanes[name]
        while True:
            job = await lane.get()
            try:
                await self._deliver_one(name, job)
            except Exception as exc:  # a bug in one receiver must not stop the lane or lose the message
                log.exception("alarm %s to %s: unexpected error", job.alarm.id, name)
                await self._dead(name, job.alarm, f"{name}: unexpected {type(exc).__name__}")
            finally:
                self.metrics.pending.labels(name).dec()
                if not job.done.done():
                    job.done.set_result(None)

    async def _dead(self, name: str, alarm: Alarm, reason: str) -> None:
        self.metrics.failed.labels(name).inc()
        log.error("alarm %s not delivered to %s: %s", alarm.id, name, reason)
        await self.dead_letter(alarm, name, reason)

    async def _deliver_one(self, name: str, job: _Job) -> None:
        alarm = job.alarm
        message_id = alarm.id
        if await self.delivered.seen(name, message_id):
            self.metrics.duplicates.labels(name).inc()
            return
        if job.silenced and not await self.delivered.seen(name, incident_id(alarm)):
            # the resolve of an incident this receiver never heard of (its start was silenced)
            self.metrics.silenced.labels(name).inc()
            return
        receiver = self.receivers[name]

        def wait(state: RetryCallState) -> float:
            backoff = wait_exponential(multiplier=self.config.backoff_s, max=self.config.backoff_max_s)(state)
            exc = state.outcome.exception() if state.outcome else None
            asked = exc.retry_after_s if isinstance(exc, DeliveryError) else None
            return max(backoff, asked or 0.0)

        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_delay(self.config.give_up_after_s), wait=wait, reraise=True,
                retry=retry_if_exception(lambda e: isinstance(e, DeliveryError)
                                         and not isinstance(e, PermanentDeliveryError)),
            ):
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        self.metrics.retried.labels(name).inc()
                    await receiver.send(alarm, job.links)
        except DeliveryError as exc:
            await self._dead(name, alarm, str(exc))
            return
        await self.delivered.mark(name, message_id)
        if alarm.status in ("started", "repeated"):
            await self.delivered.mark(name, incident_id(alarm))
        self.metrics.sent.labels(name, alarm.status).inc()
        self.metrics.delay.labels(name).observe(max(0.0, self.clock() - alarm.at))

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()
        self._lanes.clear()
