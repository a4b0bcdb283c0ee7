"""What every receiver shares: the errors the dispatcher retries or gives up on, secrets that never
reach a log, and one JSON POST with the status codes read the way the receiving services document them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import aiohttp
import orjson

if TYPE_CHECKING:
    from alerts.links import Link
    from callwatch.alarm import Alarm


class DeliveryError(Exception):
    """A receiver could not take a message now (network, 5xx, 429): retried with backoff."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        #: what the service asked for (HTTP Retry-After), honoured instead of the backoff when longer
        self.retry_after_s = retry_after_s


class PermanentDeliveryError(DeliveryError):
    """The service refused the message itself (4xx): retrying cannot help, so it is dead-lettered now."""


class Receiver(Protocol):
    """Renders an alarm, with the links the dispatcher adds, from its typed fields and delivers it."""

    name: str

    async def send(self, alarm: Alarm, links: Sequence[Link] = ()) -> None: ...


def secret_from_env(receiver: str, variable: str | None, what: str) -> str | None:
    """The value of ``variable``; a receiver that names a variable which is not set refuses to start."""
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        raise ValueError(f"receiver {receiver!r}: environment variable {variable} ({what}) is not set")
    return value


class Redactor:
    """Removes secrets (tokens, webhook URLs, passwords) from any text bound for a log or a dead letter.

    Error messages of HTTP and SMTP libraries quote URLs and server replies; a Slack incoming-webhook URL
    *is* its credential, so every error text passes through here before it leaves the receiver.
    """

    def __init__(self, secrets: Iterable[str | None]) -> None:
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "<secret>")
        return text


def _retry_after(headers: Any) -> float | None:
    try:
        return max(0.0, float(headers.get("Retry-After", "")))
    except ValueError:
        return None


async def post_json(session: aiohttp.ClientSession, name: str, url: str, body: Any, *, timeout_s: float,
                    redact: Redactor, headers: dict[str, str] | None = None, data: bytes | None = None) -> str:
    """POST ``body`` as JSON (or ``data`` as given); 2xx returns the reply's text.

    408, 429 and 5xx are temporary (retried, Retry-After honoured); any other 4xx is the message's fault
    and permanent. Network errors and timeouts are temporary.
    """
    payload = data if data is not None else orjson.dumps(body)
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    try:
        async with session.post(url, data=payload, headers=all_headers,
                                timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
            text = await resp.text()
            if resp.status < 300:
                return text
            reason = redact(f"{name}: HTTP {resp.status} {text[:200]}".rstrip())
            if resp.status in (408, 429) or resp.status >= 500:
                raise DeliveryError(reason, _retry_after(resp.headers))
            raise PermanentDeliveryError(reason)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise DeliveryError(redact(f"{name}: {type(exc).__name__}: {exc}")) from None
