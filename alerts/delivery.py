"""Delivering alarm messages to people's systems: receivers, routing, retries, at most once per id.

The first receiver is the generic webhook (JSON body, HMAC-SHA256 signature over the body with a
secret from the environment). Every send is retried with exponential backoff; a message that still
fails is handed to the dead-letter callback with the reason, never dropped silently. A message whose
``id`` was already delivered to a receiver is not sent to it again (a worker or dispatcher restart
repeats nothing), through a small store of delivered ids.

Exception hierarchy::

    DeliveryError            a receiver refused or could not be reached (retried)
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import aiohttp
import orjson
from pydantic import BaseModel, ConfigDict, Field
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

log = logging.getLogger("callwatch.alerts")


class DeliveryError(Exception):
    """A receiver refused a message or could not be reached."""


class WebhookSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["webhook"] = "webhook"
    name: str
    url: str
    #: the environment variable holding the signing secret (never the secret itself)
    secret_env: str | None = None
    timeout_s: float = Field(default=5.0, gt=0)


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    receivers: list[str]
    severities: list[str] | None = None
    queues: list[str] | None = None
    alarms: list[str] | None = None

    def matches(self, message: dict[str, Any]) -> bool:
        subject = message.get("queue") or message.get("source")
        return ((self.severities is None or message.get("severity") in self.severities)
                and (self.queues is None or subject in self.queues)
                and (self.alarms is None or message.get("alarm") in self.alarms))


class DeliveryConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    receivers: list[WebhookSpec]
    routes: list[Route]
    attempts: int = Field(default=6, ge=1)
    backoff_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)


class Receiver(Protocol):
    name: str

    async def send(self, message: dict[str, Any]) -> None: ...


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


class WebhookReceiver:
    """POSTs the message as JSON; ``X-Callwatch-Signature`` is HMAC-SHA256 of the body."""

    def __init__(self, spec: WebhookSpec, session: aiohttp.ClientSession) -> None:
        self.name = spec.name
        self.spec = spec
        self.session = session
        secret = os.environ.get(spec.secret_env) if spec.secret_env else None
        if spec.secret_env and not secret:
            raise ValueError(f"receiver {spec.name!r}: environment variable {spec.secret_env} is not set")
        self._secret = secret.encode() if secret else None

    async def send(self, message: dict[str, Any]) -> None:
        body = orjson.dumps(message)
        headers = {"Content-Type": "application/json", "X-Callwatch-Id": str(message.get("id", ""))}
        if self._secret is not None:
            headers["X-Callwatch-Signature"] = sign(self._secret, body)
        try:
            async with self.session.post(self.spec.url, data=body, headers=headers,
                                         timeout=aiohttp.ClientTimeout(total=self.spec.timeout_s)) as resp:
                if resp.status >= 300:
                    raise DeliveryError(f"{self.name}: HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"{self.name}: {type(exc).__name__}: {exc}") from None


class DeliveredIds(Protocol):
    async def seen(self, receiver: str, message_id: str) -> bool: ...

    async def mark(self, receiver: str, message_id: str) -> None: ...


@dataclass
class MemoryDeliveredIds:
    ids: set[tuple[str, str]] = field(default_factory=set)

    async def seen(self, receiver: str, message_id: str) -> bool:
        return (receiver, message_id) in self.ids

    async def mark(self, receiver: str, message_id: str) -> None:
        self.ids.add((receiver, message_id))


@dataclass
class DeliveryStats:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    duplicates: int = 0


class Dispatcher:
    def __init__(self, config: DeliveryConfig, receivers: dict[str, Receiver], delivered: DeliveredIds,
                 dead_letter: Callable[[dict[str, Any], str, str], Awaitable[None]]) -> None:
        self.config = config
        self.receivers = receivers
        self.delivered = delivered
        self.dead_letter = dead_letter
        self.stats = DeliveryStats()

    def targets(self, message: dict[str, Any]) -> list[str]:
        names: list[str] = []
        for route in self.config.routes:
            if route.matches(message):
                names.extend(n for n in route.receivers if n not in names)
        return names

    async def deliver(self, message: dict[str, Any]) -> None:
        message_id = str(message.get("id"))
        for name in self.targets(message):
            if await self.delivered.seen(name, message_id):
                self.stats.duplicates += 1
                continue
            receiver = self.receivers[name]
            try:
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(self.config.attempts),
                    wait=wait_exponential(multiplier=self.config.backoff_s, max=self.config.backoff_max_s),
                    retry=retry_if_exception_type(DeliveryError), reraise=True,
                ):
                    with attempt:
                        if attempt.retry_state.attempt_number > 1:
                            self.stats.retried += 1
                        await receiver.send(message)
            except DeliveryError as exc:
                self.stats.failed += 1
                log.error("alarm %s not delivered to %s after %d attempts: %s", message_id, name,
                          self.config.attempts, exc)
                await self.dead_letter(message, name, str(exc))
                continue
            await self.delivered.mark(name, message_id)
            self.stats.sent += 1
