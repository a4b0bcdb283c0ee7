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
    """Adds each queue's board: the big numbers with their colour level and their thresholds. Service level
    and abandonment are over their alarm rule's own window (``rule_windows``, counted as the alarm counts),
    so a tile and the badge beside it speak of the same figure; a closed queue's are ``none``."""
    for name, queue in figures["queues"].items():
        qc = settings.monitor.for_queue(name)
        rules = settings.monitor.alarms.for_queue(name)
        windows = queue.get("rule_windows")
        if windows is not None:
            sl, ab = windows["service_level"]["value"], windows["abandonment"]["value"]
            sl_window, ab_window = windows["service_level"]["window_s"], windows["abandonment"]["window_s"]
        else:  # a snapshot written before rule windows
            sl = queue["windows"]["last_15m"].get("service_level")
            ab = queue["windows"]["last_30m"].get("abandonment_rate")
            sl_window, ab_window = 900.0, 1800.0
        closed = bool(queue.get("closed"))
        queue["board"] = {
            "oldest_wait": {"value": queue["oldest_wait"], "warning": qc.warning_s, "window": qc.wait_window_s,
                            "level": level_oldest(queue["oldest_wait"], qc.warning_s, qc.wait_window_s)},
            "service_level": {"value": sl, "target": qc.service_level_target, "window_s": sl_window,
                              "formula": qc.service_level_formula.value,
                              "level": "none" if closed else level_service(sl, qc.service_level_target)},
            "abandonment": {"value": ab, "threshold": rules.abandonment_high.threshold, "window_s": ab_window,
                            "level": "none" if closed else level_abandonment(ab, rules.abandonment_high.threshold)},
        }
    return figures
