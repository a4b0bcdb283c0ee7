"""The human text of an alarm: its title, its summary, its figures as labelled quantities, a headline.

Everything here reads the typed fields of :class:`callwatch.alarm.Alarm` (the alerts topic's message,
v2); the units come from ``unit`` and ``threshold_unit``, never from key names. The receivers (Slack,
e-mail, PagerDuty, Alertmanager) build their payloads from these.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from callwatch.alarm import iso_ms

if TYPE_CHECKING:
    from callwatch.alarm import Alarm

ALARM_TITLES = {
    "wait_window_exceeded": "Caller waiting longer than the wait window",
    "abandonment_high": "Abandonment over threshold",
    "service_level_low": "Service level under target",
    "no_agents": "Callers waiting with no agent",
    "feed_silent": "Telephony feed silent",
    "integrity_cap_clustering": "Integrity: calls ended just before the handle-time cap",
    "integrity_short_hangups": "Integrity: many very short calls ended by the agent",
    "integrity_survey_selection": "Integrity: surveys not offered after complaints",
    "integrity_contradicted_resolution": "Integrity: 'resolved' contacts come back",
    "integrity_contradicted_satisfaction": "Integrity: top satisfaction, yet customers come back",
    "integrity_perfect_scores": "Integrity: perfect survey scores far more often than the floor",
    "integrity_clock_anomalies": "Integrity: a source's events arrive in an impossible order",
    "goal_achieved": "Goal achieved",
    "goal_missed": "Goal missed",
    "test": "Test message from callwatch",
}

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


def title(a: Alarm) -> str:
    return ALARM_TITLES.get(a.alarm, a.alarm.replace("_", " ").capitalize())


def summary(a: Alarm) -> str:
    """One sentence: the integrity signal's or goal's own (``detail``), else what, where and how much."""
    if a.detail:
        return a.detail
    q, v, t = a.queue, a.value or 0.0, a.threshold
    done = a.status == "resolved"
    if a.alarm == "wait_window_exceeded":
        if done:
            return f"{q}: no caller over the {t:.0f} s window any more (longest wait now {v:.0f} s)"
        return f"{q}: a caller has waited {v:.0f} s, over the {t:.0f} s window"
    if a.alarm == "abandonment_high":
        return (f"{q}: abandonment back to {v:.1%} over the last 30 min" if done else
                f"{q}: {v:.1%} of callers abandoned over the last 30 min (threshold {t:.0%})")
    if a.alarm == "service_level_low":
        return (f"{q}: service level back to {v:.1%} over the last 30 min" if done else
                f"{q}: service level {v:.1%} over the last 30 min, under the {t:.0%} target")
    if a.alarm == "no_agents":
        return (f"{q}: an agent is available or busy again" if done else
                f"{q}: {v:.0f} callers waiting and no agent available or busy for {t:.0f} s")
    if a.alarm == "feed_silent":
        return (f"source {q}: events flow again" if done else
                f"source {q}: no event (heartbeat included) for {v:.0f} s")
    return f"{a.alarm} {a.status} for {q}"


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
