"""What the floor's alarm badges say: per alarm on, its word, since when, its rule's window and one
sentence why, written from the same figures the screen shows beside it (the queue's live figures and
its alarm rules' windows), as of the snapshot's instant."""

from __future__ import annotations

import math
from typing import Any

from callwatch.engine.core import Engine
from callwatch.engine.screen_text import duration_text, pct_beside, span_text
from callwatch.engine.windows import day_start

#: each alarm's badge: the same word on every screen (page and terminal read it from the snapshot)
ALARM_LABELS = {
    "wait_window_exceeded": "WAIT",
    "wait_window_forecast": "WAIT AHEAD",
    "abandonment_high": "ABANDONMENT",
    "service_level_low": "SERVICE LEVEL",
    "no_agents": "NO AGENTS",
    "feed_silent": "FEED SILENT",
    "integrity": "INTEGRITY",
    "redis_unreachable": "REDIS DOWN",
    "redis_hung": "REDIS HUNG",
    "redis_state_lost": "STATE LOST",
    "consumer_stuck": "CONSUMER STUCK",
    "offset_regression": "OFFSETS BACK",
}


#: alarms whose window is a time someone waits (shown as a wait, "3:00"), not a span of figures ("30 min")
WAIT_LIKE = ("wait_window_exceeded", "wait_window_forecast", "no_agents", "feed_silent")
#: alarms of warning severity: an amber badge, not a red one (a forecast, not something that happened)
WARNING_LIKE = ("wait_window_forecast",)


def queue_alarms(engine: Engine, queue: str, now: float, live: dict[str, Any],
                 windows: dict[str, Any]) -> list[dict[str, Any]]:
    """Every alarm on for the queue: its badge, since when, its rule's window and one sentence why,
    written from the same figures the screen shows beside it."""
    out: list[dict[str, Any]] = []
    wait = engine.alarms.get(queue)
    if wait is not None:
        window = live["wait_window"]
        over = live["over_window"]
        out.append(alarm_entry(
            "wait_window_exceeded", wait.started_at, window,
            f"{over} caller{'s' if over != 1 else ''} over the {duration_text(window)} wait window; the oldest "
            f"has waited {duration_text(live['oldest_wait'])}" if over else
            f"a caller waited over the {duration_text(window)} wait window; it resolves once the last one "
            "over it is answered or gone"))
    ahead = engine.early_warning.on(queue)
    if ahead is not None and wait is None and ahead[0] <= now:
        # the early warning, until what it foretold has come: once a caller is over the window the WAIT
        # badge says so, and a second badge about the same callers would only take its room
        since, cross = ahead
        window = live["wait_window"]
        rule = engine.config.alarms.for_queue(queue).wait_window_forecast
        left = cross - now
        when = ("" if not math.isfinite(left) else f" in about {max(round(left / 60), 1)} min" if left >= 30
                else " any moment")
        out.append(alarm_entry(
            "wait_window_forecast", since, window,
            f"a caller is predicted to pass the {duration_text(window)} wait window{when} at this rate; clears "
            f"when every predicted wait is under {duration_text(max(window - rule.hysteresis_s, 0.0))}"))
    for name in ("abandonment_high", "service_level_low", "no_agents"):
        state = engine.thresholds.get(f"{name}:{queue}")
        if state is None or state.status != "active":
            continue
        if name in _RATE_RULES:
            key, figure, reference, clears_side = _RATE_RULES[name]
            w = windows[key]
            out.append(alarm_entry(name, state.since, w["window_s"], _rate_reason(w, figure, reference, clears_side)))
        else:
            for_s = engine.config.alarms.for_queue(queue).no_agents.for_s
            out.append(alarm_entry(name, state.since, for_s,
                                    f"callers wait and no agent is available or on a call (for over "
                                    f"{duration_text(for_s)})"))
    return out


#: the alarms on a rate over their rule's window: the rule window they read (``rule_windows``), how
#: their figure reads, the key (and word) of what it is held against, and the side it clears on
_RATE_RULES = {
    "abandonment_high": ("abandonment", "{} abandoned", "threshold", "under"),
    "service_level_low": ("service_level", "service level {}", "target", "over"),
}


def _rate_reason(w: dict[str, Any], figure: str, reference: str, clears_side: str) -> str:
    value = "–" if w["value"] is None else pct_beside(w["value"], w[reference])
    return (f"{figure.format(value)} in the last {span_text(w['window_s'])} ({w['contacts']} contacts), "
            f"{reference} {pct_beside(w[reference], w[reference])}; clears at "
            f"{pct_beside(w['clears_at'], w['clears_at'])} or {clears_side}")


def alarm_entry(alarm: str, since: float, window_s: float | None, reason: str,
                subject: str | None = None) -> dict[str, Any]:
    """One alarm on a screen: its badge word, since when, its rule's window (a wait window reads as a
    wait, "3:00", as on its tile) and one sentence why."""
    text = None if window_s is None else duration_text(window_s) if alarm in WAIT_LIKE else span_text(window_s)
    return {"alarm": alarm, "label": ALARM_LABELS.get(alarm, alarm.upper()), "since": since,
            "severity": "warning" if alarm in WARNING_LIKE else "critical",
            "window_s": window_s, "window_text": text,
            "reason": reason, **({"subject": subject} if subject is not None else {})}


def floor_alarms(engine: Engine, now: float) -> list[dict[str, Any]]:
    """The alarms on for the floor rather than a queue: silent feeds, and the integrity signals of the
    last review (counted, not named: the floor's screen is open, an agent's signal is for a supervisor)."""
    out: list[dict[str, Any]] = []
    after_s = engine.config.alarms.feed_silent.after_s
    for _, state in sorted(engine.thresholds.items()):
        if state.alarm != "feed_silent" or state.status != "active":
            continue
        last = engine.sources.get(state.subject)
        silent = "" if last is None else f" for {duration_text(now - last)}"
        out.append(alarm_entry("feed_silent", state.since, after_s,
                                f"no event from source {state.subject}{silent} (limit {duration_text(after_s)})",
                                subject=state.subject))
    rule = engine.config.alarms.integrity
    signals = engine.integrity_signals() if rule.enabled else []
    if signals:
        period = engine.config.integrity.period_days
        since = day_start(now, engine.config.defaults)
        kinds = sorted({s.signal.replace("_", " ") for s in signals})
        out.append(alarm_entry(
            "integrity", since, period * 86400.0,
            f"{len(signals)} integrity signal{'s' if len(signals) != 1 else ''} over the last {period} days "
            f"({', '.join(kinds)}): see the agents' scorecards"))
    return out
