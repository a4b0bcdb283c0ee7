"""Times and durations as people type them: an RFC 3339 instant ("2026-11-23T09:00:00Z"), a duration
("90s", "30m", "1.5h", "2h30m", "1d"), a month ("2026-11").

Each parser raises ``ValueError`` with a sentence that says what to give instead, so that any front end
can show it as it is.
"""

from __future__ import annotations

import re
from datetime import datetime

_NUMBER = r"(\d+(?:\.\d+)?)"
_DURATION = re.compile(f"(?:{_NUMBER}d)?(?:{_NUMBER}h)?(?:{_NUMBER}m)?(?:{_NUMBER}s)?")
_MONTH = re.compile(r"\d{4}-\d{2}")


def parse_instant(text: str) -> float:
    """POSIX seconds of an RFC 3339 time; a time without a zone is refused (it would mean the machine's)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} needs a time zone (Z or an offset)")
    return moment.timestamp()


def parse_duration(text: str) -> float:
    """Seconds in "90s", "30m", "1.5h", "2h30m" or "1d" (the simulator's and the silences' durations).

    A bare number is refused: "8" would be eight seconds to the parser and eight hours to whoever
    typed it for a simulated day."""
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        raise ValueError(f"{text!r} has no unit: give {number:g}s, {number:g}m, {number:g}h or {number:g}d")
    parts = _DURATION.fullmatch(text)
    if not text or parts is None:
        raise ValueError(f"{text!r}: give a duration like 90s, 30m, 1h, 2h30m or 1d")
    d, h, m, sec = (float(x or 0) for x in parts.groups())
    return d * 86400 + h * 3600 + m * 60 + sec


def parse_month(text: str) -> str:
    """A month as YYYY-MM (a scorecard's month), checked: "2026-13" is refused, not an empty month."""
    text = text.strip()
    if _MONTH.fullmatch(text) is None or not 1 <= int(text[5:]) <= 12:
        raise ValueError(f"{text!r} is not a month: give YYYY-MM, e.g. 2026-11")
    return text
