"""The generic webhook: the alarm as JSON (v2) plus ``links``, signed with HMAC-SHA256 over the exact body.

The body is :class:`callwatch.alarm.LinkedAlarm`: every field of the alerts topic's message and
``links`` (name → URL) — see the README's "For webhook consumers". Names from events are JSON string
values there, exactly as they came. The ``X-Callwatch-Id`` header repeats the id; since an id holds the
queue's name and a header can hold neither a line break nor, portably, anything but visible ASCII, the
header carries the id percent-encoded (``urllib.parse.quote``) wherever it holds anything else (and ``%``
itself): an id of plain ASCII is sent as it is.
"""

from __future__ import annotations

import hashlib
import hmac
import string
from collections.abc import Sequence
from typing import Literal
from urllib.parse import quote

import aiohttp
from pydantic import BaseModel, ConfigDict, Field

from alerts.links import Link, as_mapping
from alerts.receivers.base import Redactor, post_json, secret_from_env
from callwatch.alarm import Alarm, LinkedAlarm


class WebhookSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["webhook"] = "webhook"
    name: str
    url: str
    #: the environment variable holding the signing secret (never the secret itself)
    secret_env: str | None = None
    timeout_s: float = Field(default=5.0, gt=0)


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


#: what a header value carries as it is: visible ASCII and the space, except ``%`` (the escape)
_HEADER_SAFE = "".join(c for c in string.printable if c.isprintable() and c not in "%")


def header_id(alarm_id: str) -> str:
    """``alarm_id`` as an ``X-Callwatch-Id`` header value: percent-encoded where it is not visible ASCII."""
    return quote(alarm_id, safe=_HEADER_SAFE)


def webhook_body(alarm: Alarm, links: Sequence[Link]) -> bytes:
    """The alarm's JSON with ``links`` added (parse it back with ``LinkedAlarm.model_validate_json``)."""
    linked = LinkedAlarm.model_validate({**dict(alarm), "links": as_mapping(links)})
    return linked.model_dump_json().encode()


class WebhookReceiver:
    """POSTs the message; ``X-Callwatch-Signature: sha256=<hex>`` is HMAC-SHA256 of the body with the
    secret, ``X-Callwatch-Id`` the message id for the receiver to drop a repeat after a crash."""

    def __init__(self, spec: WebhookSpec, session: aiohttp.ClientSession) -> None:
        self.name = spec.name
        self.spec = spec
        self.session = session
        secret = secret_from_env(spec.name, spec.secret_env, "signing secret")
        self._secret = secret.encode() if secret else None
        self._redact = Redactor([secret])

    async def send(self, alarm: Alarm, links: Sequence[Link] = ()) -> None:
        body = webhook_body(alarm, links)
        headers = {"X-Callwatch-Id": header_id(alarm.id)}
        if self._secret is not None:
            headers["X-Callwatch-Signature"] = sign(self._secret, body)
        await post_json(self.session, self.name, self.spec.url, None, data=body, headers=headers,
                        timeout_s=self.spec.timeout_s, redact=self._redact)
