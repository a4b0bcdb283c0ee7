"""How every screen writes a wait, a window's length and a percentage beside its target: one set of
words for the badges, the tiles, the terminal and the page."""

from __future__ import annotations

import math


def duration_text(seconds: float) -> str:
    """A wait as a wallboard shows it: "45 s", "3:07", "1:02:03"."""
    s = max(round(seconds), 0)
    if s < 60:
        return f"{s} s"
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def span_text(seconds: float) -> str:
    """A window's length: "15 min", "1 h", "90 s"."""
    if seconds % 3600 == 0:
        return f"{int(seconds // 3600)} h"
    if seconds % 60 == 0:
        return f"{int(seconds // 60)} min"
    return f"{seconds:g} s"


def pct_beside(value: float, reference: float) -> str:
    """``value`` as a percentage that never reads as ``reference`` unless it is: whole percents when
    they differ from the reference's, else one decimal rounded towards the side ``value`` is on —
    0.7996 beside a target of 0.8 is "79.9 %", never "80 %" under an 80 % target."""
    whole, ref_whole = round(value * 100), round(reference * 100)
    if value == reference or whole != ref_whole:
        return f"{whole} %"
    tenths = value * 1000
    shown = math.floor(tenths) if value < reference else math.ceil(tenths)
    return f"{shown / 10:.1f} %"
