"""Write the golden of one partition's stored state in format 1 (callwatch 0.1.0) and what it must give.

``tests/data/state-v1.json`` is what a 0.1.0 worker leaves in Redis for one partition mid-day: the
partition's meta (the engine's ``meta()``), its containers (``{container: {field: value}}``, the bytes of
each value as UTF-8 text, exactly as ``take_dirty()`` produced them through the store's ``commit``) and
its last applied offset. ``tests/data/state-v1.rest.jsonl.gz`` is the rest of the partition: the
records after that offset, in order. ``tests/data/state-v1.expected.json`` is what a later callwatch
must make of the two: the report and the wallboard snapshot of the restored engine, and the alarms and
the report once the restored engine has run over the rest of the day.
``tests/integration/test_state_upgrade.py`` loads the state into a real Redis, opens the partition as a
worker does, runs the rest through it and compares with the expected file.

How: the example day (``producers/data/demo-day.jsonl.gz``), the default ``MonitorConfig``, all of it on
partition 0 with offset = line number - 1, through ``PartitionRunner`` and a memory store in batches of
``BATCH`` (as a worker commits), cut after ``CUT`` events, mid-morning: callers waiting, a wait alarm
on, threshold alarms active, agents with state changes not yet final, customers, seen ids. The log is
in order, so to have a held event in the state one contact's ``call.queued`` is delivered right after
the cut, after its outcome (within the allowed lateness: the figures are those of the log in order).

When to regenerate:

* ``state-v1.json`` and ``state-v1.rest.jsonl.gz``: never. It is the format 1 that users' Redis holds;
  a later engine writing it would test nothing. It was generated once with the code of release 0.1.0
  (``--skip-check``: 0.1.0's ``Engine.restore`` could not read a held event back, see the
  CHANGELOG)::

      PYTHONPATH=. python tests/data/make_state_fixture.py --skip-check

  When a release changes the state format to N, run this script with that release's code and
  ``--format N`` to add ``state-vN.json`` (and its expected file) beside this one; keep the older ones.
  ``state-v2.json`` (one engine per site: keys with their site in front) was written so::

      PYTHONPATH=. python tests/data/make_state_fixture.py --format 2

* ``state-v1.expected.json`` only, when a change alters figures or alarms on purpose (say why in the
  commit)::

      PYTHONPATH=. python tests/data/make_state_fixture.py --expected-only

  It replays the same delivered events in a fresh engine (no stored state), which the restart-exact
  property makes equal to the restored state plus the rest of the day.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import sys
from pathlib import Path
from typing import Any

from callwatch.config import MonitorConfig
from callwatch.engine import Sites
from callwatch.eventlog import read_lines, read_raw
from streams.partition import PartitionRunner
from streams.state_store import MemoryStateStore
from streams.state_upgrade import STATE_FORMAT
from tests.released_shape import alarm_dict, released_report, released_snapshot

ROOT = Path(__file__).resolve().parents[2]
LOG = ROOT / "producers" / "data" / "demo-day.jsonl.gz"
HERE = Path(__file__).resolve().parent


def paths(fmt: int) -> tuple[Path, Path, Path]:
    """The state, the rest of the day and the expected figures of format ``fmt``."""
    return HERE / f"state-v{fmt}.json", HERE / f"state-v{fmt}.rest.jsonl.gz", HERE / f"state-v{fmt}.expected.json"


TOPIC = "callwatch-events"
PARTITION = 0
#: records delivered before the cut: the log's first 1,016 lines (to 08:54:23 UTC on the example day, when
#: the billing queue's wait alarm is on) less the one ``call.queued`` delivered right after the cut
CUT = 1015
#: records per batch and commit, as a worker takes them from Kafka
BATCH = 64


def delivered() -> list[bytes]:
    """The example day's lines in the order the fixture delivers them: the log's order, except one
    contact's ``call.queued``, moved from before the cut to right after it so that its outcome is held."""
    lines = list(read_lines(LOG))
    assert all(line.event is not None for line in lines), "the example day has no invalid lines"
    events = [line.event for line in lines if line.event is not None]
    cut_ts = events[CUT].ts.timestamp()
    chosen = None
    for i in range(CUT, -1, -1):  # the latest call.queued before the cut whose outcome is also before it
        ev = events[i]
        if ev.type != "call.queued" or cut_ts - ev.ts.timestamp() > 30:
            continue
        if any(e.type in ("call.answered", "call.abandoned")
               and getattr(e, "call_id", None) == getattr(ev, "call_id", None) for e in events[i + 1:CUT + 1]):
            chosen = i
            break
    assert chosen is not None, "no contact queued and answered (or abandoned) within 30 s before the cut"
    raws = [line.raw for line in lines]
    moved = raws.pop(chosen)
    raws.insert(CUT, moved)  # the first record after the cut
    return raws


def run_all(records: list[tuple[int, bytes]], runner: PartitionRunner) -> list[dict[str, Any]]:
    alarms: list[dict[str, Any]] = []
    for i in range(0, len(records), BATCH):
        result = runner.process(records[i:i + BATCH], None)
        alarms.extend(alarm_dict(a) for a in result.alarms)
        runner.engine.clear_dirty()
    alarms.extend(alarm_dict(a) for a in runner.tick(None))
    return alarms


def expected_of(records: list[tuple[int, bytes]], config: MonitorConfig) -> dict[str, Any]:
    """What the state at the cut must give, from a fresh engine over the same delivered records."""
    fresh = PartitionRunner(TOPIC, PARTITION, Sites(config))
    run_all(records[:CUT], fresh)
    now = fresh.engine.watermark
    at_cut = {"now": now, "report": released_report(fresh.engine), "snapshot": released_snapshot(fresh.engine, now)}
    alarms = run_all(records[CUT:], fresh)
    return {**at_cut, "continuation": {"first_offset": CUT, "records": len(records) - CUT,
                                       "batch": BATCH, "alarms": alarms, "report": released_report(fresh.engine)}}


async def stored_at_cut(records: list[tuple[int, bytes]], config: MonitorConfig) -> dict[str, Any]:
    """What a 0.1.0 store holds for the partition after the records before the cut, committed per batch."""
    store = MemoryStateStore()
    runner = await PartitionRunner.open(store, TOPIC, PARTITION, config)
    head = records[:CUT]
    for i in range(0, len(head), BATCH):
        runner.process(head[i:i + BATCH], None)
        await runner.commit(store)
    part = store.parts[(TOPIC, PARTITION)]
    return {
        "format": STATE_FORMAT,
        "written_by": f"callwatch, state format {STATE_FORMAT} (tests/data/make_state_fixture.py)",
        "topic": TOPIC,
        "partition": PARTITION,
        "offset": part.offset,
        "meta": part.meta,
        "containers": {name: {k: v.decode("utf-8") for k, v in sorted(items.items())}
                       for name, items in sorted(part.containers.items()) if items},
    }


async def check_restored(state: dict[str, Any], expected: dict[str, Any], records: list[tuple[int, bytes]],
                         config: MonitorConfig) -> None:
    """The stored state, restored and continued, gives the expected figures and alarms (else no file)."""
    store = MemoryStateStore()
    await store.commit(TOPIC, PARTITION, {n: {k: v.encode() for k, v in c.items()}
                                          for n, c in state["containers"].items()}, state["meta"], state["offset"])
    store.parts[(TOPIC, PARTITION)].format = state["format"]  # as its release left it: opening upgrades it
    runner = await PartitionRunner.open(store, TOPIC, PARTITION, config)
    engine = runner.engine
    now = expected["now"]
    assert released_report(engine) == expected["report"], "the restored report differs from a fresh run's"
    assert released_snapshot(engine, now) == expected["snapshot"], "the restored snapshot differs"
    alarms = run_all(records[CUT:], runner)
    assert alarms == expected["continuation"]["alarms"], "the continuation's alarms differ"
    assert released_report(engine) == expected["continuation"]["report"], "the continuation's report differs"
    assert state["containers"].get("held"), "no held event in the state: the cut was chosen for one"


def describe(state: dict[str, Any], expected: dict[str, Any]) -> str:
    c = state["containers"]
    waiting = sum(q["waiting"] for q in expected["snapshot"]["queues"].values())
    pending = sum(1 for v in c.get("agents", {}).values() if json.loads(v)["pending"])
    return (f"offset {state['offset']}; waiting {waiting}; agents with pending changes {pending}; "
            f"held {len(c.get('held', {}))}; wait alarms {sorted(c.get('alarms', {}))}; "
            f"thresholds {sorted(c.get('thresholds', {}))}; customers {len(c.get('customers', {}))}; "
            f"seen fields {len(c.get('seen', {}))}; alarms after the cut "
            f"{len(expected['continuation']['alarms'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--format", type=int, default=1,
                        help="the state format of the files (1: release 0.1.0's; a new one: this code's)")
    parser.add_argument("--expected-only", action="store_true",
                        help="rewrite state-vN.expected.json only (never a released state)")
    parser.add_argument("--skip-check", action="store_true",
                        help="write without reading the state back through the store (0.1.0 could not: "
                             "its Engine.restore failed on held events)")
    args = parser.parse_args()
    state_path, rest_path, expected_path = paths(args.format)
    if not args.expected_only and args.format != STATE_FORMAT:
        parser.error(f"this code writes state format {STATE_FORMAT}: a format-{args.format} state was written "
                     "once by its release, and is never written again (--expected-only rewrites its figures)")
    config = MonitorConfig()
    records = list(enumerate(delivered()))
    expected = expected_of(records, config)
    if args.expected_only:
        state = json.loads(state_path.read_text())
        assert list(read_raw(rest_path)) == [raw for _, raw in records[CUT:]], "the example day has changed"
    else:
        state = asyncio.run(stored_at_cut(records, config))
    if not args.skip_check:
        asyncio.run(check_restored(state, expected, records, config))
    if not args.expected_only:
        state_path.write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
        with open(rest_path, "wb") as fh, gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gz:  # same bytes every run
            gz.writelines(raw + b"\n" for _, raw in records[CUT:])
    expected_path.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    print(describe(state, expected), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
