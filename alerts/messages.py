"""The alarm message published on the alerts topic: one JSON object per start, repeat or resolve.

Its ``id`` is stable for a given incident and status, so a consumer that sees it twice (a worker
restarted between publishing and committing) can drop the second copy; its ``key`` is stable for the
incident's whole life (alarm and queue), which is what a pager deduplicates on.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import orjson

from callwatch.engine import AlarmEvent

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
}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: what the threshold of a figure is called where it has a name of its own
THRESHOLD_NAMES = {"oldest_wait": "wait_window", "service_level": "service_level_target"}


def _summary(a: AlarmEvent) -> str:
    q, v, t = a.queue, a.value, a.threshold
    if a.alarm == "wait_window_exceeded":
        if a.status == "resolved":
            return f"{q}: no caller over the {t:.0f} s window any more (longest wait now {v:.0f} s)"
        return f"{q}: a caller has waited {v:.0f} s, over the {t:.0f} s window"
    done = a.status == "resolved"
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


def _subject_key(alarm: AlarmEvent) -> str:
    if alarm.alarm in ("feed_silent", "integrity_clock_anomalies"):
        return "source"
    return "agent" if alarm.alarm.startswith("integrity_") else "queue"


def alarm_message(alarm: AlarmEvent, wallboard_url: str) -> dict[str, Any]:
    if alarm.alarm.startswith("integrity_"):
        # evidence for a supervisor, not a page: what, about whom, the figures and the contacts behind it
        return {
            "v": 1, "id": alarm.id, "key": alarm.key, "alarm": alarm.alarm, "status": alarm.status,
            "severity": alarm.severity, _subject_key(alarm): alarm.queue,
            "title": ALARM_TITLES.get(alarm.alarm, alarm.alarm), "summary": alarm.detail,
            "at": iso(alarm.at), "started_at": iso(alarm.started_at),
            "value": {f"{alarm.metric}_{alarm.unit}": alarm.value},
            "threshold": {f"floor_baseline_{alarm.unit}": alarm.threshold},
            "context": {}, "evidence": list(alarm.evidence), "call_id": None,
            "link": f"{wallboard_url}?var-agent={quote(alarm.queue)}",
        }
    return {
        "v": 1,
        "id": alarm.id,
        "key": alarm.key,
        "alarm": alarm.alarm,
        "status": alarm.status,
        "severity": alarm.severity,
        _subject_key(alarm): alarm.queue,
        "title": ALARM_TITLES.get(alarm.alarm, alarm.alarm),
        "summary": _summary(alarm),
        "at": iso(alarm.at),
        "started_at": iso(alarm.started_at),
        "value": {f"{alarm.metric}_{alarm.unit}": alarm.value},
        "threshold": {f"{THRESHOLD_NAMES.get(alarm.metric, alarm.metric)}_{alarm.unit}": alarm.threshold},
        "context": {
            **({"oldest_wait_seconds": alarm.value} if alarm.alarm == "wait_window_exceeded" else {}),
            "waiting": alarm.waiting,
            "over_window": alarm.over_window,
            "agents_available": alarm.agents_available,
            "service_level_last_15m_ratio": alarm.service_level,
        },
        "call_id": alarm.call_id or None,
        "link": f"{wallboard_url}?var-queue={quote(alarm.queue)}",
    }


def encode_alarm(alarm: AlarmEvent, wallboard_url: str) -> bytes:
    return orjson.dumps(alarm_message(alarm, wallboard_url))


def _quantity(name: str, value: object) -> str:
    """``oldest_wait_seconds`` 200 → "200 s"; ``abandonment_rate_ratio`` 0.123 → "12.3 %"."""
    if value is None:
        return "n/a"
    if not isinstance(value, (int, float)):
        return str(value)
    if name.endswith("_ratio"):
        return f"{value:.1%}".replace("%", " %")
    if name.endswith("_seconds"):
        return f"{value:.0f} s"
    return f"{value:g}"


def _label(name: str) -> str:
    for unit in ("_seconds", "_ratio", "_contacts"):
        name = name.removesuffix(unit)
    return name.replace("_", " ").capitalize()


def facts(message: dict[str, Any]) -> list[tuple[str, str]]:
    """The message's figures as (label, text) pairs for people: value, threshold, since when, context."""
    rows: list[tuple[str, str]] = []
    for name, value in message.get("value", {}).items():
        rows.append((_label(name), _quantity(name, value)))
    for name, value in message.get("threshold", {}).items():
        rows.append((f"Threshold ({_label(name).lower()})", _quantity(name, value)))
    rows.append(("Since", str(message.get("started_at", "?"))))
    context = message.get("context", {})
    for name in ("waiting", "oldest_wait_seconds", "agents_available", "service_level_last_15m_ratio"):
        if name in context and (name != "oldest_wait_seconds" or not message.get("value", {}).get(name)):
            rows.append((_label(name).replace("last 15m", "(last 15 min)"), _quantity(name, context[name])))
    return rows


def headline(message: dict[str, Any]) -> str:
    """One line saying how bad, what and where: "CRITICAL billing — Caller waiting longer than …"."""
    where = message.get("queue") or message.get("agent") or message.get("source") or "?"
    status = {"resolved": "RESOLVED", "test": "TEST"}.get(str(message.get("status")),
                                                           str(message.get("severity", "")).upper())
    return f"{status} {where} — {message.get('title', message.get('alarm', 'alarm'))}"
