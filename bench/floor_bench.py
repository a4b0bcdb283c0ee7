"""The floor of CPython for the engine's per-event work: ``python bench/floor_bench.py LOG [--runs N]``.

Issue 11 asks for the engine alone at 250,000 events/s on one core, 4 µs an event. This measures, on
the same decoded events as ``bench/prof_engine.py``, the least work the issue's features need per event,
written as tight inline Python with no engine around it:

- the event's time as a number (``ts.timestamp()``), its id into the dedup set;
- the contact's dict entry (made at ``call.queued``, read at the answer, dropped at the end);
- a minute-bucket counter and a 15-minute-interval counter per queue;
- a heap push per queued caller (the wait timer's deadline) and the pops of the deadlines passed.

``inline`` is that loop alone; ``calls`` is the same work with one method call per event and one per
handler, the least structure a program of rooms has. Both are figures no engine with these features can
beat in CPython; what the engine adds (the other rooms: thresholds, forecast, agents, retention, the
event clock) comes on top. CPU time of the loop only (decoding excluded), median of ``--runs``.
"""

from __future__ import annotations

import argparse
import gc
import heapq
import statistics
import sys
import time
from typing import Any

from callwatch.eventlog import read_lines

WINDOW_S = 180.0


def inline(events: list[Any]) -> int:
    seen: set[str] = set()
    calls: dict[tuple[str, str], list[float]] = {}
    minutes: dict[tuple[str, int], int] = {}
    intervals: dict[tuple[str, int], int] = {}
    timer: list[tuple[float, str, str]] = []
    crossed = 0
    for ev in events:
        eid = ev.id
        if eid in seen:
            continue
        seen.add(eid)
        ts = ev.ts.timestamp()
        kind = ev.type
        if kind == "agent.state" or kind == "source.heartbeat":
            continue
        queue = ev.queue
        key = (queue, ev.call_id)
        if kind == "call.queued":
            calls[key] = [ts, -1.0]
            heapq.heappush(timer, (ts + WINDOW_S, queue, ev.call_id))
        else:
            entry = calls.get(key)
            if entry is not None:
                if kind == "call.answered":
                    entry[1] = ts
                elif kind == "call.ended" or kind == "call.abandoned":
                    del calls[key]
        m = (queue, int(ts // 60))
        minutes[m] = minutes.get(m, 0) + 1
        i = (queue, int(ts // 900))
        intervals[i] = intervals.get(i, 0) + 1
        while timer and timer[0][0] <= ts:
            _, q, call_id = heapq.heappop(timer)
            entry = calls.get((q, call_id))
            if entry is not None and entry[1] < 0:
                crossed += 1
    return crossed


class Rooms:
    """The same work with the least structure: one call per event and one per handler."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.calls: dict[tuple[str, str], list[float]] = {}
        self.minutes: dict[tuple[str, int], int] = {}
        self.intervals: dict[tuple[str, int], int] = {}
        self.timer: list[tuple[float, str, str]] = []
        self.crossed = 0

    def step(self, ev: Any) -> None:
        eid = ev.id
        if eid in self.seen:
            return
        self.seen.add(eid)
        ts = ev.ts.timestamp()
        kind = ev.type
        if kind == "agent.state" or kind == "source.heartbeat":
            return
        if kind == "call.queued":
            self._queued(ev, ts)
        else:
            self._other(ev, kind, ts)
        self._count(ev.queue, ts)
        self._advance(ts)

    def _queued(self, ev: Any, ts: float) -> None:
        self.calls[(ev.queue, ev.call_id)] = [ts, -1.0]
        heapq.heappush(self.timer, (ts + WINDOW_S, ev.queue, ev.call_id))

    def _other(self, ev: Any, kind: str, ts: float) -> None:
        key = (ev.queue, ev.call_id)
        entry = self.calls.get(key)
        if entry is not None:
            if kind == "call.answered":
                entry[1] = ts
            elif kind == "call.ended" or kind == "call.abandoned":
                del self.calls[key]

    def _count(self, queue: str, ts: float) -> None:
        m = (queue, int(ts // 60))
        self.minutes[m] = self.minutes.get(m, 0) + 1
        i = (queue, int(ts // 900))
        self.intervals[i] = self.intervals.get(i, 0) + 1

    def _advance(self, ts: float) -> None:
        timer = self.timer
        while timer and timer[0][0] <= ts:
            _, q, call_id = heapq.heappop(timer)
            entry = self.calls.get((q, call_id))
            if entry is not None and entry[1] < 0:
                self.crossed += 1


def with_calls(events: list[Any]) -> int:
    rooms = Rooms()
    step = rooms.step
    for ev in events:
        step(ev)
    return rooms.crossed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    events = [line.event for line in read_lines(args.log) if line.event is not None]
    print(f"{len(events)} decoded events of {args.log}")
    for name, loop in (("inline", inline), ("calls", with_calls)):
        cpu: list[float] = []
        crossed = 0
        for _ in range(args.runs):
            gc.collect()
            t = time.process_time()
            crossed = loop(events)
            cpu.append(time.process_time() - t)
        best = statistics.median(cpu)
        print(f"{name:7} {len(events) / best:>12,.0f} events per CPU-second ({best * 1e6 / len(events):.2f} µs an "
              f"event; median of {args.runs}: {', '.join(f'{c:.3f}' for c in cpu)} s; {crossed} crossings)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
