"""Alertmanager's ``/api/v2/alerts``: a team routes, groups, silences and inhibits with its own setup.

Alertmanager resolves an alert by itself when it stops hearing of it (``endsAt`` in the past, or its
``resolve_timeout`` when none is given). A firing alarm is therefore sent with ``endsAt`` some time
ahead (``firing_ttl_s``, longer than the alarm's repeat interval, and each repeat pushes it on), and the
resolve sends ``endsAt`` = the resolve instant. If callwatch dies mid-incident the alert still ends after
the TTL; the ``CallwatchWorkerDown`` rule says why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from alerts.links import Link
from alerts.messages import facts
from alerts.receivers.base import Redactor, post_json, secret_from_env
from callwatch.alarm import Alarm, iso_ms

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


def alertmanager_alert(alarm: Alarm, extra_labels: dict[str, str], firing_ttl_s: float,
                       links: Sequence[Link] = ()) -> dict[str, Any]:
    # the same labels as the shipped Prometheus rules (alertname, alarm, severity, queue), so that one
    # Alertmanager route serves both; the subject's label says what it is (queue, source or agent)
    labels = {**extra_labels, "alertname": ALERT_NAMES.get(alarm.alarm, f"Callwatch_{alarm.alarm}"),
              "alarm": alarm.alarm, "severity": alarm.severity, "service": "callwatch",
              alarm.subject_kind: alarm.queue}
    if alarm.site:  # as the rules label theirs: two sites' queues of one name are two alerts, not one
        labels["site"] = alarm.site
    ends = alarm.at if alarm.status == "resolved" else alarm.at + firing_ttl_s
    details = "; ".join(f"{label}: {text}" for label, text in facts(alarm))
    # one annotation per link, by its name (``wallboard``); the first is the generator URL
    annotations = {link.name: link.url for link in links}
    annotations.update({"summary": alarm.summary, "title": alarm.title, "details": details})
    alert: dict[str, Any] = {
        "labels": labels,
        "annotations": annotations,
        "startsAt": iso_ms(alarm.started_at),
        "endsAt": iso_ms(ends),
    }
    if links:
        alert["generatorURL"] = links[0].url
    return alert


class AlertmanagerReceiver:
    def __init__(self, spec: AlertmanagerSpec, session: aiohttp.ClientSession) -> None:
        self.name = spec.name
        self.spec = spec
        self.session = session
        token = secret_from_env(spec.name, spec.token_env, "bearer token")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._redact = Redactor([token])

    async def send(self, alarm: Alarm, links: Sequence[Link] = ()) -> None:
        alert = alertmanager_alert(alarm, self.spec.labels, self.spec.firing_ttl_s, links)
        await post_json(self.session, self.name, self.spec.url.rstrip("/") + "/api/v2/alerts", [alert],
                        headers=self._headers, timeout_s=self.spec.timeout_s, redact=self._redact)
