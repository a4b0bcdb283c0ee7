"""Hostile input at the door: sizes, names, times and numbers are bounded before the engine sees them, and
the parser answers everything — random bytes and mutated real lines — with a code and a one-line reason."""

from __future__ import annotations

import gzip
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callwatch.config import MonitorConfig
from callwatch.engine import Engine
from callwatch.events import (
    DEFAULT_LIMITS,
    AgentState,
    CallQueued,
    InputLimits,
    InvalidEvent,
    decode,
    encode,
    one_line,
)
from callwatch.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
GOOD: dict[str, Any] = {"v": 1, "id": "e1", "type": "call.queued", "ts": "2026-11-23T09:15:02.120Z",
                        "call_id": "c1", "queue": "sales", "source": "pbx"}


def _refused(raw: bytes, limits: InputLimits = DEFAULT_LIMITS) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as info:
        decode(raw, limits)
    return info.value


def test_an_event_over_the_size_limit_is_refused_on_its_bytes_before_parsing() -> None:
    """An event larger than max_event_bytes is refused as too_large whatever it holds (even invalid JSON),
    and the same bytes pass under a larger limit."""
    big = orjson.dumps({**GOOD, "pad": "x" * 70_000})
    refused = _refused(big)
    assert refused.code == "too_large" and refused.raw == big
    assert refused.reason == f"{len(big)} bytes, over the limit of 65536"
    assert _refused(b"{" * 70_000).code == "too_large"  # never parsed: no recursion, no cost
    assert isinstance(decode(big, InputLimits(max_event_bytes=128 * 1024)), CallQueued)


@pytest.mark.parametrize("field", ["queue", "call_id", "source", "customer"])
def test_a_name_over_the_length_limit_is_refused_at_validation(field: str) -> None:
    """A name longer than max_name_chars is refused (name_too_long) under the limits passed to decode, not
    a module default: 200 by default, 500 when the settings say so."""
    raw = orjson.dumps({**GOOD, field: "q" * 300})
    refused = _refused(raw)
    assert refused.code == "name_too_long"
    assert refused.reason == f"call.queued.{field}: 300 characters, over the limit of 200"
    assert getattr(decode(raw, InputLimits(max_name_chars=500)), field) == "q" * 300


def test_every_name_of_every_event_type_is_bounded() -> None:
    """Agent, team, reason and each listed queue of an agent.state are names too."""
    base = {"v": 1, "id": "s1", "type": "agent.state", "ts": GOOD["ts"], "agent": "a1", "state": "away",
            "reason": "break", "team": "blue", "queues": ["sales", "billing"]}
    assert isinstance(decode(orjson.dumps(base)), AgentState)
    for field, value in [("agent", "a" * 201), ("team", "t" * 201), ("reason", "r" * 201),
                         ("queues", ["sales", "q" * 201])]:
        assert _refused(orjson.dumps({**base, field: value})).code == "name_too_long", field


@pytest.mark.parametrize("bad", ["sales\nFAKE LOG LINE", "sales\x00", "sales\x1b[31m", "sales\x7f", "sales\x85"])
def test_control_characters_in_a_name_are_refused(bad: str) -> None:
    """A name with a control character (C0, DEL, C1) is refused, with its position and no raw character in
    the reason."""
    refused = _refused(orjson.dumps({**GOOD, "queue": bad}))
    assert refused.code == "control_character"
    assert "position 5" in refused.reason and refused.reason.isprintable()


@pytest.mark.parametrize("name", ["Fila de espera — Lisboa", "客服热线", "خدمة العملاء", "🎧 support", "O'Brien & Co"])
def test_any_other_unicode_is_a_legitimate_name(name: str) -> None:
    """Accents, CJK, right-to-left scripts, emoji and punctuation are names like any other."""
    assert decode(orjson.dumps({**GOOD, "queue": name})).queue == name


@pytest.mark.parametrize("ts", [1e10, 1795424400, "1795424400", True, "tomorrow", "2026/11/23 09:00"])
def test_a_time_is_rfc3339_text_only(ts: object) -> None:
    """A number (1e10 would be the year 2286), digits as text or any other shape is refused as bad_timestamp,
    in ts and in waiting_since."""
    assert _refused(orjson.dumps({**GOOD, "ts": ts})).code == "bad_timestamp"
    assert _refused(orjson.dumps({**GOOD, "waiting_since": ts})).code == "bad_timestamp"


@pytest.mark.parametrize("hold", ["Infinity", "-Infinity", "NaN", "inf", 1e400])
def test_numbers_are_finite(hold: object) -> None:
    """hold_s of "Infinity", "NaN" (or a literal too large for a double) is refused."""
    ended = {**GOOD, "type": "call.ended", "agent": "a", "ended_by": "agent"}
    raw = orjson.dumps({**ended, "hold_s": hold}) if hold != 1e400 else \
        orjson.dumps(ended)[:-1] + b',"hold_s":1e400}'
    assert _refused(raw).code in {"invalid_field", "not_json"}


def test_a_hostile_reason_is_one_short_printable_line() -> None:
    """An unknown type quoting 40 KB of line breaks and escapes gives a reason of one line, cut at 300."""
    raw = orjson.dumps({**GOOD, "type": "x\n\r\u2028" * 5_000})
    refused = _refused(raw)
    assert refused.code == "unknown_type"
    assert len(refused.reason) <= 300 and len(refused.reason.splitlines()) == 1
    assert one_line("a\u2029b\x1cc") == "a\\u2029b\\x1cc"


def test_a_stored_held_event_stays_readable_under_a_lower_limit() -> None:
    """An event validated and held under a larger name limit still restores after the limit is lowered."""
    engine = Engine(MonitorConfig())
    long_queue = "q" * 300
    held = decode(orjson.dumps({**GOOD, "type": "call.answered", "queue": long_queue, "agent": "a"}),
                  InputLimits(max_name_chars=500))
    engine.holding.held[(long_queue, "c1")] = [held]
    engine.holding.dirty.add((long_queue, "c1"))
    restored = Engine.restore(MonitorConfig(), engine.meta(), engine.take_dirty())
    assert restored.holding.held[(long_queue, "c1")] == [held]


def test_the_limits_are_settings() -> None:
    """CALLWATCH_MONITOR__LIMITS__* reach the engine's configuration, and a limit below a sane floor is refused."""
    settings = Settings(monitor={"limits": {"max_event_bytes": 8192, "max_name_chars": 64}})
    assert settings.monitor.limits == InputLimits(max_event_bytes=8192, max_name_chars=64)
    with pytest.raises(ValueError, match="max_name_chars"):
        Settings(monitor={"limits": {"max_name_chars": 0}})


# ------------------------------------------------------------------ fuzz


def _demo_lines() -> list[bytes]:
    with gzip.open(ROOT / "producers" / "data" / "demo-day.jsonl.gz", "rb") as fh:
        return [line.rstrip(b"\n") for line in fh if line.strip()]


DEMO = _demo_lines()
HOSTILE = [None, True, 0, -1, 1e308, "", " ", "\n", "\x00", "\u2028", "Infinity", "NaN", "x" * 300,
           "1795424400", [], {}, [1, [2, [3]]], {"$ne": 1}, "+351 912 345 678", "a@b.pt", "💥" * 70]


def _check(raw: bytes) -> None:
    """What the fuzz requires of decode: an event, or InvalidEvent with a code and a one-line reason."""
    try:
        decode(raw)
    except InvalidEvent as exc:
        assert exc.code and exc.code.isidentifier(), exc.code
        assert exc.reason and len(exc.reason) <= 300 and len(exc.reason.splitlines()) == 1, exc.reason
        assert exc.reason.isprintable(), exc.reason


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(raw: bytes) -> None:
    """Random bytes never raise anything but InvalidEvent, and every refusal has a code and a one-line reason."""
    _check(raw)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_fuzz_random_text(text: str) -> None:
    """Random text (lone surrogates included) is answered like bytes."""
    try:
        decode(text)
    except InvalidEvent as exc:
        assert exc.code and len(exc.reason.splitlines()) == 1


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(DEMO) - 1), st.randoms(use_true_random=False),
       st.lists(st.sampled_from(["drop", "set", "retype", "nest", "flip", "cut", "dup"]), min_size=1, max_size=4))
def test_fuzz_mutated_demo_lines(index: int, rng: random.Random, mutations: list[str]) -> None:
    """Real lines of the demo day, mutated field by field and byte by byte, are answered with an event or a
    refusal with a code and a one-line reason; an event that decodes encodes and decodes again to itself."""
    obj = orjson.loads(DEMO[index])
    raw = b""
    for m in mutations:
        key = rng.choice(sorted(obj)) if obj else "v"
        if m == "drop":
            obj.pop(key, None)
        elif m == "set":
            obj[key] = rng.choice(HOSTILE)
        elif m == "retype":
            obj["type"] = rng.choice(["call.queued", "agent.state", "survey.completed", "call.ended", "x", ""])
        elif m == "nest":
            obj = {"v": 1, "inner": obj} if rng.random() < 0.5 else {**obj, key: obj}
        elif m == "flip":
            raw = bytearray(orjson.dumps(obj))
            for _ in range(rng.randint(1, 4)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            raw = bytes(raw)
        elif m == "cut":
            raw = orjson.dumps(obj)[: rng.randrange(1, len(orjson.dumps(obj)) + 1)]
        elif m == "dup":
            raw = orjson.dumps(obj)[:-1] + b',"' + key.encode() + b'":' + orjson.dumps(rng.choice(HOSTILE)) + b"}"
    line = raw or orjson.dumps(obj)
    _check(line)
    try:
        event = decode(line)
    except InvalidEvent:
        return
    assert decode(encode(event)) == event


def test_every_demo_line_decodes() -> None:
    """The fuzz's seed corpus is valid as it is: the limits refuse none of the example day."""
    assert all(decode(line) for line in DEMO)
