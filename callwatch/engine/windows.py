"""The figures over a span of time, as of ``now``: the rolling windows (to the minute), today (whole
intervals since the queue's day reset) and each alarm rule's own window, counted as the alarm counts it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from callwatch.config import QueueConfig
from callwatch.engine.aggregates import INTERVAL_S, MINUTE_S, Agg
from callwatch.engine.core import Engine
from callwatch.engine.figures import derived, ratio, service_level_of
from callwatch.engine.screen_text import span_text


def window_agg(engine: Engine, queue: str | None, channel: str | None, start: float, end: float) -> Agg:
    """Sum of the minute buckets whose start lies in [start, end] (rolling windows, to the minute)."""
    out = Agg()
    for q in ([queue] if queue is not None else sorted(engine.buckets.channels)):
        out.merge(engine.buckets.minutes_sum(q, channel, start, end))
    return out


def interval_agg(engine: Engine, queue: str | None, channel: str | None, start: float, end: float) -> Agg:
    """Sum of the 15-minute intervals that start in [start, end)."""
    out = Agg()
    for q in ([queue] if queue is not None else sorted(engine.buckets.channels)):
        out.merge(engine.buckets.intervals_sum(q, channel, start, end))
    return out


def day_start(now: float, qc: QueueConfig) -> float:
    """When "today" began for a queue: the latest day reset (in its time zone) at or before ``now``."""
    local = datetime.fromtimestamp(now, qc.zone)
    reset = local.replace(hour=qc.day_starts_at.hour, minute=qc.day_starts_at.minute, second=0,
                          microsecond=0)
    if reset > local:
        reset = (reset - timedelta(days=1)).replace(tzinfo=qc.zone)
    return reset.timestamp()


def queue_windows(engine: Engine, queue: str, now: float) -> dict[str, Any]:
    """Per queue and per queue × channel: last 15, 30 and 60 min and today, with derived figures; each
    says where it starts (``from``), so that a tile can say which window it shows."""
    qc = engine.config.for_queue(queue)
    today_from = day_start(now, qc)
    channels = sorted(engine.buckets.channels.get(queue, ()))
    out: dict[str, Any] = {}
    spans: tuple[tuple[str, float, Callable[[str | None], Agg]], ...] = (
        ("last_15m", now - 15 * 60, lambda ch: window_agg(engine, queue, ch, now - 15 * 60, now)),
        ("last_30m", now - 30 * 60, lambda ch: window_agg(engine, queue, ch, now - 30 * 60, now)),
        ("last_60m", now - 60 * 60, lambda ch: window_agg(engine, queue, ch, now - 60 * 60, now)),
        ("today", today_from, lambda ch: interval_agg(engine, queue, ch, today_from, now + INTERVAL_S)),
    )
    for name, start, fn in spans:
        out[name] = {**derived(fn(None), qc), "from": start,
                     "channels": {ch: derived(fn(ch), qc) for ch in channels}}
    return out


def rule_windows(engine: Engine, queue: str, now: float) -> dict[str, Any]:
    """The abandonment and service level over each alarm rule's own window, counted as the alarm counts
    them (whole minutes ending by ``now``), with what starts and what clears the alarm: a tile beside a
    badge shows the figure the badge is about."""
    qc = engine.config.for_queue(queue)
    rules = engine.config.alarms.for_queue(queue)
    ab, slr = rules.abandonment_high, rules.service_level_low

    def whole_minutes(window_s: float) -> Agg:
        return engine.buckets.minutes_sum(queue, None, now - window_s, now - MINUTE_S)

    a = whole_minutes(ab.window_s)
    volume = a.answered + a.abandoned + sum(a.dequeued.values())
    s = whole_minutes(slr.window_s)
    return {
        "abandonment": {"window_s": ab.window_s, "window_text": span_text(ab.window_s),
                        "value": ratio(a.abandoned, volume), "contacts": volume,
                        "min_contacts": ab.min_contacts, "threshold": ab.threshold,
                        "clears_at": round(ab.threshold - ab.hysteresis, 6), "enabled": ab.enabled},
        "service_level": {"window_s": slr.window_s, "window_text": span_text(slr.window_s),
                          "value": service_level_of(s, qc),
                          "contacts": s.answered + s.abandoned, "min_contacts": slr.min_contacts,
                          "target": qc.service_level_target,
                          "clears_at": round(qc.service_level_target + slr.hysteresis, 6),
                          "formula": qc.service_level_formula.value, "enabled": slr.enabled},
    }
