"""The example day with poisoned event times mixed in: copies of its real events (new ids, same source)
stamped 1970, year 1, 9999, 2099, or queued "waiting since 1970"."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from callwatch.eventlog import read_events
from callwatch.events import CallQueued, Event

DEMO_DAY = Path(__file__).resolve().parents[2] / "producers" / "data" / "demo-day.jsonl.gz"
#: the stamps, in turn, and the refusal each gets offline (live, 2099 is ahead of the wall clock instead)
STAMPS = [("1970-01-01T00:00:00+00:00", "ts_out_of_range"), ("2099-06-15T12:00:00+00:00", "clock_jump_unconfirmed"),
          ("0001-01-01T00:00:00+00:00", "ts_out_of_range"), ("9999-12-31T23:59:59+00:00", "ts_out_of_range")]
EVERY = 150


def demo_day() -> list[Event]:
    return list(read_events(DEMO_DAY))


def poison(clean: list[Event]) -> tuple[list[Event], dict[str, str]]:
    """The clean events with a poisoned copy after every EVERY-th, one "waiting since 1970" call and a 2099
    copy as the very last event; returns the mixed log and each poisoned id's offline refusal code."""
    out: list[Event] = []
    codes: dict[str, str] = {}
    waiting_done = False
    for i, e in enumerate(clean):
        out.append(e)
        if not waiting_done and isinstance(e, CallQueued) and i > 500:
            copy = e.model_copy(update={"id": f"poison-ws-{i}", "waiting_since": datetime.fromisoformat(STAMPS[0][0])})
            out.append(copy)
            codes[copy.id] = "waiting_since_out_of_range"
            waiting_done = True
        if i % EVERY == EVERY - 1:
            stamp, code = STAMPS[(i // EVERY) % len(STAMPS)]
            copy = e.model_copy(update={"id": f"poison-{i}", "ts": datetime.fromisoformat(stamp)})
            out.append(copy)
            codes[copy.id] = code
    last = clean[-1].model_copy(update={"id": "poison-last", "ts": datetime.fromisoformat(STAMPS[1][0])})
    out.append(last)
    codes[last.id] = "clock_jump_unconfirmed"  # nothing after it to refute it: refused at the end of the log
    return out, codes
