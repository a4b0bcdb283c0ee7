"""Faust's Kafka transport with a shorter fetch wait.

faust-streaming's aiokafka driver hard-codes ``fetch_max_wait_ms=1500``. A broker that holds a fetch
for the whole wait when little data arrives (the embedded tansu does) then delays every event of a
quiet floor by up to 1.5 s, which a live wallboard and the 1-second alarm promise cannot afford.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.transport.drivers import aiokafka as driver

FETCH_MAX_WAIT_MS = 50


class _ConsumerThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read by aiokafka when its fetcher starts
        return consumer


class _Consumer(driver.Consumer):
    def _new_consumer_thread(self) -> driver.AIOKafkaConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class _Transport(driver.Transport):
    Consumer = _Consumer


class CallwatchApp(faust.App):
    """A Faust app whose consumer fetches with a short wait (see the module docstring)."""

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)
