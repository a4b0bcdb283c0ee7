"""A broker that goes away mid-replay: nothing is dropped silently."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from callwatch.eventlog import read_raw
from console.embedded import Service, free_port, start_tansu
from producers.replay import make_producer, prepare, replay

pytestmark = pytest.mark.integration
DEMO = Path(__file__).resolve().parents[2] / "producers" / "data" / "demo-day.jsonl.gz"


def test_every_event_is_acknowledged_or_counted_as_failed(tmp_path: Path) -> None:
    """The broker stops for five seconds in the middle of a paced replay; afterwards each event is
    either acknowledged or counted as not delivered, and the result says the replay did not succeed.
    (The embedded broker keeps its data in memory, so after its restart the idempotent producer's
    session is gone and the rest fail: Apache Kafka keeps it, and the producer's retries carry on.)"""
    port = free_port()
    brokers: list[Service] = [start_tansu(port, tmp_path)]
    lines = list(read_raw(DEMO))
    producer = make_producer(brokers[0].url)

    def outage() -> None:
        time.sleep(1.5)
        brokers[0].stop()
        time.sleep(5)
        brokers.append(start_tansu(port, tmp_path))

    thread = threading.Thread(target=outage)
    thread.start()
    try:
        result = replay(prepare(lines), producer, "outage", speed=500.0)
        producer.close()  # type: ignore[attr-defined]
    finally:
        thread.join()
        for b in brokers:
            b.stop()
    assert result.sent == len(lines)
    assert result.acknowledged + result.failed == result.sent
    assert result.acknowledged > 0 and result.failed > 0 and not result.ok
