"""The live driver and event time: poisoned times become dead letters, the clock is chosen per record, and
an engine failure on one event loses none of the events after it."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

from callwatch.alarm import Alarm
from callwatch.config import MonitorConfig
from callwatch.engine import Engine, Sites
from callwatch.engine.report import report
from callwatch.events import CallAnswered, Event, build, encode
from callwatch.settings import Settings
from streams.monitor import MonitorService, RecordingPublisher
from streams.partition import DeadLetter, PartitionRunner
from streams.state_store import MemoryStateStore
from tests.replay.poisoned import demo_day, poison
from tests.unit.helpers import BASE_TS, ev, metric_samples

CFG = MonitorConfig()
BATCH = 97


def _records(events: list[Event]) -> list[tuple[int, bytes]]:
    return [(offset, encode(e)) for offset, e in enumerate(events)]


def _wall(events: list[Event], clean_ids: set[str], backlog: int) -> dict[int, float | None]:
    """Each record's "now" as a live worker would have it: event time (None) for the first ``backlog``
    clean events (catching up), then the wall clock just after the newest clean event so far."""
    out: dict[int, float | None] = {}
    wall = float("-inf")
    seen = 0
    for offset, e in enumerate(events):
        if e.id in clean_ids:
            seen += 1
            wall = max(wall, e.ts.timestamp() + 0.25)
        out[offset] = None if seen <= backlog else wall
    return out


def _run(runner: PartitionRunner, records: list[tuple[int, bytes]],
         now: Callable[[int], float | None] | None) -> tuple[list[Alarm], list[DeadLetter], MemoryStateStore]:
    async def go() -> tuple[list[Alarm], list[DeadLetter], MemoryStateStore]:
        store = MemoryStateStore()
        alarms: list[Alarm] = []
        dead: list[DeadLetter] = []
        for i in range(0, len(records), BATCH):
            result = runner.process(records[i:i + BATCH], now)
            alarms += result.alarms
            dead += result.dead_letters
            await runner.commit(store)
        return alarms, dead, store
    return asyncio.run(go())


def _without(rep: dict[str, Any], *keys: str) -> dict[str, Any]:
    out = {k: v for k, v in rep.items() if k not in keys}
    if "pipeline" in out:
        out["pipeline"] = {k: v for k, v in out["pipeline"].items() if k not in keys}
    if "sites" in out:  # and each site's report alike
        out["sites"] = {site: _without(part, *keys) for site, part in out["sites"].items()}
    return out


def test_live_poisoned_times_become_dead_letters_and_raise_no_alarm() -> None:
    """A partition fed the poisoned day (its first third as a backlog, by event time, then on the wall
    clock) raises exactly the clean day's alarms and figures; each poisoned event is a dead letter with its
    own bytes, offset and a reason, counted by code."""
    clean = demo_day()
    dirty, codes = poison(clean)
    clean_ids = {e.id for e in clean}
    backlog = len(clean) // 3
    clean_now, dirty_now = _wall(clean, clean_ids, backlog), _wall(dirty, clean_ids, backlog)
    clean_runner = PartitionRunner("t", 0, Sites(CFG))
    clean_alarms, clean_dead, _ = _run(clean_runner, _records(clean), clean_now.__getitem__)
    records = _records(dirty)
    runner = PartitionRunner("t", 0, Sites(CFG))
    alarms, dead, store = _run(runner, records, dirty_now.__getitem__)

    assert clean_dead == [] and alarms == clean_alarms and alarms
    assert _without(report(runner.engine), "invalid") == _without(report(clean_runner.engine), "invalid")
    poisoned = {offset: e.id for offset, e in enumerate(dirty) if e.id in codes}
    assert sorted(d.offset for d in dead) == sorted(poisoned)
    by_id = {poisoned[d.offset]: d for d in dead}
    for offset, event_id in poisoned.items():
        letter = by_id[event_id]
        assert letter.raw == records[offset][1] and letter.reason and "\n" not in letter.reason
        expected = codes[event_id]
        if expected == "clock_jump_unconfirmed" and dirty_now[offset] is not None:
            expected = "ts_ahead_of_wall_clock"  # live, the wall clock refuses it at once
        assert letter.code == expected, (event_id, letter.reason)
    # held in the backlog, then refused: still dead-lettered with its own bytes and offset
    assert any(d.code == "clock_jump_unconfirmed" for d in dead)
    counts = Counter(d.code for d in dead)
    counters = runner.engine.all_counters()
    assert {k.split(":", 1)[1]: v for k, v in counters.items() if k.startswith("invalid:")} == counts
    # the store has what the engine has, held candidates and counters included
    reopened = asyncio.run(PartitionRunner.open(store, "t", 0, CFG))
    assert reopened.offset == len(records) - 1
    assert report(reopened.engine) == report(runner.engine)


class FailingEngine(Engine):
    """A real engine that fails on one event id (an engine bug, injected), after the event is counted."""

    failing_id = ""

    def apply(self, event: Event, ts: float | None = None) -> bool:
        applied = super().apply(event, ts) if event.id != self.failing_id else False
        if event.id == self.failing_id:
            self.counters["events"] += 1  # half-way through, as a bug would leave it
            raise RuntimeError(f"injected failure on {event.id}\nsecond line")
        return applied


def test_an_engine_failure_on_one_event_loses_none_after_it() -> None:
    """The engine raising on one event makes it a dead letter (engine_error, the exception's first line);
    the events after it in the same batch are applied, and their offset is committed with their state."""
    clean = demo_day()
    answers = [i for i, e in enumerate(clean) if isinstance(e, CallAnswered)]
    bad = answers[len(answers) // 2]
    assert bad % BATCH not in (0, BATCH - 1)  # in the middle of its batch
    FailingEngine.failing_id = clean[bad].id
    records = _records(clean)
    sites = Sites(CFG)
    sites.units[clean[bad].source or ""] = FailingEngine(CFG, clean[bad].source)
    runner = PartitionRunner("t", 0, sites)
    _, dead, store = _run(runner, records, None)

    assert [(d.offset, d.code, d.reason, d.raw) for d in dead] == [
        (bad, "engine_error", f"RuntimeError: injected failure on {clean[bad].id}", records[bad][1])]
    assert runner.engine.all_counters()["invalid:engine_error"] == 1
    without_bad = Sites(CFG)
    for e in clean[:bad] + clean[bad + 1:]:
        without_bad.step(e)
    expected = _without(report(without_bad), "log", "pipeline")
    assert _without(report(runner.engine), "log", "pipeline") == expected
    reopened = asyncio.run(PartitionRunner.open(store, "t", 0, CFG))
    assert reopened.offset == len(records) - 1
    assert _without(report(reopened.engine), "log", "pipeline") == expected


def _samples(service: MonitorService) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return metric_samples(service)


def test_catching_up_goes_by_event_time_record_by_record() -> None:
    """A batch that begins an hour behind and ends caught up raises no false feed-silent or wait alarm
    (the clock is chosen per record, not from the batch's last offset); a future time in the backlog is
    refused by the wall clock all the same, and /metrics counts the dead letters by reason."""
    events = [ev("source.heartbeat", t, source="pbx") for t in range(0, 3601, 20)]
    events += [ev("call.queued", 100, call_id="x", queue="q", source="pbx"),
               ev("call.answered", 130, call_id="x", queue="q", agent="a", source="pbx")]
    events.sort(key=lambda e: e.ts)
    middle = len(events) // 2
    events[middle:middle] = [build(type="source.heartbeat", id="p1", ts="1970-01-01T00:00:00Z", source="pbx"),
                             build(type="source.heartbeat", id="p2", ts="2099-01-01T00:00:00Z", source="pbx")]
    records = _records(events)
    last = records[-1][0]

    async def go() -> tuple[RecordingPublisher, MonitorService]:
        svc = MonitorService(Settings(clock="wall"), MemoryStateStore(), publisher := RecordingPublisher(),
                             wall=lambda: BASE_TS + 3601)
        svc.behind = lambda partition, offset: last - offset
        await svc.handle({0: records})
        await svc.tick()
        return publisher, svc

    publisher, svc = asyncio.run(go())
    assert [(a.alarm, a.status) for a in publisher.alarm_events] == []
    assert sorted((d.code, d.offset) for d in publisher.dead) == sorted(
        [("ts_out_of_range", i) for i, e in enumerate(events) if e.id == "p1"]
        + [("ts_ahead_of_wall_clock", i) for i, e in enumerate(events) if e.id == "p2"])
    samples = _samples(svc)
    assert samples[("callwatch_dead_letters_total", (("partition", "0"), ("reason", "ts_out_of_range")))] == 1
    assert samples[("callwatch_dead_letters_total", (("partition", "0"), ("reason", "ts_ahead_of_wall_clock")))] == 1
