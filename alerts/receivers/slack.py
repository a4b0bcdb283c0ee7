"""Slack incoming webhooks: a readable message in Block Kit, at most one a second per webhook.

Slack documents incoming webhooks as limited to one message per second (short bursts tolerated, then
HTTP 429 with Retry-After); the limiter keeps under it and a 429 is retried after the time Slack asks.
The webhook URL is itself the credential, so it comes from the environment and never reaches a log.

Every text that can hold a string from an event (a queue, source or agent name, contact ids, an
integrity sentence) is escaped as Slack documents for its markup: ``&``, ``<`` and ``>`` become
``&amp;``, ``&lt;`` and ``&gt;`` in mrkdwn and in the notification ``text``, so that a queue named
``<!channel>`` or ``<http://evil|click>`` shows as those characters instead of paging the channel or
hiding a link; and every mrkdwn object is ``verbatim``, so that Slack does not turn a bare URL, ``@here``
or ``#channel`` in a name into a link or a mention either. The header is ``plain_text``, which Slack
shows as it is (no markup, no mentions), so it carries the raw name. The buttons' URLs are the
dispatcher's links, whose placeholders are URL-quoted (``alerts.links``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import aiohttp
from aiolimiter import AsyncLimiter
from pydantic import BaseModel, ConfigDict, Field

from alerts.links import Link
from alerts.messages import facts, headline
from alerts.receivers.base import Redactor, post_json, secret_from_env
from callwatch.alarm import Alarm, iso_ms

EMOJI = {"critical": ":rotating_light:", "warning": ":warning:", "info": ":information_source:"}
#: Block Kit limits: header text 150 characters, section text 3,000, at most 10 fields of 2,000
HEADER_MAX, TEXT_MAX, FIELDS_MAX, FIELD_MAX = 150, 3000, 10, 2000


def escape(text: str) -> str:
    """``text`` shown as itself in Slack's mrkdwn: the three characters Slack reserves for its markup
    (``<!channel>``, ``<url|label>``, ``<@user>``) replaced by the entities Slack documents, ``&`` first."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    """Escaped ``text`` within ``limit`` characters, never ending in half an entity (``&am``)."""
    if len(text) <= limit:
        return text
    text = text[:limit]
    amp = text.rfind("&", max(0, limit - 4))
    return text[:amp] if amp >= 0 and ";" not in text[amp:] else text


def _mrkdwn(text: str, limit: int = TEXT_MAX) -> dict[str, Any]:
    # verbatim: no auto-linking of URLs, channel names or mentions that a name might hold
    return {"type": "mrkdwn", "text": cut(text, limit), "verbatim": True}


class SlackSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["slack"]
    name: str
    #: the environment variable holding the incoming-webhook URL (https://hooks.slack.com/services/…)
    url_env: str
    min_interval_s: float = Field(default=1.0, ge=0)
    timeout_s: float = Field(default=5.0, gt=0)


def slack_payload(alarm: Alarm, links: Sequence[Link] = ()) -> dict[str, Any]:
    resolved = alarm.status == "resolved"
    emoji = ":white_check_mark:" if resolved else EMOJI.get(alarm.severity, ":bell:")
    title = f"{emoji} {headline(alarm)}"[:HEADER_MAX]
    fields = [_mrkdwn(f"*{escape(label)}*\n{escape(text)}", FIELD_MAX) for label, text in facts(alarm)][:FIELDS_MAX]
    summary = escape(alarm.summary)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title, "emoji": True}},
        {"type": "section", "text": _mrkdwn(summary)},
        {"type": "section", "fields": fields},
    ]
    if alarm.evidence:  # an integrity signal: the contacts to listen to
        ids = escape(", ".join(alarm.evidence[:20]))
        blocks.append({"type": "section", "text": _mrkdwn(f"*Contacts*: {ids}")})
    if links:  # Slack allows 25 elements in an actions block
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": f"Open the {link.text.lower()}"[:75]},
            "url": link.url, **({} if resolved or i else {"style": "danger"})} for i, link in enumerate(links[:25])]})
    blocks.append({"type": "context", "elements": [
        _mrkdwn(f"{alarm.status} · `{escape(alarm.key)}` · {iso_ms(alarm.at)}")]})
    # ``text`` is what notifications and screen readers show; Slack parses it as mrkdwn too
    return {"text": cut(escape(f"{headline(alarm)}: {alarm.summary}"), TEXT_MAX), "blocks": blocks}


class SlackReceiver:
    def __init__(self, spec: SlackSpec, session: aiohttp.ClientSession) -> None:
        self.name = spec.name
        self.spec = spec
        self.session = session
        url = secret_from_env(spec.name, spec.url_env, "Slack incoming-webhook URL")
        assert url is not None
        self._url = url
        self._redact = Redactor([url, url.rsplit("/services/", 1)[-1]])
        self._limiter = AsyncLimiter(1, spec.min_interval_s) if spec.min_interval_s > 0 else None

    async def send(self, alarm: Alarm, links: Sequence[Link] = ()) -> None:
        if self._limiter is not None:
            async with self._limiter:
                await self._post(alarm, links)
        else:
            await self._post(alarm, links)

    async def _post(self, alarm: Alarm, links: Sequence[Link]) -> None:
        await post_json(self.session, self.name, self._url, slack_payload(alarm, links),
                        timeout_s=self.spec.timeout_s, redact=self._redact)
