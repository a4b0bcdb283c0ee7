"""Alertmanager's ``/api/v2/alerts``: a team routes, groups, silences and inhibits with its own setup.

Alertmanager resolves an alert by itself when it stops hearing of it (``endsAt`` in the past, or its
``resolve_timeout`` when none is given). A firing alarm is therefore sent with ``endsAt`` some time
ahead (``firing_ttl_s``, longer than the alarm's repeat interval, and each repeat pushes it on), and the
resolve sends ``endsAt`` = the resolve instant. If callwatch dies mid-incident the alert still ends after
the TTL; the ``CallwatchWorkerDown`` rule says why.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from alerts.messages import iso
from alerts.receivers.base import Redactor, post_json, secret_from_env

ALERT_NAMES = {
    "wait_window_exceeded": "CallwatchWaitWindowExceeded",
    "abandonment_high": "CallwatchAbandonmentHigh",
    "service_level_low": "CallwatchServiceLevelLow",
    "no_agents": "CallwatchNoAgents",
    "feed_silent": "CallwatchFeedSilent",
}


class AlertmanagerSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["alertmanager"]
    name: str
    #: Alertmanager's base URL, e.g. http://alertmanager:9093
    url: str
    #: labels added to every alert (e.g. team, environment)
    labels: dict[str, str] = Field(default_factory=dict)
    firing_ttl_s: float = Field(default=3600.0, gt=0)
    #: an optional bearer token for an Alertmanager behind an authenticating proxy
    token_env: str | None = None
    timeout_s: float = Field(default=5.0, gt=0)


def _parse(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


def alertmanager_alert(message: dict[str, Any], extra_labels: dict[str, str], firing_ttl_s: float) -> dict[str, Any]:
    alarm = str(message.get("alarm"))
    # the same labels as the shipped Prometheus rules (alertname, alarm, severity, queue), so that one
    # Alertmanager route serves both
    labels = {**extra_labels, "alertname": ALERT_NAMES.get(alarm, f"Callwatch_{alarm}"), "alarm": alarm,
              "severity": str(message.get("severity")), "service": "callwatch"}
    if "queue" in message:
        labels["queue"] = str(message["queue"])
    if "source" in message:
        labels["source"] = str(message["source"])
    at = _parse(str(message["at"]))
    ends = at if message.get("status") == "resolved" else at + timedelta(seconds=firing_ttl_s)
    details = "; ".join(f"{k}={v}" for k, v in {**message.get("value", {}), **message.get("threshold", {}),
                                               **message.get("context", {})}.items())
    return {
        "labels": labels,
        "annotations": {"summary": str(message.get("summary", "")), "title": str(message.get("title", "")),
                        "details": details, "wallboard": str(message.get("link", ""))},
        "startsAt": message.get("started_at"),
        "endsAt": iso(ends.timestamp()),
        "generatorURL": str(message.get("link", "")),
    }


class AlertmanagerReceiver:
    def __init__(self, spec: AlertmanagerSpec, session: aiohttp.ClientSession) -> None:
        self.name = spec.name
        self.spec = spec
        self.session = session
        token = secret_from_env(spec.name, spec.token_env, "bearer token")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._redact = Redactor([token])

    async def send(self, message: dict[str, Any]) -> None:
        alert = alertmanager_alert(message, self.spec.labels, self.spec.firing_ttl_s)
        await post_json(self.session, self.name, self.spec.url.rstrip("/") + "/api/v2/alerts", [alert],
                        headers=self._headers, timeout_s=self.spec.timeout_s, redact=self._redact)
