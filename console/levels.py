"""The colour of a wallboard's big numbers, from the queue's settings: the terminal's and the page's.

Oldest wait amber from ``wait_warning_s`` and red from the wait window, service level red under target,
abandonment amber from 5 % and red from the queue's ``abandonment_high`` threshold.
"""

from __future__ import annotations

from typing import Any

from callwatch.settings import Settings

#: abandonment is amber from here (the low end of the worldwide 5–8 % range), red from the queue's threshold
ABANDONMENT_AMBER = 0.05


def level_oldest(oldest: float, warning: float, window: float) -> str:
    # red once a wait is over the window (as the alarm and over_window count it), amber from the warning
    return "red" if oldest > window else "amber" if oldest >= warning else "green"


def level_service(value: float | None, target: float) -> str:
    return "none" if value is None else "green" if value >= target else "red"


def level_abandonment(value: float | None, threshold: float) -> str:
    return "none" if value is None else "red" if value > threshold else "amber" if value >= ABANDONMENT_AMBER \
        else "green"


def with_levels(figures: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Adds each queue's board: the big numbers with their colour level and their thresholds."""
    for name, queue in figures["queues"].items():
        qc = settings.monitor.for_queue(name)
        rules = settings.monitor.alarms.for_queue(name)
        last15, last30 = queue["windows"]["last_15m"], queue["windows"]["last_30m"]
        sl, ab = last15.get("service_level"), last30.get("abandonment_rate")
        queue["board"] = {
            "oldest_wait": {"value": queue["oldest_wait"], "warning": qc.warning_s, "window": qc.wait_window_s,
                            "level": level_oldest(queue["oldest_wait"], qc.warning_s, qc.wait_window_s)},
            "service_level": {"value": sl, "target": qc.service_level_target, "window": "last_15m",
                              "formula": last15.get("service_level_formula"),
                              "level": level_service(sl, qc.service_level_target)},
            "abandonment": {"value": ab, "threshold": rules.abandonment_high.threshold, "window": "last_30m",
                            "level": level_abandonment(ab, rules.abandonment_high.threshold)},
        }
    return figures
