"""What a wallboard's big numbers mean, for the terminal and the page alike: their colour from the
queue's settings, the window each is shown over (its alarm rule's), the words for the alarms, and when
a queue is closed — so that the two screens never say it differently.

Oldest wait amber from ``wait_warning_s`` and red from the wait window, service level red under target,
abandonment amber from 5 % and red from the queue's ``abandonment_high`` threshold.
"""

from __future__ import annotations

from typing import Any

from callwatch.engine import screen_text
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


def pct_beside(value: float | None, reference: float) -> str:
    """The core's percentage that never reads as the target it misses; "–" when there is no value."""
    return "–" if value is None else screen_text.pct_beside(value, reference)


#: the same words as the page's (the core writes them into the snapshot; these format what a snapshot
#: from before that carried only numbers)
span_words = screen_text.span_text
wait_words = screen_text.duration_text


def window_shown(windows: dict[str, Any], seconds: float) -> tuple[str, float]:
    """For a snapshot without the rules' windows: its window (``last_30m``…) nearest a rule's window of
    ``seconds``, and that window's length (which is then what the screen says)."""
    kept = {float(key[len("last_"):-1]) * 60: key for key in windows
            if key.startswith("last_") and key.endswith("m") and key[len("last_"):-1].isdigit()}
    length = min(kept, key=lambda s: (abs(s - seconds), s))
    return kept[length], length


def is_closed(queue: dict[str, Any]) -> bool:
    """Nobody staffed and nobody waiting: the queue is closed, not failing its service level."""
    if "closed" in queue:  # the snapshot says so (as of its instant)
        return bool(queue["closed"])
    return bool(queue["waiting"] == 0 and queue["agents"].get("staffed", 0) == 0)


def active_alarms(queue: dict[str, Any]) -> list[dict[str, Any]]:
    """Every alarm on for a queue as the snapshot lists them (badge ``label``, ``since``, the rule's
    ``window_text``, the ``reason``); a snapshot from before that list gives its wait alarm only."""
    if "alarms" in queue:
        return list(queue["alarms"])
    wait = queue.get("alarm")
    if not wait:
        return []
    window = queue["wait_window"]
    return [{"alarm": wait["alarm"], "label": "WAIT", "since": wait["started_at"], "window_s": window,
             "window_text": wait_words(window), "reason": f"a caller waited over the {wait_words(window)} wait window"}]


def with_levels(figures: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Adds each queue's board: the big numbers with their colour level, their thresholds and the window
    they are over (``window_s``, said ``window_text``). Service level and abandonment are over their alarm
    rule's own window (``rule_windows``, counted as the alarm counts), so a figure and the badge beside it
    speak of the same thing; a closed queue's are ``none``. Also whether the queue is ``closed`` and its
    ``alarms``: what the terminal and the page both show."""
    for name, queue in figures["queues"].items():
        qc = settings.monitor.for_queue(name)
        rules = settings.monitor.alarms.for_queue(name)
        windows = queue.get("rule_windows")
        if windows is not None:
            sl, ab = windows["service_level"]["value"], windows["abandonment"]["value"]
            sl_window, ab_window = windows["service_level"]["window_s"], windows["abandonment"]["window_s"]
        else:  # a snapshot written before rule windows: the window it keeps nearest the rule's
            sl_key, sl_window = window_shown(queue["windows"], rules.service_level_low.window_s)
            ab_key, ab_window = window_shown(queue["windows"], rules.abandonment_high.window_s)
            sl = queue["windows"][sl_key].get("service_level")
            ab = queue["windows"][ab_key].get("abandonment_rate")
        closed = is_closed(queue)
        queue["board"] = {
            "closed": closed,
            "alarms": active_alarms(queue),
            "oldest_wait": {"value": queue["oldest_wait"], "warning": qc.warning_s, "window": qc.wait_window_s,
                            "level": level_oldest(queue["oldest_wait"], qc.warning_s, qc.wait_window_s)},
            "service_level": {"value": sl, "target": qc.service_level_target, "window_s": sl_window,
                              "window_text": span_words(sl_window), "formula": qc.service_level_formula.value,
                              "level": "none" if closed else level_service(sl, qc.service_level_target)},
            "abandonment": {"value": ab, "threshold": rules.abandonment_high.threshold, "window_s": ab_window,
                            "window_text": span_words(ab_window),
                            "level": "none" if closed else level_abandonment(ab, rules.abandonment_high.threshold)},
        }
    return figures
