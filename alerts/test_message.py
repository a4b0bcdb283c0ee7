"""``callwatch alerts test``: one message, marked as a test, straight to one receiver (no topic)."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import quote

import aiohttp

from alerts.delivery import DeliveryConfig
from alerts.messages import iso
from alerts.receivers import DeliveryError, build_receiver


def make_test_message(queue: str, wallboard_url: str, now: float) -> dict[str, Any]:
    return {
        "v": 1, "id": f"test:{uuid.uuid4().hex}", "key": f"test:{queue}", "alarm": "test", "status": "test",
        "severity": "info", "queue": queue, "title": "Test message from callwatch",
        "summary": f"{queue}: a test of this receiver; no action is needed",
        "at": iso(now), "started_at": iso(now),
        "value": {"oldest_wait_seconds": 0.0}, "threshold": {"wait_window_seconds": 180.0},
        "context": {"waiting": 0, "agents_available": 0, "service_level_last_15m_ratio": None},
        "call_id": None, "link": f"{wallboard_url}?var-queue={quote(queue)}",
    }


async def send_test(config: DeliveryConfig, name: str, queue: str, wallboard_url: str) -> str | None:
    """None when delivered, else why not (secrets removed). Raises ValueError for an unknown receiver."""
    spec = next((r for r in config.receivers if r.name == name), None)
    if spec is None:
        raise ValueError(f"no receiver {name!r}; the config has {[r.name for r in config.receivers]}")
    async with aiohttp.ClientSession() as session:
        receiver = build_receiver(spec, session)
        try:
            await receiver.send(make_test_message(queue, wallboard_url, time.time()))
        except DeliveryError as exc:
            return str(exc)
    return None
