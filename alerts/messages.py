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

ALARM_TITLES = {"wait_window_exceeded": "Caller waiting longer than the wait window"}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alarm_message(alarm: AlarmEvent, wallboard_url: str) -> dict[str, Any]:
    if alarm.status == "started":
        summary = (f"{alarm.queue}: a caller has waited {alarm.value_s:.0f} s, over the "
                   f"{alarm.threshold_s:.0f} s window")
    else:
        summary = (f"{alarm.queue}: no caller over the {alarm.threshold_s:.0f} s window any more "
                   f"(longest wait now {alarm.value_s:.0f} s)")
    return {
        "v": 1,
        "id": alarm.id,
        "key": alarm.key,
        "alarm": alarm.alarm,
        "status": alarm.status,
        "severity": alarm.severity,
        "queue": alarm.queue,
        "title": ALARM_TITLES.get(alarm.alarm, alarm.alarm),
        "summary": summary,
        "at": iso(alarm.at),
        "started_at": iso(alarm.started_at),
        "value": {"oldest_wait_seconds": alarm.value_s},
        "threshold": {"wait_window_seconds": alarm.threshold_s},
        "context": {
            "waiting": alarm.waiting,
            "over_window": alarm.over_window,
            "oldest_wait_seconds": alarm.value_s,
            "agents_available": alarm.agents_available,
            "service_level_last_15m_ratio": alarm.service_level,
        },
        "call_id": alarm.call_id,
        "link": f"{wallboard_url}?var-queue={quote(alarm.queue)}",
    }


def encode_alarm(alarm: AlarmEvent, wallboard_url: str) -> bytes:
    return orjson.dumps(alarm_message(alarm, wallboard_url))
