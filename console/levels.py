"""What a wallboard's big numbers mean, for the terminal and the page alike: their colour from the
queue's settings, the window each is shown over (its alarm rule's), the words for the alarms, and when
a queue is closed — so that the two screens never say it differently.

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


#: an alarm's name in the words every screen uses
ALARM_WORDS = {"wait_window_exceeded": "wait", "abandonment_high": "abandoned", "service_level_low": "service level",
               "no_agents": "no agents", "feed_silent": "feed silent"}


def alarm_word(alarm: str) -> str:
    return ALARM_WORDS.get(alarm, alarm.removeprefix("integrity_").replace("_", " "))


def duration_words(seconds: float) -> str:
    """A window's length as people say it: ``30 min``, ``2 h``, ``90 s``."""
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def window_shown(windows: dict[str, Any], seconds: float) -> tuple[str, float]:
    """The snapshot's window (``last_30m``…) to show for a rule's window of ``seconds``, and its length:
    the rule's own when the snapshot keeps it, else the nearest kept, whose length is then what is said."""
    kept = {float(key[len("last_"):-1]) * 60: key for key in windows
            if key.startswith("last_") and key.endswith("m") and key[len("last_"):-1].isdigit()}
    length = min(kept, key=lambda s: (abs(s - seconds), s))
    return kept[length], length


def active_alarms(queue: dict[str, Any]) -> list[dict[str, Any]]:
    """Every alarm active on a queue, the wait alarm first: the snapshot's ``alarms`` list, and its
    ``alarm`` (the wait alarm) if the list does not hold it already."""
    listed = [a for a in queue.get("alarms") or () if a.get("status", "active") == "active"]
    wait = queue.get("alarm")
    if wait and not any(a.get("alarm") == wait.get("alarm") for a in listed):
        listed.insert(0, wait)
    return listed


def is_closed(queue: dict[str, Any]) -> bool:
    """Nobody staffed and nobody waiting: the queue is closed, not failing its service level."""
    return bool(queue["waiting"] == 0 and queue["agents"].get("staffed", 0) == 0)


def with_levels(figures: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Adds each queue's board: the big numbers with their colour level, their thresholds and the
    window each is shown over (its alarm rule's, ``window_s`` long, said ``window_words``), whether the
    queue is closed, and its active alarms with their words."""
    for name, queue in figures["queues"].items():
        qc = settings.monitor.for_queue(name)
        rules = settings.monitor.alarms.for_queue(name)
        sl_key, sl_s = window_shown(queue["windows"], rules.service_level_low.window_s)
        ab_key, ab_s = window_shown(queue["windows"], rules.abandonment_high.window_s)
        sl_window, ab_window = queue["windows"][sl_key], queue["windows"][ab_key]
        sl, ab = sl_window.get("service_level"), ab_window.get("abandonment_rate")
        closed = is_closed(queue)
        queue["board"] = {
            "closed": closed,
            "oldest_wait": {"value": queue["oldest_wait"], "warning": qc.warning_s, "window": qc.wait_window_s,
                            "level": level_oldest(queue["oldest_wait"], qc.warning_s, qc.wait_window_s)},
            "service_level": {"value": sl, "target": qc.service_level_target, "window": sl_key,
                              "window_s": sl_s, "window_words": duration_words(sl_s),
                              "formula": sl_window.get("service_level_formula"),
                              "level": "none" if closed else level_service(sl, qc.service_level_target)},
            "abandonment": {"value": ab, "threshold": rules.abandonment_high.threshold, "window": ab_key,
                            "window_s": ab_s, "window_words": duration_words(ab_s),
                            "level": "none" if closed else level_abandonment(ab, rules.abandonment_high.threshold)},
            "alarms": [{**a, "words": alarm_word(str(a.get("alarm", "")))} for a in active_alarms(queue)],
        }
    return figures
