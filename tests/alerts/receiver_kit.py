"""A real HTTP server that records what it is sent, answers as told, a real SMTP server's inbox, a sample
alarm lifecycle and links, and alarms sent through the real Slack receiver to such a server."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from alerts.links import Link, Links
from alerts.receivers.slack import SlackReceiver, SlackSpec
from callwatch.alarm import Alarm
from console.embedded import free_port

WALLBOARD = "http://wallboard.example/d/callwatch-floor"
#: an incoming webhook's path, as Slack gives them (its last part is the secret)
SLACK_PATH = "/services/T0000/B0000/XXXXsecretXXXX"
#: what a dispatcher with ``wallboard_url`` = WALLBOARD and no ``links`` setting adds
LINKS = Links.configured(None, WALLBOARD)


@dataclass
class Recorded:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes
    #: what the server answered
    status: int


@dataclass
class HttpReceiver:
    """``answer(request_number) -> (status, body, headers)``; every request is recorded."""

    answer: Callable[[int], tuple[int, str, dict[str, str]]] = lambda n: (200, "ok", {})
    got: list[Recorded] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        status, text, headers = self.answer(len(self.got))
        self.got.append(Recorded(time.time(), request.path, dict(request.headers), body, status))
        return web.Response(status=status, text=text, headers=headers)

    async def start(self) -> HttpReceiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class Inbox:
    """aiosmtpd's handler: every mail received, parsed, with its envelope and whether it came over TLS."""

    def __init__(self) -> None:
        self.mails: list[tuple[Envelope, EmailMessage, bool]] = []
        #: the bytes as they arrived (headers unparsed: what an injected header would be seen in)
        self.raw: list[bytes] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.raw.append(envelope.content)
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(mail, EmailMessage)
        self.mails.append((envelope, mail, session.ssl is not None))
        return "250 OK"


#: the credentials the test SMTP server accepts
SMTP_USER, SMTP_PASSWORD = "callwatch", "s3cret-pw"


def smtp_authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                       data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (SMTP_USER.encode(),
                                                                             SMTP_PASSWORD.encode())
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


def lifecycle(queue: str = "billing", started_at: float = 1_790_000_000.0) -> list[Alarm]:
    """A wait-window incident as the engine emits it: start, one repeat, resolve."""

    def event(status: str, at: float, value: float) -> Alarm:
        return Alarm(
            alarm="wait_window_exceeded", queue=queue, status=status, at=at, started_at=started_at,
            severity="critical", value=value, threshold=180.0, unit="seconds", metric="oldest_wait",
            waiting=4, agents_available=0, service_level=0.62, call_id="c-17", over_window=1,
        )

    return [event("started", started_at, 180.0), event("repeated", started_at + 900, 1080.0),
            event("resolved", started_at + 1000, 40.0)]


def links(alarm: Alarm) -> tuple[Link, ...]:
    return LINKS(alarm)


def alarm(name: str = "wait_window_exceeded", queue: str = "billing", **fields: Any) -> Alarm:
    """One started alarm with plausible figures; ``fields`` override them."""
    base: dict[str, Any] = dict(alarm=name, status="started", queue=queue, at=1_790_000_000.0,
                                started_at=1_790_000_000.0, severity="critical", value=200.0, threshold=180.0,
                                unit="seconds", metric="oldest_wait", waiting=3, agents_available=0,
                                service_level=0.7)
    return Alarm(**{**base, **fields})


def changed(a: Alarm, **fields: Any) -> Alarm:
    """``a`` with some fields changed, validated (``id`` follows)."""
    return Alarm.model_validate({**dict(a), **fields})


async def sent_to_slack(alarms: Iterable[Alarm], monkeypatch: pytest.MonkeyPatch,
                        min_interval_s: float = 0.0) -> list[Recorded]:
    """What Slack's webhook would receive: each alarm sent, with its links, by the Slack receiver (paced
    at ``min_interval_s``) to a recording server at SLACK_PATH, its URL read from the environment."""
    server = await HttpReceiver().start()
    monkeypatch.setenv("CW_SLACK_URL", server.url + SLACK_PATH)
    try:
        async with aiohttp.ClientSession() as session:
            slack = SlackReceiver(SlackSpec(kind="slack", name="slack", url_env="CW_SLACK_URL",
                                            min_interval_s=min_interval_s), session)
            for alarm in alarms:
                await slack.send(alarm, links(alarm))
    finally:
        await server.stop()
    return server.got
