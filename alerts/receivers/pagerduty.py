"""PagerDuty Events API v2: ``trigger`` on start and repeat, ``resolve`` on resolve, one dedup key.

The dedup key is the alarm's key (alarm and queue), stable for the incident's life: PagerDuty folds a
repeat into the open incident and the resolve closes it. A later incident of the same alarm and queue
opens a new PagerDuty incident, since the old one is resolved by then. PagerDuty refuses a dedup key over
255 characters; a key that long (a queue named at length) keeps its first part and ends in a digest of
the whole key, so that it still names one incident and is accepted.

Everything else goes as JSON values (the queue in ``component`` and ``source``, the summary cut to
PagerDuty's 1,024 characters): PagerDuty shows them as text.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from alerts.links import Link
from alerts.messages import facts
from alerts.receivers.base import Redactor, post_json, secret_from_env
from callwatch.alarm import Alarm, iso_ms

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
#: PagerDuty's limit on a dedup key
DEDUP_KEY_MAX = 255
#: the severities PagerDuty accepts are critical, error, warning and info
SEVERITIES = {"critical": "critical", "warning": "warning", "info": "info"}


class PagerDutySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["pagerduty"]
    name: str
    #: the environment variable holding the integration's routing key
    routing_key_env: str
    url: str = EVENTS_URL
    timeout_s: float = Field(default=10.0, gt=0)


def dedup_key(alarm: Alarm) -> str:
    """The alarm's key, or for one over PagerDuty's 255 characters its beginning and a SHA-256 digest of
    the whole (the same for the incident's start, repeats and resolve; different for another key)."""
    key = alarm.key
    if len(key) <= DEDUP_KEY_MAX:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()
    return f"{key[:DEDUP_KEY_MAX - len(digest) - 1]}~{digest}"


def pagerduty_event(alarm: Alarm, routing_key: str, links: Sequence[Link] = ()) -> dict[str, Any]:
    dedup = dedup_key(alarm)
    if alarm.status == "resolved":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup}
    # the figures as people read them ("Oldest wait": "180 s"), and the alarm's own names
    details: dict[str, Any] = dict(facts(alarm))
    details.update({"alarm": alarm.alarm, "status": alarm.status, "id": alarm.id})
    if alarm.call_id:
        details["call_id"] = alarm.call_id
    if alarm.evidence:
        details["contacts"] = list(alarm.evidence)
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {
            "summary": alarm.summary[:1024] or alarm.title,
            "source": f"callwatch/{alarm.queue}",
            "severity": SEVERITIES.get(alarm.severity, "error"),
            "timestamp": iso_ms(alarm.at),
            "component": alarm.queue,
            "group": alarm.subject_kind,
            "class": alarm.alarm,
            "custom_details": details,
        },
        "client": "callwatch",
    }
    if links:
        event["client_url"] = links[0].url
        event["links"] = [{"href": link.url, "text": link.text} for link in links]
    return event


class PagerDutyReceiver:
    def __init__(self, spec: PagerDutySpec, session: aiohttp.ClientSession) -> None:
        self.name = spec.name
        self.spec = spec
        self.session = session
        key = secret_from_env(spec.name, spec.routing_key_env, "routing key")
        assert key is not None
        self._key = key
        self._redact = Redactor([key])

    async def send(self, alarm: Alarm, links: Sequence[Link] = ()) -> None:
        await post_json(self.session, self.name, self.spec.url, pagerduty_event(alarm, self._key, links),
                        timeout_s=self.spec.timeout_s, redact=self._redact)
