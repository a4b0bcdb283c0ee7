"""The worker's snapshot is its heartbeat: rewritten with a new ``written_at`` whether events came or not,
as of the instant the alarms were decided to, and the readers' staleness is measured from it."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from callwatch.events import encode
from callwatch.settings import ClockMode, Settings
from streams.monitor import MonitorService, RecordingPublisher
from streams.readout import merge_snapshots, staleness_s
from streams.state_store import MemoryStateStore
from tests.unit.helpers import BASE_TS, ev


def test_a_quiet_floor_keeps_writing_its_heartbeat_and_a_live_snapshot_stands_at_the_timer() -> None:
    """No event between two snapshots: the second still has a newer ``written_at`` (a quiet night is not
    stale); live, the snapshot's ``now`` is the wall clock the timer swept to, and the badge of a caller
    who crossed the window meanwhile is already on it."""
    clock = [BASE_TS + 100]
    store = MemoryStateStore()
    settings = Settings(clock=ClockMode.wall, events_topic="events")
    service = MonitorService(settings, store, RecordingPublisher(), wall=lambda: clock[0])

    async def go() -> list[dict[str, object]]:
        queued = ev("call.queued", 100, call_id="c1", queue="billing", source="pbx")
        await service.handle({0: [(0, encode(queued))]})
        out = []
        for step in (0.0, 200.0):  # the second time, 300 s after the caller queued: over the window
            clock[0] += step
            await service.write_snapshots()
            out.append(orjson.loads((await store.snapshots("events"))[0]))
        return out

    first, second = asyncio.run(go())
    assert second["written_at"] == first["written_at"] + 200  # type: ignore[operator]
    assert second["now"] == pytest.approx(BASE_TS + 300)
    billing = second["sites"]["pbx"]["queues"]["billing"]  # type: ignore[index]
    assert billing["oldest_wait"] == pytest.approx(200.0)
    assert [a["label"] for a in billing["alarms"]] == ["WAIT"]


def test_staleness_is_the_age_of_the_newest_snapshot() -> None:
    """Wall seconds since the newest partition's write; None when nothing was ever written."""
    def snap(p: int, written: float) -> bytes:
        return orjson.dumps({"now": written, "clock": "wall", "written_at": written, "offset": 1, "queues": {},
                             "alarms": [], "agents": {"counts": {}, "listed": []}})

    merged = merge_snapshots({0: snap(0, 1000.0), 1: snap(1, 1004.0)})
    assert staleness_s(merged, 1010.0) == pytest.approx(6.0)
    assert staleness_s(merge_snapshots({}), 1010.0) is None
