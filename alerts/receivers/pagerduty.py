"""PagerDuty Events API v2: ``trigger`` on start and repeat, ``resolve`` on resolve, one dedup key.

The dedup key is the alarm's key (alarm and queue), stable for the incident's life: PagerDuty folds a
repeat into the open incident and the resolve closes it. A later incident of the same alarm and queue
opens a new PagerDuty incident, since the old one is resolved by then.
"""

from __future__ import annotations

from typing import Any, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from alerts.receivers.base import Redactor, post_json, secret_from_env

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
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


def pagerduty_event(message: dict[str, Any], routing_key: str) -> dict[str, Any]:
    dedup_key = str(message.get("key", message.get("id")))
    if message.get("status") == "resolved":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key}
    where = message.get("queue") or message.get("source") or "?"
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "payload": {
            "summary": str(message.get("summary", message.get("title", "callwatch alarm")))[:1024],
            "source": f"callwatch/{where}",
            "severity": SEVERITIES.get(str(message.get("severity")), "error"),
            "timestamp": message.get("at"),
            "component": where,
            "group": "queue" if "queue" in message else "source",
            "class": message.get("alarm"),
            "custom_details": {
                "value": message.get("value"), "threshold": message.get("threshold"),
                "since": message.get("started_at"), "context": message.get("context"),
                "call_id": message.get("call_id"), "status": message.get("status"),
            },
        },
        "client": "callwatch",
    }
    if message.get("link"):
        event["client_url"] = message["link"]
        event["links"] = [{"href": message["link"], "text": "Wallboard"}]
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

    async def send(self, message: dict[str, Any]) -> None:
        await post_json(self.session, self.name, self.spec.url, pagerduty_event(message, self._key),
                        timeout_s=self.spec.timeout_s, redact=self._redact)
