"""Upgrades: the state an earlier release left in Redis is read by this one, a state it cannot read stops
the worker with one line, and ``callwatch state rebuild`` starts the state over from Kafka.

The fixtures (``tests/data/state-vN.json``, made by ``tests/data/make_state_fixture.py`` with the code of
the release that wrote format N) are loaded as raw Redis writes in that release's key schema, then read
only through the public store and partition runner, as a worker reads them.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from kafka import KafkaConsumer
from kafka.coordinator.assignors.range import RangePartitionAssignor

from callwatch.config import MonitorConfig
from callwatch.eventlog import read_raw
from callwatch.settings import Settings
from console.embedded import free_port
from streams.monitor import MonitorService, RecordingPublisher
from streams.partition import PartitionRunner
from streams.readout import stored_report
from streams.state_rebuild import AdminClient, group_members, retention_refusal
from streams.state_store import MemoryStateStore, RedisStateStore, StoredPartition, partition_base
from streams.state_upgrade import REBUILD_COMMAND, STATE_FORMAT, StateFormatError
from tests.integration.harness import Stack, Worker, applied_offsets, publish
from tests.released_shape import alarm_dict, released_report, released_snapshot

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
#: every stored-state fixture: one per state format a release wrote (never regenerated)
STATES = sorted(p for p in DATA.glob("state-v*.json") if not p.name.endswith(".expected.json"))


def write_as_released(client: redis.Redis, prefix: str, state: dict[str, Any]) -> None:
    """The partition as the release that wrote ``state`` left it in Redis (0.1.0's key schema: a meta
    hash with offset, engine JSON and update time, one hash per container, the partitions set; 0.1.0 had
    no format field). A later format with another layout adds its branch here."""
    topic, partition = state["topic"], state["partition"]
    base = f"{prefix}:p:{topic}:{partition}"
    meta: dict[str, Any] = {"offset": state["offset"], "engine": orjson.dumps(state["meta"]), "updated_at": 0}
    if state["format"] != 1:
        meta["format"] = state["format"]
    pipe = client.pipeline(transaction=True)
    pipe.hset(f"{base}:meta", mapping=meta)
    for name, items in state["containers"].items():
        pipe.hset(f"{base}:c:{name}", mapping={k: v.encode() for k, v in items.items()})
    pipe.sadd(f"{prefix}:partitions:{topic}", partition)
    pipe.execute()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


#: the rules the released states were written under: the early warning was off by default until stop 19,
#: so a released state carries none of its past (its continuation with the warning on is checked apart)
RELEASED_RULES = MonitorConfig.model_validate({"alarms": {"wait_window_forecast": {"enabled": False}}})


async def _continue(store: RedisStateStore, state: dict[str, Any], expected: dict[str, Any],
                    rest: list[bytes], config: MonitorConfig = RELEASED_RULES,
                    ) -> tuple[PartitionRunner, list[dict[str, Any]], dict[str, Any]]:
    """Open the partition as a worker does, then apply the rest of the fixture's partition batch by batch,
    committing each, as a worker does."""
    topic, partition = state["topic"], state["partition"]
    runner = await PartitionRunner.open(store, topic, partition, config)
    at_open = {"offset": runner.offset, "report": released_report(runner.engine),
               "snapshot": released_snapshot(runner.engine, expected["now"])}
    cont = expected["continuation"]
    records = list(enumerate(rest, start=cont["first_offset"]))
    alarms: list[dict[str, Any]] = []
    for i in range(0, len(records), cont["batch"]):
        alarms.extend(alarm_dict(a) for a in runner.process(records[i:i + cont["batch"]], None).alarms)
        await runner.commit(store)
    alarms.extend(alarm_dict(a) for a in runner.tick(None))
    await runner.commit(store)
    return runner, alarms, at_open


@pytest.mark.parametrize("path", STATES, ids=[p.stem for p in STATES])
def test_released_state_is_read_and_continues_exactly(path: Path, client: redis.Redis, redis_url: str,
                                                      unique: str) -> None:
    """A partition's state as a released callwatch left it in Redis opens with the figures it had, and
    the rest of the day through it gives the expected alarms and figures, also after a restart."""
    state = json.loads(path.read_text())
    expected = json.loads(path.with_name(f"{path.stem}.expected.json").read_text())
    rest = list(read_raw(path.with_name(f"{path.stem}.rest.jsonl.gz")))
    assert len(rest) == expected["continuation"]["records"]
    prefix = f"up-{unique}"
    write_as_released(client, prefix, state)

    async def go() -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any], dict[str, Any]]:
        store = RedisStateStore(redis_url, prefix)
        try:
            runner, alarms, at_open = await _continue(store, state, expected, rest)
            end = released_report(runner.engine)
            again = await PartitionRunner.open(store, state["topic"], state["partition"], RELEASED_RULES)
            return alarms, at_open, end, {"offset": again.offset, "report": released_report(again.engine)}
        finally:
            await store.close()

    alarms, at_open, end, reopened = asyncio.run(go())
    assert at_open["offset"] == state["offset"]
    assert at_open["report"] == expected["report"]
    assert at_open["snapshot"] == expected["snapshot"]
    assert alarms == expected["continuation"]["alarms"]
    assert end == expected["continuation"]["report"]
    # what the worker wrote on top of the released state reads back whole, marked with today's format
    assert reopened == {"offset": expected["continuation"]["first_offset"] + len(rest) - 1, "report": end}
    # …under the current key schema (the worker renamed the old schema's keys when it took the partition)
    meta = client.hgetall(f"{partition_base(prefix, state['topic'], state['partition'])}:meta")
    assert int(meta[b"format"]) == STATE_FORMAT
    assert not client.exists(f"{prefix}:p:{state['topic']}:{state['partition']}:meta")


@pytest.mark.parametrize("path", STATES, ids=[p.stem for p in STATES])
def test_released_state_continues_with_the_early_warning_on(path: Path, client: redis.Redis, redis_url: str,
                                                           unique: str) -> None:
    """Today's rules (the early warning on by default) over a state released without it: the warning
    starts with no past of its own and learns it from the events after the restart, and every figure and
    every other alarm is the one the released rules give."""
    state = json.loads(path.read_text())
    expected = json.loads(path.with_name(f"{path.stem}.expected.json").read_text())
    rest = list(read_raw(path.with_name(f"{path.stem}.rest.jsonl.gz")))
    prefix = f"upw-{unique}"
    write_as_released(client, prefix, state)

    async def go() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        store = RedisStateStore(redis_url, prefix)
        try:
            runner, alarms, _ = await _continue(store, state, expected, rest, MonitorConfig())
            return alarms, released_report(runner.engine)
        finally:
            await store.close()

    alarms, end = asyncio.run(go())
    assert MonitorConfig().alarms.wait_window_forecast.enabled
    others = [a for a in alarms if a["alarm"] != "wait_window_forecast"]
    assert others == expected["continuation"]["alarms"]
    assert end == expected["continuation"]["report"]


def test_fixture_has_what_an_upgrade_must_carry() -> None:
    """The format-1 fixture holds every kind of live state an upgrade could drop: waiting callers, an
    active wait alarm, threshold alarms, pending agent changes, a held event, customers and seen ids."""
    state = json.loads((DATA / "state-v1.json").read_text())
    expected = json.loads((DATA / "state-v1.expected.json").read_text())
    c = state["containers"]
    assert sum(q["waiting"] for q in expected["snapshot"]["queues"].values()) > 0
    assert c["alarms"] and c["thresholds"] and c["held"] and c["customers"] and c["seen"]
    assert any(json.loads(v)["pending"] for v in c["agents"].values())
    assert expected["continuation"]["alarms"]


@pytest.mark.parametrize("stored", ["99", "two"])
def test_unknown_format_is_a_one_line_error_and_keeps_the_state(client: redis.Redis, redis_url: str,
                                                               unique: str, stored: str) -> None:
    """A state in a format this version does not know fails to open with one line naming the rebuild
    command; nothing is deleted and no empty state takes its place."""
    state = json.loads((DATA / "state-v1.json").read_text())
    prefix = f"up-{unique}"
    write_as_released(client, prefix, state)
    meta_key = f"{prefix}:p:{state['topic']}:{state['partition']}:meta"
    client.hset(meta_key, "format", stored)
    before = {k: client.hlen(k) for k in client.scan_iter(match=f"{prefix}:*") if client.type(k) == b"hash"}

    async def go() -> list[BaseException]:
        store = RedisStateStore(redis_url, prefix)
        errors: list[BaseException] = []
        try:
            for attempt in (PartitionRunner.open(store, state["topic"], state["partition"], MonitorConfig()),
                            store.load_all(state["topic"]), store.stored_formats(state["topic"])):
                try:
                    await attempt
                except StateFormatError as exc:
                    errors.append(exc)
        finally:
            await store.close()
        return errors

    errors = asyncio.run(go())
    assert len(errors) == 3
    message = str(errors[0])
    assert "\n" not in message
    assert f"format {stored if stored.isdigit() else repr(stored)}" in message
    assert f"{REBUILD_COMMAND} --partition {state['partition']}" in message
    assert before == {k: client.hlen(k) for k in client.scan_iter(match=f"{prefix}:*")
                      if client.type(k) == b"hash"}


def test_worker_refuses_an_unknown_format_in_one_line(client: redis.Redis, redis_url: str, kafka_bootstrap: str,
                                                      unique: str) -> None:
    """`callwatch worker` on a Redis holding a newer format exits 2 with one line on stderr, before it
    joins its group; `callwatch state info` still shows that partition and its format."""
    state = json.loads((DATA / "state-v1.json").read_text())
    prefix = f"up-{unique}"
    write_as_released(client, prefix, state)
    client.hset(f"{prefix}:p:{state['topic']}:{state['partition']}:meta", "format", STATE_FORMAT + 1)
    env = {"CALLWATCH_KAFKA_BOOTSTRAP": kafka_bootstrap, "CALLWATCH_REDIS_URL": redis_url,
           "CALLWATCH_REDIS_PREFIX": prefix, "CALLWATCH_EVENTS_TOPIC": state["topic"],
           "CALLWATCH_APP_ID": f"cw-{unique}"}
    started = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "console", "worker", "--clock", "event"], cwd=ROOT,
                         env={**os.environ, **env}, capture_output=True, timeout=60)
    assert run.returncode == 2, run.stderr.decode()[-2000:]
    lines = [line for line in run.stderr.decode().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert f"format {STATE_FORMAT + 1}" in lines[0] and REBUILD_COMMAND in lines[0]
    assert time.monotonic() - started < 30
    info = subprocess.run([sys.executable, "-m", "console", "state", "info", "--json"], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, timeout=60)
    assert info.returncode == 0, info.stderr.decode()
    (row,) = json.loads(info.stdout)
    assert (row["partition"], row["format"], row["readable"]) == (state["partition"], str(STATE_FORMAT + 1), False)


def test_worker_given_an_unknown_format_mid_run_stops_cleanly(client: redis.Redis, redis_url: str,
                                                              kafka_bootstrap: str, unique: str) -> None:
    """A worker that meets a format it cannot read only when a partition is assigned (the state changed
    after its start-up check) logs one critical line, stops without a traceback, exits 2, keeps the state."""
    state = {**json.loads((DATA / "state-v1.json").read_text()), "topic": f"events-{unique}"}
    prefix = f"up-{unique}"
    write_as_released(client, prefix, state)
    meta_key = f"{prefix}:p:{state['topic']}:{state['partition']}:meta"
    client.hset(meta_key, "format", STATE_FORMAT + 1)
    env = {**os.environ, "CALLWATCH_KAFKA_BOOTSTRAP": kafka_bootstrap, "CALLWATCH_REDIS_URL": redis_url,
           "CALLWATCH_REDIS_PREFIX": prefix, "CALLWATCH_EVENTS_TOPIC": state["topic"],
           "CALLWATCH_APP_ID": f"cw-{unique}", "CALLWATCH_WEB_PORT": str(free_port()),
           "CALLWATCH_WEB_HOST": "127.0.0.1", "CALLWATCH_SESSION_TIMEOUT_S": "4", "CALLWATCH_CLOCK": "event"}
    # the worker's start-up check is skipped: the partition's format is met only when it is assigned
    script = ("import streams.app as a; from callwatch.settings import Settings; "
              "a.check_stored_formats = lambda s: None; a.run_worker(Settings())")
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=120)
    log = run.stderr.decode() + run.stdout.decode()
    assert run.returncode == 2, log[-3000:]
    assert "Traceback" not in log
    critical = [line for line in log.splitlines() if "CRITICAL" in line]
    assert len(critical) == 1 and REBUILD_COMMAND in critical[0], critical
    assert client.hmget(meta_key, ["format", "offset"]) == [str(STATE_FORMAT + 1).encode(),
                                                           str(state["offset"]).encode()]


def test_rebalance_onto_an_unknown_format_stops_the_worker_without_acknowledging() -> None:
    """A worker handed a partition it cannot read (a rebalance, mid-run) logs one line, asks to stop
    once, and neither applies nor finishes the batch of that partition, so Kafka keeps its offsets."""
    stopped: list[StateFormatError] = []
    store = MemoryStateStore()
    store.parts[("t", 1)] = StoredPartition(1, 41, {"max_ts": None}, {}, format=STATE_FORMAT + 1)
    service = MonitorService(Settings(clock="event", events_topic="t"), store, RecordingPublisher(),
                             stop=stopped.append)

    async def go() -> bool:
        await service.assign([0, 1])
        try:
            await asyncio.wait_for(service.handle({1: [(42, b"{}")]}), timeout=0.5)
        except asyncio.TimeoutError:
            return True
        return False

    assert asyncio.run(go()) is True  # the batch never completes: the worker stops around it
    assert len(stopped) == 1 and service.fatal is stopped[0]
    assert 1 not in service.runners and store.parts[("t", 1)].offset == 41
    # a store without a stopper (tests, tools) raises instead
    with pytest.raises(StateFormatError):
        asyncio.run(MonitorService(Settings(events_topic="t"), store, RecordingPublisher()).assign([1]))


# ------------------------------------------------------------------------------------------- rebuild

DEMO_LOG = ROOT / "producers" / "data" / "demo-day.jsonl.gz"


def _cli(stack: Stack, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "console", *args], cwd=ROOT, env=stack.env(free_port()),
                          capture_output=True, timeout=120)


def _committed(settings: Settings) -> dict[int, int]:
    """The workers' consumer group's committed offsets on the events topic."""
    admin = AdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        found = admin.list_group_offsets(settings.app_id).get(settings.app_id, {})
        return {tp.partition: om.offset for tp, om in found.items() if tp.topic == settings.events_topic}
    finally:
        admin.close()


class _FaustNamedAssignor(RangePartitionAssignor):  # type: ignore[misc]
    name = "faust"


def _evict_stale_members(settings: Settings) -> None:
    """Empty the group of a stopped worker on the embedded broker, as Apache Kafka does by itself.

    tansu gives the group generation 0, so aiokafka (which leaves only a later generation) sends no
    LeaveGroup when a worker stops, and tansu never expires a member: the stopped worker stays listed,
    and tansu refuses offset changes. A join under Faust's protocol name makes tansu wait the stale member
    out (its rebalance timeout) and drop it; this consumer then leaves, committing nothing.
    """
    consumer = KafkaConsumer(settings.events_topic, bootstrap_servers=settings.kafka_bootstrap,
                             group_id=settings.app_id, enable_auto_commit=False, session_timeout_ms=4000,
                             heartbeat_interval_ms=800, partition_assignment_strategy=[_FaustNamedAssignor])
    try:
        deadline = time.monotonic() + 60
        while not consumer.assignment():
            assert time.monotonic() < deadline, "the embedded broker kept the stopped worker in its group"
            consumer.poll(500)
    finally:
        consumer.close(autocommit=False)


def _until(what: str, check: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.3)


def test_rebuild_from_kafka_gives_the_first_runs_figures(kafka_bootstrap: str, redis_url: str, unique: str,
                                                         tmp_path: Path) -> None:
    """`callwatch state rebuild` is refused while a worker runs; once it is stopped the command deletes
    the state and rewinds the group past its committed offsets, and a new worker rebuilds the same figures."""
    stack = Stack(kafka_bootstrap, redis_url, unique)
    settings = stack.settings().model_copy(update={"app_id": f"cw-{unique}"})
    first = Worker(stack, tmp_path).start()
    try:
        sent = publish(stack, read_raw(DEMO_LOG))
        _until("the worker has applied the log", lambda: sum(o + 1 for o in applied_offsets(stack).values()) == sent)
        figures = stored_report(settings)
        applied = applied_offsets(stack)
        # the group's commits follow (every 2 s): a rebuild that only deleted Redis would resume from them
        _until("the group has committed offsets past the start of the log",
               lambda: all(_committed(settings).get(p, 0) > 0 for p in applied))
        refused = _cli(stack, "state", "rebuild", "--yes")
        assert refused.returncode == 1
        message = refused.stderr.decode()
        assert "active member" in message and "stop every `callwatch worker`" in message
        assert applied_offsets(stack) == applied
    finally:
        first.stop()
    _evict_stale_members(settings)
    _until("the stopped worker has left its group", lambda: not group_members(settings), timeout=30)

    info = _cli(stack, "state", "info", "--json")
    assert info.returncode == 0, info.stderr.decode()
    rows = json.loads(info.stdout)
    assert [(r["partition"], r["format"], r["readable"], r["offset"]) for r in rows] == [
        (p, str(STATE_FORMAT), True, o) for p, o in sorted(applied.items())]

    done = _cli(stack, "state", "rebuild", "--yes")
    assert done.returncode == 0, done.stderr.decode()
    assert applied_offsets(stack) == {}
    rewound = _committed(settings)
    assert set(rewound) >= set(applied) and set(rewound.values()) == {0}

    second = Worker(stack, tmp_path).start()
    try:
        _until("the new worker has rebuilt the state", lambda: applied_offsets(stack) == applied)
        assert stored_report(settings) == figures
    finally:
        second.stop()


def test_rebuild_refuses_when_retention_has_deleted_history() -> None:
    """A partition that no longer starts at offset 0 is refused with the reason (history older than
    retention cannot be rebuilt) and the way round it; partitions that start at 0 are not."""
    assert retention_refusal("events", {0: 0, 1: 0}) is None
    reason = retention_refusal("events", {0: 0, 1: 1200})
    assert reason is not None and "\n" not in reason
    assert "partition 1 starts at offset 1200" in reason and "partition 0" not in reason
    assert "older than retention cannot be rebuilt" in reason and "--from-earliest-anyway" in reason
