"""``callwatch alerts test``: one test alarm straight to one receiver (no topic), with its links."""

from __future__ import annotations

import time

import aiohttp

from alerts.delivery import DeliveryConfig
from alerts.links import Links
from alerts.receivers import DeliveryError, build_receiver
from callwatch.alarm import Alarm


def make_test_message(queue: str, now: float) -> Alarm:
    """An ``info`` alarm named ``test`` (headlines say TEST) about ``queue``; no action is needed."""
    return Alarm(alarm="test", status="started", queue=queue, at=now, started_at=now, severity="info",
                 value=0.0, threshold=180.0, unit="seconds", metric="oldest_wait", waiting=0, agents_available=0,
                 service_level=None, detail=f"{queue}: a test of this receiver; no action is needed")


async def send_test(config: DeliveryConfig, name: str, queue: str, wallboard_url: str) -> str | None:
    """None when delivered, else why not (secrets removed). Raises ValueError for an unknown receiver."""
    spec = next((r for r in config.receivers if r.name == name), None)
    if spec is None:
        raise ValueError(f"no receiver {name!r}; the config has {[r.name for r in config.receivers]}")
    alarm = make_test_message(queue, time.time())
    links = Links.configured(config.links, wallboard_url)(alarm)
    async with aiohttp.ClientSession() as session:
        receiver = build_receiver(spec, session)
        try:
            await receiver.send(alarm, links)
        except DeliveryError as exc:
            return str(exc)
    return None
