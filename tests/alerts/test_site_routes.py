"""Per-site alert routes, end to end: two sites' engines raise alarms on a queue of the same name, the alarms
travel as the alerts topic's JSON, and the dispatcher sends each site's to that site's receiver."""

from __future__ import annotations

import asyncio

import aiohttp
import orjson

from alerts.delivery import DeliveryConfig, Dispatcher, MemoryDeliveredIds
from alerts.receivers import build_receiver
from alerts.wire import read_message
from callwatch.alarm import Alarm
from callwatch.config import MonitorConfig
from callwatch.engine import Sites, replay_sites
from tests.alerts.receiver_kit import HttpReceiver
from tests.unit.helpers import call, ev


async def _nothing(alarm: Alarm, receiver: str, reason: str) -> None:
    raise AssertionError(f"dead letter {reason}")


def _two_sites() -> list[Alarm]:
    """Both sites' "billing" has a caller waiting 10 minutes at the same moments: the same alarms, two sites."""
    events = []
    for site in ("paris", "lyon"):
        events += [e.model_copy(update={"source": site}) for e in call(f"{site}-c", "billing", 0, answered=600)]
        events += [ev("source.heartbeat", t, source=site) for t in range(30, 700, 30)]
    events.sort(key=lambda e: e.ts)
    sites = replay_sites(Sites(MonitorConfig()), events)
    return sites.alarms()


def test_each_site_alarms_reach_the_site_receivers() -> None:
    """A route with ``sites: [paris]`` gets paris's alarms only; lyon's go to lyon's route; an alarm of the
    same queue at the same moment is a different message at each site (neither dropped as a copy)."""
    raised = _two_sites()
    assert {a.site for a in raised} == {"paris", "lyon"}
    assert len({a.id for a in raised}) == len(raised)  # the site is part of the id

    async def go() -> tuple[list[bytes], list[bytes]]:
        paris, lyon = await HttpReceiver().start(), await HttpReceiver().start()
        try:
            async with aiohttp.ClientSession() as session:
                config = DeliveryConfig.model_validate({
                    "receivers": [{"kind": "webhook", "name": "paris", "url": paris.url},
                                  {"kind": "webhook", "name": "lyon", "url": lyon.url}],
                    "routes": [{"receivers": ["paris"], "sites": ["paris"]},
                               {"receivers": ["lyon"], "sites": ["lyon"]}],
                    "backoff_s": 0.02, "backoff_max_s": 0.1})
                d = Dispatcher(config, {s.name: build_receiver(s, session) for s in config.receivers},
                               MemoryDeliveredIds(), _nothing)
                for alarm in raised:
                    # as a worker publishes it and the dispatcher reads it back
                    await d.deliver(read_message(alarm.model_dump_json().encode())[0])
                await d.close()
        finally:
            await paris.stop()
            await lyon.stop()
        return [r.body for r in paris.got], [r.body for r in lyon.got]

    to_paris, to_lyon = asyncio.run(go())
    for got, site in ((to_paris, "paris"), (to_lyon, "lyon")):
        sent = [orjson.loads(body) for body in got]
        assert [m["id"] for m in sent] == [a.id for a in raised if a.site == site]
        assert {m["site"] for m in sent} == {site} and {m["queue"] for m in sent} == {"billing"}
        assert sent[0]["status"] == "started" and sent[-1]["status"] == "resolved"


def test_a_route_for_the_unnamed_site() -> None:
    """``sites: [""]`` matches alarms without a site (events with no source); a named site's do not."""
    config = DeliveryConfig.model_validate({
        "receivers": [{"kind": "webhook", "name": n, "url": "http://x"} for n in ("plain", "paris")],
        "routes": [{"receivers": ["plain"], "sites": [""]}, {"receivers": ["paris"], "sites": ["paris"]}]})
    d = Dispatcher(config, {}, MemoryDeliveredIds(), _nothing)
    plain = Alarm(alarm="wait_window_exceeded", status="started", queue="billing", at=0, started_at=0,
                  severity="critical", value=200.0, threshold=180.0, unit="seconds", metric="oldest_wait",
                  waiting=1, agents_available=0, service_level=None)
    assert d.targets(plain) == ["plain"]
    assert d.targets(plain.model_copy(update={"site": "paris"})) == ["paris"]
    assert plain.key == "wait_window_exceeded:billing"
    assert plain.model_copy(update={"site": "paris"}).key == "wait_window_exceeded:billing@paris"
