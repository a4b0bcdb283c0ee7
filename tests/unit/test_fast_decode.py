"""The fast event validator (Rust constraints in place of the Python checks of names and times) says yes
to exactly what the full validator says yes to, with an equal event, and leaves every refusal to it."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from callwatch import events
from callwatch.events import DEFAULT_LIMITS, InputLimits, InvalidEvent, decode

BASE: dict[str, Any] = {"v": 1, "id": "e1", "type": "call.answered", "ts": "2026-11-23T09:15:02.120Z",
                        "call_id": "c1", "queue": "sales", "source": "pbx", "agent": "a1"}
#: names that sit on every edge the checks draw: control characters (C0, DEL, C1), the line breaks
#: str.isprintable refuses without being control characters, other unprintable code points, lengths
NAMES = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    st.text(alphabet="ab\x00\x1f\x7f\x80\x9f\xa0\u2028\u2029\u200b\ufeff é", max_size=30),
    st.integers(min_value=0, max_value=300).map(lambda n: "x" * n),
    st.sampled_from(["", None, 7, 1.5, True, ["a"]]),
)
TIMES = st.one_of(
    st.sampled_from(["2026-11-23T09:15:02Z", "2026-11-23 09:15:02+01:00", "2026-11-23t09:15Z", "2026-11-23T09:15:02",
                     "2026-11-23", "1700000000", "2026-11-23T25:00:00Z", "٢٠٢٦-١١-٢٣T09:15:02Z", " 2026-11-23T09:15Z",
                     "2026-11-23T09:15:02.123456789+05:30", 1700000000, 1.7e9, None, "", "now"]),
    st.text(alphabet="0123456789-T:Z+. tz", max_size=30),
)
FIELDS = ("id", "call_id", "queue", "source", "agent")


def _full(obj: dict[str, Any], limits: InputLimits) -> Any:
    try:
        return events._adapter.validate_python(obj, context={"limits": limits})
    except ValidationError:
        return "refused"


def _fast(obj: dict[str, Any], limits: InputLimits) -> Any:
    try:
        return events._fast_validator(limits).validate_python(obj)
    except ValidationError:
        return "refused"


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(FIELDS), name=NAMES, ts=TIMES, limit=st.sampled_from([16, 20, 200]))
def test_fast_validator_accepts_what_the_full_one_accepts(field: str, name: Any, ts: Any, limit: int) -> None:
    """For any name in any field and any time, the fast validator gives the full one's event or refuses
    where it refuses."""
    limits = InputLimits(max_name_chars=limit)
    obj = {**BASE, field: name, "ts": ts}
    assert _fast(obj, limits) == _full(obj, limits)


def test_a_refusal_is_the_full_validators() -> None:
    """An event the fast validator refuses is answered with the full validator's code and reason."""
    with pytest.raises(InvalidEvent) as info:
        decode(orjson.dumps({**BASE, "queue": "a\x07b"}))
    assert (info.value.code, info.value.reason) == ("control_character",
                                                  "call.answered.queue: control character '\\x07' at position 1")
    with pytest.raises(InvalidEvent) as info:
        decode(orjson.dumps({**BASE, "ts": 1700000000}))
    assert info.value.code == "bad_timestamp"


def test_the_fast_validator_calls_no_python_check() -> None:
    """The fast validator's schema holds none of the Python checks (else it would not be fast), and the
    full validator's still holds them all."""
    assert events._python_checks(events._fast_schema(events._adapter.core_schema, 200)) == set()
    assert {"_name", "_time_text"} <= events._python_checks(events._adapter.core_schema)
    assert "Prebuilt" not in repr(events._fast_validator(DEFAULT_LIMITS))
