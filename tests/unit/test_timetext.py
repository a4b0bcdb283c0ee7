"""Times, durations and a replay's pace as people type them on the command line."""

from __future__ import annotations

import pytest

from callwatch.timetext import parse_duration, parse_instant, parse_month
from producers.replay import Outgoing, parse_speed, shift_to


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90.0), ("30m", 1800.0), ("1.5h", 5400.0),
                                               ("2h30m", 9000.0), ("1d", 86400.0), (" 45s ", 45.0)])
def test_durations(text: str, seconds: float) -> None:
    """d, h, m and s add up in that order."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["8", "90", "1.5"])
def test_a_bare_number_is_not_a_duration(text: str) -> None:
    """A number without a unit is refused with the units it could have meant, not taken as seconds."""
    with pytest.raises(ValueError, match=f"has no unit: give {text}s, {text}m, {text}h or {text}d"):
        parse_duration(text)


def test_months() -> None:
    """YYYY-MM with a month from 01 to 12 is a month; anything else says what to give."""
    assert parse_month("2026-11") == "2026-11"
    for bad in ("2026-13", "2026-00", "2026-1", "11-2026", "november"):
        with pytest.raises(ValueError, match="give YYYY-MM"):
            parse_month(bad)


@pytest.mark.parametrize("text", ["", "1x", "30m2h", "h"])
def test_bad_durations_say_what_to_give(text: str) -> None:
    """A duration that is not one says what one looks like."""
    with pytest.raises(ValueError, match="give a duration like 90s"):
        parse_duration(text)


def test_instants_need_a_zone() -> None:
    """Z and offsets name the same instant; a time without a zone, or no time at all, is refused."""
    assert parse_instant("2026-11-23T09:00:00Z") == parse_instant("2026-11-23T10:00:00+01:00") == 1795424400.0
    with pytest.raises(ValueError, match="needs a time zone"):
        parse_instant("2026-11-23T09:00:00")
    with pytest.raises(ValueError, match="is not an RFC 3339 time"):
        parse_instant("monday")


def test_speed_and_rebase() -> None:
    """'max' is as fast as possible, a pace must be above 0, and a rebase moves the first timed event to now."""
    assert parse_speed("max") is None and parse_speed("60") == 60.0
    for bad, reason in (("0", "must be above 0"), ("fast", "or 'max'")):
        with pytest.raises(ValueError, match=reason):
            parse_speed(bad)
    items = [Outgoing(b"k", b"not json", None), Outgoing(b"k", b"{}", 100.0), Outgoing(b"k", b"{}", 160.0)]
    assert shift_to(items, 1000.0) == 900.0 and shift_to(items[:1], 1000.0) == 0.0
