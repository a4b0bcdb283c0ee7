"""The Prometheus export across workers: what each exports adds up to one worker's, and a revoked
partition's series leave at once."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime, timezone

from callwatch.events import encode
from callwatch.settings import Settings
from producers.simulator import demo_events
from streams.monitor import MonitorService, RecordingPublisher
from streams.state_store import MemoryStateStore
from tests.unit.helpers import metric_samples

START = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)


def _records(source: str, seed: int) -> list[tuple[int, bytes]]:
    """A floor's events as another PBX would send them: its own queue names and source."""
    out = []
    for i, ev in enumerate(demo_events(START, seed=seed, hours=1.0)):
        body = ev.model_copy(update={"source": source, "id": f"{source}-{ev.id}"})
        if hasattr(body, "queue"):
            body = body.model_copy(update={"queue": f"{source}-{body.queue}"})  # type: ignore[union-attr]
        if getattr(body, "queues", None):
            body = body.model_copy(update={"queues": [f"{source}-{q}" for q in body.queues]})  # type: ignore
        out.append((i, encode(body)))
    return out


def _samples(service: MonitorService) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return metric_samples(service)


def test_workers_split_partitions_without_double_counting() -> None:
    """Two workers owning one partition each export exactly what one worker owning both exports."""
    settings = Settings(clock="event")
    batches = {0: _records("pbx-a", 1), 1: _records("pbx-b", 2)}

    async def run() -> tuple[MonitorService, MonitorService, MonitorService]:
        store = MemoryStateStore()
        one = MonitorService(settings, store, RecordingPublisher())
        await one.handle(batches)
        left = MonitorService(settings, MemoryStateStore(), RecordingPublisher())
        right = MonitorService(settings, MemoryStateStore(), RecordingPublisher())
        await left.handle({0: batches[0]})
        await right.handle({1: batches[1]})
        return one, left, right

    one, left, right = asyncio.run(run())
    combined: dict = defaultdict(float)
    per_worker = ("callwatch_partitions_assigned", "callwatch_worker_condition")  # each worker's own, by instance
    for svc in (left, right):
        for key, value in _samples(svc).items():
            if key[0] not in per_worker:
                assert key not in combined, f"{key} exported by both workers"
                combined[key] = value
    whole = {k: v for k, v in _samples(one).items() if k[0] not in per_worker}
    assert combined == whole
    assert any(k[0] == "callwatch_queue_waiting_contacts" for k in whole)


def test_revoked_partition_leaves_no_stale_series() -> None:
    """After a rebalance takes a partition away, none of its queues or counters are exported here."""
    settings = Settings(clock="event")

    async def run() -> MonitorService:
        svc = MonitorService(settings, MemoryStateStore(), RecordingPublisher())
        await svc.handle({0: _records("pbx-a", 1), 1: _records("pbx-b", 2)})
        await svc.revoke([1])
        return svc

    samples = _samples(asyncio.run(run()))
    queues = {dict(k[1]).get("queue") for k in samples} - {None}
    partitions = {dict(k[1]).get("partition") for k in samples} - {None}
    assert queues == {"pbx-a-billing", "pbx-a-support"}
    assert partitions == {"0"}
    assert samples[("callwatch_partitions_assigned", ())] == 1


def test_a_backlog_is_swept_by_event_time_not_the_wall_clock() -> None:
    """A worker catching up (a restart after downtime) must not page for a caller whom the backlog's
    later events show answered in time: while a partition is behind, its timer goes by event time."""
    from callwatch.events import encode as enc
    from tests.unit.helpers import BASE_TS, ev

    queued = enc(ev("call.queued", 0, call_id="x", queue="q"))
    answered = enc(ev("call.answered", 30, call_id="x", queue="q", agent="a"))

    async def run(behind: dict[int, int]) -> list[str]:
        svc = MonitorService(Settings(clock="wall"), MemoryStateStore(), publisher := RecordingPublisher(),
                             wall=lambda: BASE_TS + 3600)  # the worker comes back an hour later
        svc.behind = lambda partition, offset: behind.get(offset)
        await svc.handle({0: [(0, queued)]})
        await svc.tick()
        await svc.handle({0: [(1, answered)]})
        await svc.tick()
        return [a.status for a in publisher.alarm_events if a.alarm == "wait_window_exceeded"]

    assert asyncio.run(run({0: 1, 1: 0})) == []
    # had it swept the backlog on the wall clock, it would have paged (and then had to take it back);
    # the hour of repeats it fell behind on is one repeat, not a burst
    assert asyncio.run(run({})) == ["started", "repeated", "resolved"]


def test_series_stay_bounded_however_many_agents() -> None:
    """10,000 agents add no series unless per-agent metrics are configured; with them, a few per agent."""
    from callwatch.events import encode as enc
    from tests.unit.helpers import ev

    def floor(agents: int, per_agent: bool) -> int:
        settings = Settings.model_validate({"clock": "event", "monitor": {"per_agent_metrics": per_agent}})
        records = [(i, enc(ev("agent.state", i * 0.01, agent=f"a{i:05d}", state="available", queues=["q"],
                              source="pbx"))) for i in range(agents)]
        records.append((agents, enc(ev("call.queued", 120, call_id="c", queue="q", source="pbx"))))

        async def run() -> int:
            svc = MonitorService(settings, MemoryStateStore(), RecordingPublisher())
            await svc.handle({0: records})
            return len(_samples(svc))
        return asyncio.run(run())

    assert floor(10, False) == floor(10_000, False)
    assert floor(100, True) - floor(100, False) >= 100  # per agent: state and today's sums
