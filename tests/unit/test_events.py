"""The event contract: what is accepted, and the reason given for what is not."""

from __future__ import annotations

import gzip
from pathlib import Path

import orjson
import pytest

from callwatch.eventlog import read_events, read_lines, write_events
from callwatch.events import CallQueued, Channel, InvalidEvent, SurveyCompleted, decode, encode

GOOD = {"v": 1, "id": "e1", "type": "call.queued", "ts": "2026-11-23T09:15:02.120Z", "call_id": "c1",
        "queue": "sales"}


def test_valid_event_gets_contract_defaults() -> None:
    """A minimal call.queued decodes with channel voice and priority 0, and ignores unknown fields."""
    ev = decode(orjson.dumps({**GOOD, "extra": "ignored"}))
    assert isinstance(ev, CallQueued)
    assert ev.channel is Channel.voice and ev.priority == 0
    assert ev.epoch == pytest.approx(1795425302.12)


def test_offsets_are_accepted_and_normalised() -> None:
    """A timestamp with an offset means the same instant as its UTC form."""
    a = decode(orjson.dumps({**GOOD, "ts": "2026-11-23T10:15:02.120+01:00"}))
    b = decode(orjson.dumps(GOOD))
    assert a.epoch == b.epoch


@pytest.mark.parametrize(
    ("raw", "code", "needle"),
    [
        (b"{not json", "not_json", "not JSON"),
        (b"[1, 2]", "not_object", "list"),
        (orjson.dumps({**GOOD, "v": 2}), "bad_version", "v"),
        (orjson.dumps({**GOOD, "type": "call.teleported"}), "unknown_type", "call.teleported"),
        (orjson.dumps({k: v for k, v in GOOD.items() if k != "type"}), "missing_type", "type"),
        (orjson.dumps({k: v for k, v in GOOD.items() if k != "queue"}), "missing_field", "queue"),
        (orjson.dumps({**GOOD, "ts": "yesterday"}), "bad_timestamp", "ts"),
        (orjson.dumps({**GOOD, "ts": "2026-11-23T09:15:02"}), "bad_timestamp", "timezone"),
        (orjson.dumps({**GOOD, "priority": 12}), "invalid_field", "priority"),
        (orjson.dumps({**GOOD, "id": ""}), "invalid_field", "id"),
        (orjson.dumps({**GOOD, "channel": "pigeon"}), "invalid_field", "channel"),
    ],
)
def test_invalid_inputs_have_a_reason(raw: bytes, code: str, needle: str) -> None:
    """Every kind of bad input raises InvalidEvent with a metric code and a readable reason."""
    with pytest.raises(InvalidEvent) as info:
        decode(raw)
    assert info.value.code == code
    assert needle in info.value.reason
    assert info.value.raw == raw


def test_survey_needs_an_answer() -> None:
    """A survey.completed without any of the three answers is refused."""
    base = {"v": 1, "id": "s", "type": "survey.completed", "ts": GOOD["ts"], "call_id": "c", "agent": "a",
            "queue": "q"}
    with pytest.raises(InvalidEvent, match="at least one"):
        decode(orjson.dumps(base))
    assert isinstance(decode(orjson.dumps({**base, "more_help": False})), SurveyCompleted)


def test_encode_round_trips() -> None:
    """encode() writes contract JSON that decodes to an equal event."""
    ev = decode(orjson.dumps({**GOOD, "waiting_since": "2026-11-23T09:14:00Z", "customer": "k1"}))
    assert decode(encode(ev)) == ev


def test_logs_round_trip_plain_and_gzip(tmp_path: Path) -> None:
    """JSON Lines logs read back what was written, gzip or not, and report bad lines with their number."""
    ev = decode(orjson.dumps(GOOD))
    for name in ("log.jsonl", "log.jsonl.gz"):
        path = tmp_path / name
        write_events(path, [ev, b"garbage", ev])
        assert list(read_events(path)) == [ev, ev]
        lines = list(read_lines(path))
        assert [(ln.number, ln.error.code if ln.error else None) for ln in lines] == \
            [(1, None), (2, "not_json"), (3, None)]
    with gzip.open(tmp_path / "log.jsonl.gz", "rb") as fh:
        assert fh.readline().startswith(b"{")
