"""``callwatch alerts run``: read the alerts topic, deliver each message, then commit its offset.

Offsets are committed only after delivery (or dead-lettering), and delivered ids are kept in Redis
for a week, so a dispatcher restarted mid-incident neither pages again nor loses the resolve.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import redis.asyncio as aioredis
import yaml
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from alerts.delivery import DeliveryConfig, Dispatcher, Receiver, WebhookReceiver
from callwatch.settings import Settings

log = logging.getLogger("callwatch.alerts")
DELIVERED_TTL_S = 7 * 86400


class RedisDeliveredIds:
    def __init__(self, url: str, prefix: str) -> None:
        self.redis = aioredis.Redis.from_url(url)
        self.prefix = prefix

    def _key(self, receiver: str, message_id: str) -> str:
        return f"{self.prefix}:delivered:{receiver}:{message_id}"

    async def seen(self, receiver: str, message_id: str) -> bool:
        return bool(await self.redis.exists(self._key(receiver, message_id)))

    async def mark(self, receiver: str, message_id: str) -> None:
        await self.redis.set(self._key(receiver, message_id), b"1", ex=DELIVERED_TTL_S)

    async def close(self) -> None:
        await self.redis.aclose()


def load_delivery_config(path: str | Path) -> DeliveryConfig:
    return DeliveryConfig.model_validate(yaml.safe_load(Path(path).read_text()))


async def run(settings: Settings, config: DeliveryConfig, group: str = "callwatch-alerts-dispatcher",
              stop: asyncio.Event | None = None) -> None:
    if stop is None:
        # SIGTERM finishes the message in hand (delivered, marked, committed) before exiting: a
        # restart then repeats nothing. After a SIGKILL the receiver may see an id twice; it is in
        # the X-Callwatch-Id header for it to drop.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    consumer = AIOKafkaConsumer(settings.alerts_topic, bootstrap_servers=settings.kafka_bootstrap, group_id=group,
                                enable_auto_commit=False, auto_offset_reset="earliest", fetch_max_wait_ms=50,
                                session_timeout_ms=int(settings.session_timeout_s * 1000),
                                heartbeat_interval_ms=int(settings.session_timeout_s * 200))
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    delivered = RedisDeliveredIds(settings.redis_url, settings.redis_prefix)
    await consumer.start()
    await producer.start()
    try:
        async with aiohttp.ClientSession() as session:
            receivers: dict[str, Receiver] = {r.name: WebhookReceiver(r, session) for r in config.receivers}

            async def dead_letter(message: dict[str, Any], receiver: str, reason: str) -> None:
                body = orjson.dumps({"message": message, "receiver": receiver, "reason": reason})
                await producer.send_and_wait(f"{settings.alerts_topic}-dead-letters", body,
                                             key=str(message.get("key", "")).encode())

            dispatcher = Dispatcher(config, receivers, delivered, dead_letter)
            log.info("delivering %s to %s", settings.alerts_topic, ", ".join(receivers))
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    for record in records:
                        try:
                            message = orjson.loads(record.value)
                        except orjson.JSONDecodeError:
                            log.error("alerts topic: offset %d is not JSON; skipped", record.offset)
                            continue
                        await dispatcher.deliver(message)
                if batch:
                    await consumer.commit()
    finally:
        await consumer.stop()
        await producer.stop()
        await delivered.close()
