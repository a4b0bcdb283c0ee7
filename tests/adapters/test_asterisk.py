"""The Asterisk queue_log adapter: every event type, the traps, errors with their line, real data."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest

from callwatch.config import MonitorConfig
from callwatch.engine import Engine, replay_events
from callwatch.engine.report import report
from callwatch.events import encode
from producers.asterisk import QueueLogConverter, agent_id, convert_file, follow
from producers.privacy import Pseudonymizer
from tests.adapters.reference import reference_dir

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
REFERENCE = reference_dir("asterisk-queue-log")
KEY = b"test-key-of-sixteen-bytes-or-more"


def converter() -> QueueLogConverter:
    return QueueLogConverter(source="pbx-test", pseudonymize=Pseudonymizer(KEY))


def test_every_event_type_maps_as_documented() -> None:
    """The hand-made queue_log (all event types) converts to the documented events, with no error."""
    result = convert_file(GOLDEN / "queue_log", converter())
    assert result.errors == []
    kinds = Counter(e.type for e in result.events)
    assert kinds == {"call.queued": 9, "call.answered": 4, "call.ended": 2, "call.abandoned": 1,
                     "call.dequeued": 3, "call.transferred": 3, "agent.state": 21,
                     "source.heartbeat": 3}
    assert result.counts["RINGNOANSWER"] == 1 and result.counts["OUTDIAL"] == 1
    states = [(e.agent, e.state.value, e.reason) for e in result.events if e.type == "agent.state"]
    assert ("202", "away", "lunch") in states and ("203", "offline", None) in states
    dequeued = sorted(e.reason for e in result.events if e.type == "call.dequeued")
    assert dequeued == ["other", "other", "timeout"]


def test_figures_from_a_queue_log() -> None:
    """Replayed offline, the converted log gives the waits Asterisk itself wrote (CONNECT's holdtime)."""
    result = convert_file(GOLDEN / "queue_log", converter())
    rep = report(replay_events(Engine(MonitorConfig()), result.events))
    sales = rep["queues"]["sales"]["total"]
    assert sales["offered"] == 7
    assert sales["answered"] == 3 and sales["asa"] == pytest.approx((15 + 10 + 10) / 3)
    assert sales["abandoned"] == 1 and sales["average_abandon_time"] == pytest.approx(30)
    assert sales["dequeued_by_reason"] == {"other": 1, "timeout": 1}
    assert sales["agent_ended_calls"] == 1
    # the transfer of a call that was never connected is a known trap: counted, not invented
    assert rep["pipeline"]["inconsistent"] == {"transferred_out_of_sequence": 1}
    assert rep["agents"]["205"]["queues"] == ["sales"]  # a static member who answered


def test_callers_become_pseudonyms() -> None:
    """No caller number survives; the same number punctuated differently is the same customer."""
    result = convert_file(GOLDEN / "queue_log", converter())
    blob = b"\n".join(encode(e) for e in result.events)
    assert b"351" not in blob and b"5550" not in blob
    customers = [e.customer for e in result.events if e.type == "call.queued"]
    assert customers[0] == customers[1] and customers[0].startswith("c-")
    assert customers[2] is None  # anonymous


def test_errors_name_the_line_and_the_reason() -> None:
    """Bad lines are reported with their number and reason; the good ones still convert."""
    result = convert_file(GOLDEN / "queue_log_bad", converter())
    assert [(e.line_no, e.reason.split(" ")[0]) for e in result.errors] == [
        (2, "epoch"), (3, "expected"), (4, "unknown"), (5, "CONNECT")]
    assert result.errors[3].reason == "CONNECT without an agent"
    assert [e.type for e in result.events] == ["call.queued"]


def test_agent_interfaces() -> None:
    """Channel technology and context are stripped from agent interfaces."""
    assert {agent_id(x) for x in ("Agent/1127", "Local/1127@callback-agent", "SIP/1127-0000a1")} == {"1127"}


def test_follow_survives_rotation(tmp_path: Path) -> None:
    """Tailing yields lines appended later and continues in the new file after a rotation."""
    log = tmp_path / "queue_log"
    log.write_text("a\n")
    seen: list[str] = []
    done = threading.Event()

    def reader() -> None:
        for line in follow(log, stop=done.is_set, poll_s=0.02):
            seen.append(line)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        time.sleep(0.2)
        with open(log, "a") as fh:
            fh.write("b\n")
        time.sleep(0.2)
        log.rename(tmp_path / "queue_log.1")
        log.write_text("c\n")
        deadline = time.monotonic() + 5
        while seen != ["a", "b", "c"] and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        done.set()
        thread.join(timeout=5)
    assert seen == ["a", "b", "c"]


@pytest.mark.skipif(not REFERENCE.is_dir(), reason=f"the Asterisk sample is not at {REFERENCE} "
                                                    "(shared/reference-data beside the repository)")
def test_real_queue_log_converts_cleanly() -> None:
    """The real excerpt (native and padded) converts without errors to the same events."""
    native = convert_file(REFERENCE / "sample_queue_log", converter())
    padded = convert_file(REFERENCE / "sample_queue_log_padded", converter())
    assert native.errors == [] and padded.errors == []
    assert [orjson.loads(encode(e)) for e in native.events] == [orjson.loads(encode(e)) for e in padded.events]
    assert sum(e.type == "call.queued" for e in native.events) == native.counts["ENTERQUEUE"] == 108
    rep = report(replay_events(Engine(MonitorConfig()), native.events))
    it = rep["queues"]["IT"]["total"]
    assert it["offered"] == 108 and it["answered"] > 50 and it["abandoned"] > 0
