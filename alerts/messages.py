"""The human text of an alarm: its title, its summary, its figures as labelled quantities, a headline.

Everything here reads the typed fields of :class:`callwatch.alarm.Alarm` (the alerts topic's message,
v2); the units come from ``unit`` and ``threshold_unit``, never from key names. The receivers (Slack,
e-mail, PagerDuty, Alertmanager) build their payloads from these.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from callwatch.alarm import iso_ms, title

if TYPE_CHECKING:
    from callwatch.alarm import Alarm


#: what an alarm's threshold is, for people ("Threshold (wait window)")
THRESHOLD_LABELS = {
    "wait_window_exceeded": "wait window",
    "service_level_low": "service level target",
    "no_agents": "no agent for",
    "feed_silent": "silent for",
}


def iso(ts: float) -> str:
    """Epoch seconds as ISO-8601 UTC with milliseconds and ``Z`` (an alarm's times are
    :func:`callwatch.alarm.iso_ms`, the same text for times held to the millisecond)."""
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def quantity(value: float | None, unit: str) -> str:
    """200, seconds → "200 s"; 0.123, ratio → "12.3 %"; 4, contacts → "4"; None → "n/a"."""
    if value is None:
        return "n/a"
    if unit == "ratio":
        return f"{value:.1%}".replace("%", " %")
    if unit == "seconds":
        return f"{value:.0f} s"
    return f"{value:g}"


def _label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def facts(a: Alarm) -> list[tuple[str, str]]:
    """The alarm's figures as (label, text) pairs for people: value, threshold, since when, and for a
    queue the context (waiting, agents available, service level of the last 15 minutes)."""
    if a.alarm.startswith("integrity_"):
        threshold = "floor baseline"
    elif a.alarm.startswith("goal_"):
        threshold = "target"
    else:
        threshold = THRESHOLD_LABELS.get(a.alarm, a.metric.replace("_", " "))
    rows = [(_label(a.metric), quantity(a.value, a.unit)),
            (f"Threshold ({threshold})", quantity(a.threshold, a.threshold_unit)),
            ("Since", iso_ms(a.started_at))]
    if a.subject_kind == "queue" and a.alarm != "test":
        if a.metric != "waiting":
            rows.append(("Waiting", quantity(a.waiting, "contacts")))
        rows.append(("Agents available", quantity(a.agents_available, "contacts")))
        rows.append(("Service level (last 15 min)", quantity(a.service_level, "ratio")))
    return rows


def headline(a: Alarm) -> str:
    """One line saying how bad, what and where: "CRITICAL billing — Caller waiting longer than …"."""
    status = "TEST" if a.alarm == "test" else "RESOLVED" if a.status == "resolved" else a.severity.upper()
    return f"{status} {a.queue} — {title(a)}"
