"""The Faust application: a thin loop that feeds the monitor service and serves /metrics.

Built by :func:`create_app` from one :class:`Settings`; nothing connects or registers at import.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

import faust
from faust.types import TP
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from callwatch.alarm import Alarm
from callwatch.settings import Settings
from streams.metrics import MonitorCollector, WorkerMetrics
from streams.monitor import MonitorService
from streams.partition import DeadLetter
from streams.state_store import RedisStateStore, StateStore
from streams.state_upgrade import StateFormatError
from streams.transport import CallwatchApp

log = logging.getLogger("callwatch.worker")


class KafkaPublisher:
    """Dead letters and alarms to their topics, waiting for the broker's acknowledgement of each."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def _send_all(self, topic: str, items: list[tuple[bytes, bytes]]) -> None:
        producer = self.app.producer
        futures = [await producer.send(topic, key, value, None, None, None) for key, value in items]
        await asyncio.gather(*futures)

    async def dead_letters(self, items: list[DeadLetter]) -> None:
        for d in items:
            log.info("dead letter partition=%d offset=%d (%d bytes) %s: %s", d.partition, d.offset, len(d.raw),
                     d.code, d.reason)
        # bounded (an excerpt of the original): a dead letter always fits the broker's message size
        size = self.settings.dead_letter_original_bytes
        await self._send_all(self.settings.dead_letter_topic, [(d.key, d.encode(size)) for d in items])

    async def alarms(self, items: list[Alarm]) -> None:
        # the alarm's own JSON (v2); the dispatcher adds the links
        await self._send_all(self.settings.alerts_topic,
                             [(a.key.encode(), a.model_dump_json().encode()) for a in items])


def create_app(settings: Settings, store: StateStore | None = None, registry: CollectorRegistry | None = None,
               datadir: Path | None = None) -> tuple[faust.App, MonitorService]:
    """The worker's Faust app and its monitor. Faust's data directory goes in ``settings.data_dir``, else
    in ``datadir`` (run_worker's temporary one); never in the current directory, Faust's default, where
    every worker left a ``{app_id}-data/`` behind."""
    data_root = settings.data_dir or datadir
    if data_root is None:
        raise ValueError("create_app needs a data directory: settings.data_dir or datadir")
    app = CallwatchApp(
        settings.app_id,
        datadir=str(data_root / f"{settings.app_id}-data"),
        broker=[f"kafka://{h.strip()}" for h in settings.kafka_bootstrap.split(",")],
        value_serializer="raw",
        key_serializer="raw",
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        topic_partitions=settings.topic_partitions,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # our own offsets in Redis are the truth; Kafka's commits only save re-reading
        broker_commit_interval=2.0,
        stream_buffer_maxsize=max(4096, settings.batch_max * 2),
        store="memory://",
        # a joining member waits for the group's rebalance; short timeouts make a restarted worker
        # (and the embedded broker, which waits them out) resume in seconds, not a minute
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.session_timeout_s / 5,
        broker_rebalance_timeout=settings.session_timeout_s,
        loghandlers=[],
        # the worker's web server serves /metrics and /healthz, nothing else: Faust's own pages would show
        # its tables, the cluster's topology and its sensors to whoever reaches the port
        web_router_enabled=False,
        web_tables_enabled=False,
        web_graph_enabled=False,
        web_stats_enabled=False,
        web_metrics_enabled=False,
    )
    store = store or RedisStateStore(settings.redis_url, settings.redis_prefix,
                                     retention_days=settings.monitor.agent_history_days + 1,
                                     timeout_s=settings.redis_timeout_s)
    registry = registry or CollectorRegistry()
    metrics = WorkerMetrics(registry)

    def stop(exc: StateFormatError) -> None:
        # as a supervisor would: the worker leaves its group and exits (run_worker gives the exit code)
        os.kill(os.getpid(), signal.SIGTERM)

    service = MonitorService(settings, store, KafkaPublisher(app, settings), observer=metrics, stop=stop)
    # internal: Faust declares it (with these partitions) before it subscribes. A topic only subscribed to
    # is never declared, and the broker creates it on the first request with its own default count, which
    # is how CALLWATCH_TOPIC_PARTITIONS came to be ignored. An existing topic is left as it is.
    events_topic = app.topic(settings.events_topic, value_serializer="raw", key_serializer="raw",
                             partitions=settings.topic_partitions, internal=True)
    side_topics = [app.topic(settings.dead_letter_topic, value_serializer="raw", key_serializer="raw",
                             partitions=1),
                   app.topic(settings.alerts_topic, value_serializer="raw", key_serializer="raw",
                             partitions=1)]

    def lag(partition: int, applied: int) -> int | None:
        try:
            high = app.consumer.highwater(TP(settings.events_topic, partition))
        except Exception:  # not assigned yet, or no fetch so far
            return None
        return None if high is None else max(0, high - applied - 1)

    def log_end(partition: int) -> int | None:
        try:
            high = app.consumer.highwater(TP(settings.events_topic, partition))
        except Exception:  # not assigned yet, or no fetch so far
            return None
        return high if isinstance(high, int) and high >= 0 else None

    async def restart_consumer(partition: int, seek_to: int | None) -> None:
        tp = TP(settings.events_topic, partition)
        consumer = app.consumer
        # what Faust does for a partition revoked: forget the offsets read, acknowledged and committed in the
        # old log. Remembered, they make Faust drop the new log's records below the last one read, and never
        # commit an offset below its last commit (a restart would then skip the new log's first records)
        for memory in ("_gap", "_acked", "_acked_index", "_read_offset", "_committed_offset"):
            getattr(consumer, memory).pop(tp, None)
        if seek_to is not None:
            await consumer.seek_wait({tp: seek_to})

    registry.register(MonitorCollector(service, lag))
    service.behind = lag
    service.log_end = log_end
    service.restart_consumer = restart_consumer

    @app.agent(events_topic, name="callwatch.monitor")
    async def monitor(stream: faust.StreamT[Any]) -> None:
        # take_events is faust-streaming's, missing from its StreamT stub
        take = stream.take_events  # type: ignore[attr-defined]
        async for events in take(settings.batch_max, within=settings.batch_within_s):
            batch: dict[int, list[tuple[int, bytes]]] = {}
            for ev in events:
                msg = ev.message
                batch.setdefault(msg.tp.partition, []).append((msg.offset, msg.value))
            for records in batch.values():
                records.sort()
            # held past take_events' own acknowledgement: Kafka commits the batch once Redis holds its
            # state (see MonitorService.handle), while the next batches are read and applied meanwhile
            held = list(events)
            for ev in held:
                ev.message.incref()

            async def acknowledge(held: list[Any] = held) -> None:
                for ev in held:
                    await stream.ack(ev)

            await service.handle(batch, acknowledge)

    @app.task  # type: ignore[untyped-decorator]
    async def declare_side_topics() -> None:
        for t in side_topics:
            await t.maybe_declare()

    @app.task  # type: ignore[untyped-decorator]
    async def alarm_timer() -> None:
        await service.run_timer()

    @app.task  # type: ignore[untyped-decorator]
    async def snapshots() -> None:
        await service.run_snapshots()

    @app.task  # type: ignore[untyped-decorator]
    async def health_probe() -> None:
        await service.run_health()

    async def on_assigned(sender: Any, assigned: set[TP], **kwargs: Any) -> None:
        await service.assign(tp.partition for tp in assigned if tp.topic == settings.events_topic)

    async def on_revoked(sender: Any, revoked: set[TP], **kwargs: Any) -> None:
        await service.revoke(tp.partition for tp in revoked if tp.topic == settings.events_topic)

    # faust's signal stubs want a ``signal`` keyword that it passes through **kwargs
    app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]
    app.on_partitions_revoked.connect(on_revoked)  # type: ignore[arg-type]

    @app.page("/metrics")
    async def metrics_page(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(registry), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/healthz")
    async def health(web: Any, request: Any) -> Any:
        # 503 with the reasons while a condition is on (streams/health.py), 200 otherwise
        body = {**service.health.report(), "partitions": sorted(service.runners)}
        return web.json(body, status=200 if body["ok"] else 503)

    return app, service


def check_stored_formats(settings: Settings) -> None:
    """Before the worker joins its group: every partition's state in Redis is in a format this version
    reads (``streams/state_upgrade.py``), else a one-line error naming the rebuild command, and exit 2.

    An unreachable Redis is not this check's business: the worker starts as it always did.
    """
    from redis.exceptions import RedisError

    async def check() -> None:
        store = RedisStateStore(settings.redis_url, settings.redis_prefix)
        try:
            await store.stored_formats(settings.events_topic)
        finally:
            await store.close()

    try:
        asyncio.run(check())
    except StateFormatError as exc:
        print(f"callwatch worker: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except (RedisError, OSError) as exc:
        log.warning("could not check the stored state's format in Redis (%s); checking each partition as "
                    "it is assigned", exc)


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run the worker in the foreground until interrupted.

    Exits 2 when a partition's state is in a format this version cannot read: at start (one line), or
    when a rebalance hands it such a partition (one line in the log, then a clean stop).
    """
    from faust.worker import Worker

    check_stored_formats(settings)
    if settings.data_dir is not None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    # the tables are in memory: Faust's data directory holds nothing that outlives the worker
    scratch = contextlib.nullcontext(None) if settings.data_dir else tempfile.TemporaryDirectory(
        prefix="callwatch-worker-")
    with scratch as tmp:
        app, service = create_app(settings, datadir=None if tmp is None else Path(tmp))
        worker = Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
        try:
            worker.execute_from_commandline()
        except SystemExit:
            if service.fatal is not None:
                raise SystemExit(2) from None
            raise
