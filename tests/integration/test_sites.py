"""Many sites on real parts: three sites' days through tansu, a Faust worker and Redis give the report of an
offline replay — the same days, flags and alarms — with a history shorter than the log."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

from callwatch.config import MonitorConfig
from callwatch.eventlog import read_raw, write_events
from callwatch.events import Event
from console.replay import offline_report
from producers.simulator import demo_events
from streams.readout import stored_report
from tests.integration.harness import Stack, Worker, applied_offsets, publish, wait_until_applied

pytestmark = pytest.mark.integration

SITES = ("lisbon", "new-york", "paris")
DAYS = 3
#: the 15-minute history kept (a day): shorter than the log, so every site's older days are rolled up
ENV = {"CALLWATCH_MONITOR__HISTORY_DAYS": "1",
       "CALLWATCH_MONITOR__SITE_TIMEZONES": json.dumps({"new-york": "America/New_York", "paris": "Europe/Paris"})}
MONITOR = MonitorConfig(history_days=1, site_timezones={"new-york": "America/New_York", "paris": "Europe/Paris"})


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for w in started:
        w.stop()


def _sites_log(path: Path) -> int:
    """Three sites' floors, each a few simulated days (a different seed each day), interleaved by time."""
    events: list[Event] = []
    for n, site in enumerate(SITES):
        for day in range(DAYS):
            # days four apart: the first ones' repeat rates and FCR are final (72 h) by the end of the log
            start = datetime(2026, 11, 2, 7, tzinfo=timezone.utc) + timedelta(days=4 * day, hours=3 * n)
            for e in demo_events(start, seed=100 * n + day, hours=3, scale=0.15):
                tag = f"{site}-{day}-"  # the simulator numbers ids and calls from 1 every day
                update: dict[str, Any] = {"source": site, "id": tag + e.id}
                call_id = getattr(e, "call_id", None)
                if call_id:
                    update["call_id"] = tag + call_id
                events.append(e.model_copy(update=update))
    events.sort(key=lambda e: e.ts)
    return write_events(path, events)


def test_three_sites_live_report_equals_offline(kafka_bootstrap: str, redis_url: str, unique: str,
                                                workers: list[Worker], tmp_path: Path, artifacts: Path) -> None:
    """Three sites on two partitions (two share one), a history of one day over three: ``report`` equals
    ``replay --offline --json`` exactly, alarms included, and every site keeps its own queues and days."""
    log = tmp_path / "sites.jsonl.gz"
    n = _sites_log(log)
    stack = Stack(kafka_bootstrap, redis_url, unique, extra_env=ENV)
    workers.append(Worker(stack, tmp_path).start())
    assert publish(stack, read_raw(log)) == n
    wait_until_applied(stack, timeout=300)
    # every record, counted (the broker's end offsets, read once, may not show the last records yet)
    deadline = time.monotonic() + 300
    while sum(o + 1 for o in applied_offsets(stack).values()) < n:
        assert time.monotonic() < deadline, "the worker did not apply every event"
        time.sleep(0.2)
    settings = stack.settings().model_copy(update={"monitor": MONITOR})

    live: dict[str, Any] = stored_report(settings)
    live["alarms"] = [a.model_dump(mode="json") for a in live["alarms"]]  # as `callwatch report` prints them
    offline = offline_report(log, settings)
    if live != offline:  # kept for whoever looks into it
        (artifacts / "sites-live.json").write_bytes(orjson.dumps(live, option=orjson.OPT_SORT_KEYS))
        (artifacts / "sites-offline.json").write_bytes(orjson.dumps(offline, option=orjson.OPT_SORT_KEYS))
    assert orjson.dumps(live, option=orjson.OPT_SORT_KEYS) == orjson.dumps(offline, option=orjson.OPT_SORT_KEYS)

    assert live["log"]["events"] == n and set(live["sites"]) == set(SITES)
    assert {a["site"] for a in live["alarms"]} == set(SITES)
    for site in SITES:  # each site's days are whole days of its own calendar, and more than the history holds
        days = live["sites"][site]["all_queues"]["days"]
        assert len(days) >= DAYS and not days[min(days)]["fcr_provisional"] and days[max(days)]["fcr_provisional"]
    # the same queue name at two sites: two incidents, never one (the site is part of the alarm's key)
    billing = {(a["site"], a["key"]) for a in live["alarms"] if a["queue"] == "billing"}
    assert len({site for site, _ in billing}) >= 2
    assert all(key.endswith(f"@{site}") for site, key in billing)
